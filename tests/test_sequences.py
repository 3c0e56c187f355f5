"""Padded batches: forward(x, lengths=...) equals running every sequence on its own.

For RNN, LSTM and GRU (both forms), with and without layer norm and an output head: outputs,
final states and every gradient (parameters, x, h0, c0, final-state gradients) of the padded
batch equal those of each sequence run alone; padded steps output zero and get no gradient.
"""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnlab import GRULayer, LSTMLayer, RNNLayer, kernels
from rnnlab.interop.torch import from_torch
from tests.conftest import HYPOTHESIS_SETTINGS

RTOL = 1e-12  # float64; batched and single-row matmuls may round differently
ATOL = 1e-13

CONFIGS = [
    ("rnn", RNNLayer, {}),
    ("lstm", LSTMLayer, {"forget_bias": 1.0}),
    ("lstm_ln", LSTMLayer, {"layer_norm": True}),
    ("gru", GRULayer, {}),
    ("gru_after", GRULayer, {"reset_after": True}),
    ("gru_ln", GRULayer, {"layer_norm": True}),
    ("gru_ln_after", GRULayer, {"layer_norm": True, "reset_after": True}),
]
IDS = [c[0] for c in CONFIGS]


def make(cls, kwargs, input_size=3, hidden_size=4, output_size=None, seed=0):
    layer = cls(input_size, hidden_size, output_size, dtype=np.float64, seed=seed, **kwargs)
    rng = np.random.default_rng(seed + 100)
    for p in layer.params.values():  # non-trivial LN gains/biases and head
        p[...] += 0.1 * rng.standard_normal(p.shape)
    return layer


def random_state(layer, rng, batch_size):
    H = layer.hidden_size
    h0 = rng.standard_normal((batch_size, H))
    if layer.has_cell_state:
        return h0, rng.standard_normal((batch_size, H))
    return h0


def pick(state, b):
    if isinstance(state, tuple):
        return tuple(s[b : b + 1] for s in state)
    return state[b : b + 1]


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def check_against_single_runs(layer, lengths, rng, batch_first=False):
    """Run the padded batch and each sequence alone; compare everything."""
    T, B = max(lengths) + 1, len(lengths)
    lengths = np.asarray(lengths)
    x = rng.standard_normal((T, B, layer.input_size))
    state = random_state(layer, rng, B)
    features = layer.output_size or layer.hidden_size
    dy = rng.standard_normal((T, B, features))  # nonzero on padded steps too: must be ignored
    d_final = tuple(rng.standard_normal((B, layer.hidden_size)) for _ in as_tuple(state))
    d_final_arg = d_final if layer.has_cell_state else d_final[0]

    layer.zero_grad()
    x_in = x.transpose(1, 0, 2) if batch_first else x
    dy_in = dy.transpose(1, 0, 2) if batch_first else dy
    y = layer.forward(x_in, state, lengths=lengths)
    final = as_tuple(layer.final_state)
    dx = layer.backward(dy_in, d_final_arg)
    if batch_first:
        y, dx = y.transpose(1, 0, 2), dx.transpose(1, 0, 2)
    d_initial = as_tuple(layer.grad_initial_state)
    grads = {k: v.copy() for k, v in layer.grads.items()}

    valid = np.arange(T)[:, None] < lengths[None, :]
    np.testing.assert_array_equal(y[~valid], 0.0)  # padded outputs: exact zeros, bias included
    np.testing.assert_array_equal(dx[~valid], 0.0)  # padded steps: no gradient

    layer.batch_first = False
    summed = {k: np.zeros_like(v) for k, v in grads.items()}
    for b, L in enumerate(lengths):
        layer.zero_grad()
        y_b = layer.forward(x[:L, b : b + 1], pick(state, b))
        np.testing.assert_allclose(y[:L, b : b + 1], y_b, rtol=RTOL, atol=ATOL)
        for s_batch, s_single in zip(final, as_tuple(layer.final_state), strict=True):
            np.testing.assert_allclose(s_batch[b : b + 1], s_single, rtol=RTOL, atol=ATOL)
        d_final_b = tuple(d[b : b + 1] for d in d_final)
        d_final_b = d_final_b if layer.has_cell_state else d_final_b[0]
        dx_b = layer.backward(dy[:L, b : b + 1], d_final_b)
        np.testing.assert_allclose(dx[:L, b : b + 1], dx_b, rtol=RTOL, atol=ATOL)
        for g_batch, g_single in zip(d_initial, as_tuple(layer.grad_initial_state), strict=True):
            np.testing.assert_allclose(g_batch[b : b + 1], g_single, rtol=RTOL, atol=ATOL)
        for k, v in layer.grads.items():
            summed[k] += v
    layer.batch_first = batch_first
    for k in grads:
        np.testing.assert_allclose(grads[k], summed[k], rtol=RTOL, atol=ATOL, err_msg=k)


@pytest.mark.parametrize(("name", "cls", "kwargs"), CONFIGS, ids=IDS)
@pytest.mark.parametrize("output_size", [None, 2])
def test_padded_batch_equals_single_runs(name, cls, kwargs, output_size):
    layer = make(cls, kwargs, output_size=output_size)
    check_against_single_runs(layer, [3, 1, 5, 2], np.random.default_rng(1))


@pytest.mark.parametrize(("name", "cls", "kwargs"), CONFIGS[:4], ids=IDS[:4])
def test_padded_batch_first(name, cls, kwargs):
    layer = make(cls, kwargs, output_size=2)
    layer.batch_first = True
    check_against_single_runs(layer, [2, 4, 1], np.random.default_rng(2), batch_first=True)


@HYPOTHESIS_SETTINGS
@given(
    lengths=st.lists(st.integers(1, 6), min_size=1, max_size=4),
    which=st.sampled_from(range(len(CONFIGS))),
    seed=st.integers(0, 2**16),
)
def test_random_lengths_equal_single_runs(lengths, which, seed):
    _, cls, kwargs = CONFIGS[which]
    layer = make(cls, kwargs, input_size=2, hidden_size=3, output_size=2, seed=seed)
    check_against_single_runs(layer, lengths, np.random.default_rng(seed))


@pytest.mark.parametrize(("name", "cls", "kwargs"), CONFIGS, ids=IDS)
def test_full_lengths_equal_no_lengths(name, cls, kwargs):
    """lengths = T everywhere is the unmasked computation, to the last bit (both reference: the
    fast kernels' equality with the reference is a 1e-12 matter, tested with the kernels)."""
    layer = make(cls, {**kwargs, "backend": "reference"}, output_size=2)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 3, 3))
    dy = rng.standard_normal((5, 3, 2))
    layer.zero_grad()
    y0 = layer.forward(x)
    dx0 = layer.backward(dy)
    g0 = {k: v.copy() for k, v in layer.grads.items()}
    layer.zero_grad()
    y1 = layer.forward(x, lengths=[5, 5, 5])
    dx1 = layer.backward(dy)
    np.testing.assert_array_equal(y0, y1)
    np.testing.assert_array_equal(dx0, dx1)
    for k, v in layer.grads.items():
        np.testing.assert_array_equal(g0[k], v, err_msg=k)


def test_padded_state_is_carried():
    """A sequence of length L: every state after step L equals the state at step L."""
    layer = make(LSTMLayer, {})
    x = np.random.default_rng(4).standard_normal((6, 2, 3))
    layer.forward(x, lengths=[2, 6])
    h, C = layer.hidden_states, layer.cell_states
    for t in range(2, 6):
        np.testing.assert_array_equal(h[t, 0], h[1, 0])
        np.testing.assert_array_equal(C[t, 0], C[1, 0])
    assert not np.array_equal(h[5, 1], h[1, 1])
    np.testing.assert_array_equal(layer.final_state[0][0], h[1, 0])


def test_single_sequence_accepts_int_length():
    layer = make(GRULayer, {}, output_size=2)
    x = np.random.default_rng(5).standard_normal((4, 3))
    y = layer.forward(x, lengths=2)
    assert y.shape == (4, 2)
    np.testing.assert_array_equal(y[2:], 0.0)
    np.testing.assert_allclose(y[:2], layer.forward(x[:2]), rtol=RTOL, atol=ATOL)


def test_list_input_with_lengths():
    layer = make(RNNLayer, {})
    steps = [np.random.default_rng(t).standard_normal((2, 3)) for t in range(4)]
    y = layer.forward(steps, lengths=[4, 1])
    assert y.shape == (4, 2, 4)
    np.testing.assert_array_equal(y[1:, 1], 0.0)
    dx = layer.backward(np.ones_like(y))
    assert isinstance(dx, list)
    np.testing.assert_array_equal(dx[2][1], 0.0)


@pytest.mark.parametrize(
    ("lengths", "error", "match"),
    [
        ([1, 2], ValueError, r"lengths: expected shape \(3,\)"),
        ([1, 0, 2], ValueError, r"lengths: expected values in 1\.\.4 \(num_steps\), got 0"),
        ([1, 5, 2], ValueError, r"1\.\.4 \(num_steps\), got 5 at index 1"),
        ([1.0, 2.0, 3.0], TypeError, "lengths: expected integers"),
        ([True, True, False], TypeError, "lengths: expected integers"),
        (3, TypeError, "lengths: expected a sequence of 3 integers"),
        ("abc", TypeError, "lengths: expected integers"),
    ],
)
def test_bad_lengths(lengths, error, match):
    layer = make(LSTMLayer, {})
    x = np.zeros((4, 3, 3))
    with pytest.raises(error, match=match):
        layer.forward(x, lengths=lengths)


def test_options_run_the_reference_and_plain_calls_keep_their_backend(monkeypatch):
    """The dispatch seam: layer_norm/zoneout ask for the reference kernels; the plain path and
    padded batches (lengths, which the Numba kernels implement) ask for the layer's own
    backend."""
    calls = []
    real = kernels.select

    def spy(cell, backend, device):
        calls.append((cell, backend))
        return real(cell, backend, device)

    monkeypatch.setattr(kernels, "select", spy)
    x = np.zeros((3, 2, 3))
    make(LSTMLayer, {}).forward(x)
    make(LSTMLayer, {}).forward(x, lengths=[1, 3])
    make(LSTMLayer, {"layer_norm": True}).forward(x)
    make(GRULayer, {"zoneout": 0.2}).forward(x)
    assert calls == [
        ("lstm", "auto"),
        ("lstm", "auto"),
        ("lstm_ln", "reference"),
        ("gru", "reference"),
    ]


# PyTorch's packed sequences have the same meaning: zeros after each sequence's end, final
# states at each sequence's last valid step, no gradient from padding.
TORCH_BLOCKS = {  # our gate letter -> PyTorch block index
    "rnn": {"h": 0},
    "lstm": {"i": 0, "f": 1, "c": 2, "o": 3},
    "gru": {"r": 0, "z": 1, "h": 2},
}


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_padded_batch_matches_torch_packed_sequence(kind):
    torch.manual_seed(0)
    T, B, I, H = 6, 4, 3, 5
    module = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](
        I, H, dtype=torch.float64
    )
    layer = from_torch(module)
    rng = np.random.default_rng(7)
    lengths = np.array([6, 2, 4, 1])
    x = rng.standard_normal((T, B, I))
    h0, c0 = rng.standard_normal((B, H)), rng.standard_normal((B, H))
    R, R_h, R_c = (rng.standard_normal(s) for s in ((T, B, H), (B, H), (B, H)))

    tx, th0, tc0 = (torch.tensor(v, requires_grad=True) for v in (x, h0, c0))
    packed = pack_padded_sequence(tx, torch.tensor(lengths), enforce_sorted=False)
    if kind == "lstm":
        out, (h_n, c_n) = module(packed, (th0[None], tc0[None]))
    else:
        out, h_n = module(packed, th0[None])
    out = pad_packed_sequence(out, total_length=T)[0]
    loss = (out * torch.tensor(R)).sum() + (h_n[0] * torch.tensor(R_h)).sum()
    if kind == "lstm":
        loss = loss + (c_n[0] * torch.tensor(R_c)).sum()
    loss.backward()

    layer.zero_grad()
    state = (h0, c0) if kind == "lstm" else h0
    y = layer.forward(x, state, lengths=lengths)
    dx = layer.backward(R, (R_h, R_c) if kind == "lstm" else R_h)
    np.testing.assert_allclose(y, out.detach().numpy(), rtol=RTOL, atol=ATOL)
    final = as_tuple(layer.final_state)
    np.testing.assert_allclose(final[0], h_n[0].detach().numpy(), rtol=RTOL, atol=ATOL)
    if kind == "lstm":
        np.testing.assert_allclose(final[1], c_n[0].detach().numpy(), rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(
            layer.grad_initial_state[1], tc0.grad.numpy(), rtol=RTOL, atol=ATOL
        )
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=RTOL, atol=ATOL)
    d_h0 = as_tuple(layer.grad_initial_state)[0]
    np.testing.assert_allclose(d_h0, th0.grad.numpy(), rtol=RTOL, atol=ATOL)
    ours = {"rnn": ("W_xh", "W_hh", "b_h")}
    for letter, block in TORCH_BLOCKS[kind].items():
        rows = slice(block * H, (block + 1) * H)
        names = ours["rnn"] if kind == "rnn" else (f"W_{letter}", f"U_{letter}", f"b_{letter}")
        torch_grads = (module.weight_ih_l0.grad, module.weight_hh_l0.grad, module.bias_ih_l0.grad)
        for name, g in zip(names, torch_grads, strict=True):
            np.testing.assert_allclose(
                layer.grads[name], g[rows].numpy(), rtol=RTOL, atol=ATOL, err_msg=name
            )
    if kind == "gru":
        n_rows = slice(2 * H, 3 * H)
        np.testing.assert_allclose(
            layer.grads["b_hn"], module.bias_hh_l0.grad[n_rows].numpy(), rtol=RTOL, atol=ATOL
        )
