"""rnnlab.masks: lengths, step masks and the many-to-one pick with its backward."""

import numpy as np
import pytest
import torch

from rnnlab import LSTMLayer
from rnnlab.masks import (
    check_lengths,
    last_valid,
    last_valid_backward,
    lengths_to_mask,
    reverse_padded,
)
from tests.conftest import GRADCHECK_EPS, GRADCHECK_RTOL, _numeric_gradient, rel_error


def numeric_gradient(loss, arr):
    """Central differences of ``loss()`` over every entry of ``arr`` (the shared helper)."""
    return _numeric_gradient(loss, arr, GRADCHECK_EPS)


def test_lengths_to_mask():
    valid = lengths_to_mask(np.array([3, 1, 4]), 4)
    expected = np.array(
        [[1, 1, 1], [1, 0, 1], [1, 0, 1], [0, 0, 1]],
        dtype=bool,
    )
    np.testing.assert_array_equal(valid, expected)
    assert valid.dtype == np.bool_


def test_last_valid_picks_each_sequence_last_step():
    rng = np.random.default_rng(0)
    outputs = rng.standard_normal((5, 3, 2))
    lengths = [5, 1, 3]
    last = last_valid(outputs, lengths)
    np.testing.assert_array_equal(last, np.stack([outputs[4, 0], outputs[0, 1], outputs[2, 2]]))
    first = last_valid(outputs.transpose(1, 0, 2), lengths, batch_first=True)
    np.testing.assert_array_equal(first, last)


def test_last_valid_matches_torch_gather():
    rng = np.random.default_rng(1)
    outputs = rng.standard_normal((6, 4, 3))
    lengths = np.array([2, 6, 1, 4])
    index = torch.as_tensor(lengths - 1)[None, :, None].expand(1, 4, 3)
    expected = torch.gather(torch.as_tensor(outputs), 0, index)[0].numpy()
    np.testing.assert_array_equal(last_valid(outputs, lengths), expected)


def test_last_valid_backward_gradcheck():
    rng = np.random.default_rng(2)
    outputs = rng.standard_normal((4, 3, 2))
    lengths = [2, 4, 1]
    R = rng.standard_normal((3, 2))
    analytic = last_valid_backward(R, lengths, 4)
    numeric = numeric_gradient(lambda: float((last_valid(outputs, lengths) * R).sum()), outputs)
    assert rel_error(analytic, numeric) < GRADCHECK_RTOL
    assert np.count_nonzero(analytic) == R.size  # one step per sequence
    d_first = last_valid_backward(R, lengths, 4, batch_first=True)
    np.testing.assert_array_equal(d_first, analytic.transpose(1, 0, 2))


def test_many_to_one_through_an_lstm_gradcheck():
    """loss = sum(last_valid(lstm(x, lengths)) * R): layer + pick, gradient against differences."""
    rng = np.random.default_rng(3)
    layer = LSTMLayer(2, 3, dtype=np.float64, seed=0)
    x = rng.standard_normal((4, 3, 2))
    lengths = [4, 2, 1]
    R = rng.standard_normal((3, 3))

    def loss():
        return float((last_valid(layer.forward(x, lengths=lengths), lengths) * R).sum())

    layer.zero_grad()
    layer.forward(x, lengths=lengths)
    dx = layer.backward(last_valid_backward(R, lengths, 4))
    assert rel_error(dx, numeric_gradient(loss, x)) < GRADCHECK_RTOL
    for name, p in layer.params.items():
        assert rel_error(layer.grads[name], numeric_gradient(loss, p)) < GRADCHECK_RTOL, name
    # The last valid output is the final state: h at each sequence's last valid step.
    np.testing.assert_array_equal(
        last_valid(layer.forward(x, lengths=lengths), lengths), layer.final_state[0]
    )


def test_reverse_padded():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 3, 2))
    lengths = [5, 2, 3]
    out = reverse_padded(x, lengths)
    for b, L in enumerate(lengths):
        np.testing.assert_array_equal(out[:L, b], x[:L, b][::-1])
        np.testing.assert_array_equal(out[L:, b], x[L:, b])
    np.testing.assert_array_equal(reverse_padded(out, lengths), x)  # its own inverse
    # Against torch: flipping each sequence on its own.
    flipped = [torch.as_tensor(x[:L, b]).flip(0) for b, L in enumerate(lengths)]
    for b, L in enumerate(lengths):
        np.testing.assert_array_equal(out[:L, b], flipped[b].numpy())


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: last_valid(np.zeros((3, 2)), [1, 1]), ValueError, r"outputs: expected 3 dim"),
        (lambda: last_valid(np.zeros((3, 2, 1)), [1, 4]), ValueError, r"1\.\.3 \(num_steps\)"),
        (lambda: last_valid(np.zeros((3, 2, 1)), [1]), ValueError, r"expected shape \(2,\)"),
        (lambda: last_valid_backward(np.zeros(2), [1, 1], 3), ValueError, "d_last: expected 2"),
        (lambda: last_valid_backward(np.zeros((2, 1)), [1, 1], 0), ValueError, "num_steps"),
        (lambda: check_lengths([1.5, 2], 2, 3), TypeError, "lengths: expected integers"),
        (lambda: reverse_padded(np.zeros(3), [1]), ValueError, "x: expected at least 2"),
        (lambda: reverse_padded(np.zeros((3, 2)), [1, 4]), ValueError, r"1\.\.3 \(num_steps\)"),
    ],
)
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
