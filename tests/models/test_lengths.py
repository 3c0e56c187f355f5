"""Padded batches through Bidirectional, the stacks and Sequential: a batch with ``lengths``
equals running every sequence on its own (outputs, final states, every gradient)."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab import GRULayer, LSTMLayer, RNNLayer
from rnnlab.interop.torch_stack import to_torch_stack
from rnnlab.models import GRU, LSTM, RNN, Bidirectional, Dense, Embedding, Sequential
from tests.models.helpers import assert_gradients_match, numeric_gradient, randomize

ATOL = 1e-13  # the same float64 arithmetic in another batch: only summation order differs
T, B, I, H = 5, 3, 2, 3
LENGTHS = np.array([5, 2, 3])


def _flat(state):
    if state is None:
        return []
    if isinstance(state, tuple):
        return [a for s in state for a in _flat(s)]
    return [state]


def _slice_state(state, b, batch_axis):
    """The state of batch entry b (keeping a batch axis of 1), same nesting."""
    if isinstance(state, tuple):
        return tuple(_slice_state(s, b, batch_axis) for s in state)
    return np.take(state, [b], axis=batch_axis)


def _compare_with_single_runs(model, x, state, R, state_batch_axis):
    """Batched forward/backward with LENGTHS against one run per sequence."""
    model.zero_grad()
    y = model(x, state, lengths=LENGTHS)
    finals = [f.copy() for f in _flat(model.final_state)]
    dx = model.backward(R)
    d_initial = [g.copy() for g in _flat(model.grad_initial_state)]
    grads = {k: g.copy() for k, g in model.grads.items()}

    model.zero_grad()
    for b, length in enumerate(LENGTHS):
        state_b = _slice_state(state, b, state_batch_axis)
        y_b = model(x[:length, b : b + 1], state_b)
        np.testing.assert_allclose(y[:length, b : b + 1], y_b, rtol=0, atol=ATOL)
        assert not np.any(y[length:, b])  # padded steps output zero
        for f, f_b in zip(finals, _flat(model.final_state), strict=True):
            np.testing.assert_allclose(np.take(f, [b], axis=state_batch_axis), f_b, atol=ATOL)
        dx_b = model.backward(R[:length, b : b + 1])
        np.testing.assert_allclose(dx[:length, b : b + 1], dx_b, rtol=0, atol=ATOL)
        assert not np.any(dx[length:, b])  # padded steps get no gradient
        for g, g_b in zip(d_initial, _flat(model.grad_initial_state), strict=True):
            np.testing.assert_allclose(np.take(g, [b], axis=state_batch_axis), g_b, atol=ATOL)
    for key, value in model.grads.items():  # the per-sequence gradients add up to the batch's
        np.testing.assert_allclose(grads[key], value, rtol=0, atol=ATOL, err_msg=key)


LAYERS = [
    ("rnn", RNNLayer, {}),
    ("lstm", LSTMLayer, {}),
    ("gru_reset_after", GRULayer, {"reset_after": True}),
    ("lstm_layer_norm", LSTMLayer, {"layer_norm": True}),
]


@pytest.mark.parametrize(("cls", "options"), [v[1:] for v in LAYERS], ids=[v[0] for v in LAYERS])
def test_bidirectional_padded_batch_equals_single_runs(cls, options):
    rng = np.random.default_rng(0)
    bi = Bidirectional(cls(I, H, dtype=np.float64, seed=0, **options))
    randomize(bi, rng)
    x = rng.standard_normal((T, B, I))
    parts = 2 if bi.has_cell_state else 1

    def draw():
        s = tuple(rng.standard_normal((B, H)) for _ in range(parts))
        return s if parts == 2 else s[0]

    R = rng.standard_normal((T, B, 2 * H))  # non-zero on padded steps too: must be ignored
    _compare_with_single_runs(bi, x, (draw(), draw()), R, state_batch_axis=0)


@pytest.mark.parametrize(
    ("cls", "options"),
    [
        (LSTM, {"bidirectional": True, "output_size": 2}),
        (GRU, {"bidirectional": True, "reset_after": True}),
        (RNN, {"num_layers": 3}),
    ],
    ids=["lstm-bi-head", "gru-bi", "rnn-3"],
)
def test_stack_padded_batch_equals_single_runs(cls, options):
    rng = np.random.default_rng(1)
    options = {"num_layers": 2} | options
    model = cls(I, H, dtype=np.float64, seed=1, **options)
    randomize(model, rng)
    x = rng.standard_normal((T, B, I))
    LD = model.num_layers * model.num_directions
    states = tuple(rng.standard_normal((LD, B, H)) for _ in range(2 if model.has_cell_state else 1))
    R = rng.standard_normal((T, B, model.out_features))
    state = states if model.has_cell_state else states[0]
    _compare_with_single_runs(model, x, state, R, state_batch_axis=1)


def test_bidirectional_gradcheck_with_lengths():
    rng = np.random.default_rng(2)
    bi = Bidirectional(GRULayer(2, 2, dtype=np.float64, seed=3))
    randomize(bi, rng)
    x = rng.standard_normal((4, 2, 2))
    R = rng.standard_normal((4, 2, 4))
    lengths = [2, 4]

    def loss_of():
        return float(np.sum(bi(x, lengths=lengths) * R))

    bi.zero_grad()
    bi(x, lengths=lengths)
    dx = bi.backward(R)
    checked = {k: (g.copy(), numeric_gradient(loss_of, bi.params[k])) for k, g in bi.grads.items()}
    checked["x"] = (dx, numeric_gradient(loss_of, x))
    assert_gradients_match(checked)


def test_sequential_with_lengths_equals_single_runs_and_masks_the_head():
    rng = np.random.default_rng(3)
    model = Sequential(
        Embedding(6, 3, dtype=np.float64, seed=0),
        Bidirectional(LSTMLayer(3, 2, dtype=np.float64, seed=1)),
        Dense(4, 6, dtype=np.float64, seed=2),
    )
    randomize(model, rng)
    ids = rng.integers(0, 6, size=(T, B))
    R = rng.standard_normal((T, B, 6))
    model.zero_grad()
    y = model(ids, lengths=LENGTHS)
    model.backward(R)
    grads = {k: g.copy() for k, g in model.grads.items()}
    model.zero_grad()
    for b, length in enumerate(LENGTHS):
        y_b = model(ids[:length, b : b + 1])
        np.testing.assert_allclose(y[:length, b : b + 1], y_b, rtol=0, atol=ATOL)
        assert not np.any(y[length:, b])  # Dense's bias masked too
        model.backward(R[:length, b : b + 1])
    for key, value in model.grads.items():
        np.testing.assert_allclose(grads[key], value, rtol=0, atol=ATOL, err_msg=key)


def test_one_sequence_takes_an_int_length():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 2))  # (T, I)
    for model in (
        LSTM(2, 3, 2, bidirectional=True, seed=0, dtype=np.float64),
        Bidirectional(GRULayer(2, 3, seed=0, dtype=np.float64)),
    ):
        y = model(x, lengths=3)
        np.testing.assert_allclose(y[:3], model(x[:3]), rtol=0, atol=ATOL)
        assert not np.any(y[3:])


def test_batch_first_lengths():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((T, B, I))
    tm = GRU(I, H, 2, bidirectional=True, seed=0, dtype=np.float64)
    bf = GRU(I, H, 2, bidirectional=True, batch_first=True, seed=0, dtype=np.float64)
    y = tm(x, lengths=LENGTHS)
    y_bf = bf(x.transpose(1, 0, 2), lengths=LENGTHS)
    np.testing.assert_allclose(y_bf, y.transpose(1, 0, 2), rtol=0, atol=ATOL)
    # a batch-first Sequential masks its (B, T, F) output along the right axis
    head = Dense(2 * H, 2, dtype=np.float64, seed=1)
    head.params["b"] = np.ones(2)
    y_seq = Sequential(bf, head)(x.transpose(1, 0, 2), lengths=LENGTHS)
    for b, length in enumerate(LENGTHS):
        assert not np.any(y_seq[b, length:])
        assert np.all(y_seq[b, :length] != 0)


def test_layer_options_reach_every_layer_and_block_torch_conversion():
    model = LSTM(2, 3, num_layers=2, bidirectional=True, layer_norm=True, zoneout=0.1, seed=0)
    assert model.get_config()["layer_norm"] is True
    for level in model.layers:
        for layer in (level.forward_layer, level.reverse_layer):
            assert layer.layer_norm
            assert layer.zoneout == 0.1
    assert len(model.params) > len(LSTM(2, 3, num_layers=2, bidirectional=True).params)
    with pytest.raises(ValueError, match="layer_norm"):
        to_torch_stack(model)
    names = set(model.generators())
    assert {"0.forward.zoneout", "0.reverse.zoneout", "1.reverse.zoneout"} <= names
    x = np.random.default_rng(0).standard_normal((6, 2, 2))
    saved = model.rng_state()
    first = model(x)
    assert not np.array_equal(model(x), first)  # zoneout draws new masks in training mode
    model.set_rng_state(saved)
    np.testing.assert_array_equal(model(x), first)


def test_lengths_errors():
    bi = Bidirectional(RNNLayer(2, 3))
    x = np.zeros((4, 2, 2), np.float32)
    with pytest.raises(ValueError, match="lengths"):
        bi(x, lengths=[4, 5])
    with pytest.raises(ValueError, match="lengths"):
        LSTM(2, 3, 2)(x, lengths=[4])
    with pytest.raises(TypeError, match="lengths"):
        Sequential(RNNLayer(2, 3))(x, lengths=[1.5, 2.0])
