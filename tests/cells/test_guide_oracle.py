"""The guide's notation as an independent oracle for the layers' forward pass.

The layers split every guide matrix into an input and a recurrent half and stack the gates. The
oracle below does neither: it is a deliberately plain loop over steps and sequences that builds
the concatenation v = [h(t-1), x(t)] and multiplies it by the guide's concatenated weight
[U_g | W_g] (shape (H, H + I)), exactly as the guide writes W_f · [h(t-1), x(t)]. It shares no
code with rnnlab; only the parameter values are read from the layer.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnlab import GRULayer, LSTMLayer, RNNLayer
from tests.conftest import ORACLE_FLOAT64_ATOL, randomize_params


def sigma(a):
    """The logistic function, written the textbook way (inputs here are small)."""
    return 1.0 / (1.0 + np.exp(-a))


def guide_weight(params, gate):
    """The guide's W_g acting on [h(t-1), x(t)]: the recurrent half first, then the input half."""
    return np.concatenate([params[f"U_{gate}"], params[f"W_{gate}"]], axis=1)  # (H, H + I)


def oracle_rnn(params, x, h0):
    """h(t) = tanh(W_xh · x(t) + W_hh · h(t-1) + b_h), one sequence at a time."""
    W = np.concatenate([params["W_hh"], params["W_xh"]], axis=1)
    T, B, _ = x.shape
    hs = np.zeros((T, B, params["b_h"].size))
    for b in range(B):
        h = h0[b]
        for t in range(T):
            h = np.tanh(W @ np.concatenate([h, x[t, b]]) + params["b_h"])
            hs[t, b] = h
    return hs, None


def oracle_lstm(params, x, h0, C0):
    """The guide's six LSTM lines, in its order, with its concatenations."""
    W_f, W_i, W_c, W_o = (guide_weight(params, g) for g in "fico")
    T, B, _ = x.shape
    hs, Cs = np.zeros((T, B, h0.shape[1])), np.zeros((T, B, h0.shape[1]))
    for b in range(B):
        h, C = h0[b], C0[b]
        for t in range(T):
            v = np.concatenate([h, x[t, b]])  # [h(t-1), x(t)]
            f = sigma(W_f @ v + params["b_f"])
            i = sigma(W_i @ v + params["b_i"])
            C_tilde = np.tanh(W_c @ v + params["b_c"])
            C = f * C + i * C_tilde
            o = sigma(W_o @ v + params["b_o"])
            h = o * np.tanh(C)
            hs[t, b], Cs[t, b] = h, C
    return hs, Cs


def oracle_gru(params, x, h0, reset_after):
    """The guide's GRU; reset_after=True uses PyTorch's documented candidate instead."""
    W_z, W_r = guide_weight(params, "z"), guide_weight(params, "r")
    W_h = guide_weight(params, "h")
    T, B, _ = x.shape
    hs = np.zeros((T, B, h0.shape[1]))
    for b in range(B):
        h = h0[b]
        for t in range(T):
            v = np.concatenate([h, x[t, b]])
            z = sigma(W_z @ v + params["b_z"])
            r = sigma(W_r @ v + params["b_r"])
            if reset_after:
                n = params["U_h"] @ h + params["b_hn"]
                h_tilde = np.tanh(params["W_h"] @ x[t, b] + params["b_h"] + r * n)
            else:
                h_tilde = np.tanh(W_h @ np.concatenate([r * h, x[t, b]]) + params["b_h"])
            h = z * h + (1 - z) * h_tilde
            hs[t, b] = h
    return hs, None


def run_oracle(layer, x, state):
    p = {name: np.array(v) for name, v in layer.params.items()}
    if isinstance(layer, RNNLayer):
        hs, Cs = oracle_rnn(p, x, state)
    elif isinstance(layer, LSTMLayer):
        hs, Cs = oracle_lstm(p, x, *state)
    else:
        hs, Cs = oracle_gru(p, x, state, layer.reset_after)
    y = hs if layer.output_size is None else hs @ p["W_hy"].T + p["b_y"]  # y = W_hy · h + b_y
    return y, hs, Cs


CASES = [
    (RNNLayer, {}),
    (LSTMLayer, {"forget_bias": 1.0}),
    (GRULayer, {"reset_after": False}),
    (GRULayer, {"reset_after": True}),
]
CASE_IDS = ["rnn", "lstm", "gru", "gru_reset_after"]


@pytest.mark.parametrize("output_size", [None, 2])
@pytest.mark.parametrize(("T", "B", "I", "H"), [(1, 1, 1, 1), (6, 3, 2, 4)])
@pytest.mark.parametrize(("cls", "extra"), CASES, ids=CASE_IDS)
def test_layer_matches_the_guides_notation(cls, extra, T, B, I, H, output_size):
    rng = np.random.default_rng(T * 100 + H)
    # The reference math is the definition; the fast kernels are held to it in
    # tests/test_kernels_cpu.py.
    layer = cls(I, H, output_size, dtype=np.float64, seed=3, backend="reference", **extra)
    randomize_params(layer, rng, scale=0.7)
    x = rng.standard_normal((T, B, I))
    h0 = 0.5 * rng.standard_normal((B, H))
    state = (h0, 0.5 * rng.standard_normal((B, H))) if layer.has_cell_state else h0

    y = layer.forward(x, state)
    y_oracle, h_oracle, C_oracle = run_oracle(layer, x, state)

    np.testing.assert_allclose(y, y_oracle, rtol=0, atol=ORACLE_FLOAT64_ATOL)
    np.testing.assert_allclose(layer.hidden_states, h_oracle, rtol=0, atol=ORACLE_FLOAT64_ATOL)
    if layer.has_cell_state:
        np.testing.assert_allclose(layer.cell_states, C_oracle, rtol=0, atol=ORACLE_FLOAT64_ATOL)
        h_T, C_T = layer.final_state
        np.testing.assert_allclose(C_T, C_oracle[-1], rtol=0, atol=ORACLE_FLOAT64_ATOL)
    else:
        h_T = layer.final_state
    np.testing.assert_allclose(h_T, h_oracle[-1], rtol=0, atol=ORACLE_FLOAT64_ATOL)


def test_lstm_forget_bias_starts_in_b_f_and_matches_the_oracle():
    """With default parameters (only b_f non-zero), the oracle still agrees."""
    layer = LSTMLayer(3, 5, dtype=np.float64, seed=0, forget_bias=2.5)
    np.testing.assert_array_equal(layer.params["b_f"], np.full(5, 2.5))
    x = np.random.default_rng(0).standard_normal((4, 2, 3))
    zeros = np.zeros((2, 5))
    h = layer.forward(x)
    np.testing.assert_allclose(
        h, run_oracle(layer, x, (zeros, zeros))[1], rtol=0, atol=ORACLE_FLOAT64_ATOL
    )


def test_the_two_gru_forms_are_different_functions():
    """reset_after is not a relabelling: with equal weights the outputs differ."""
    rng = np.random.default_rng(8)
    before = GRULayer(2, 3, dtype=np.float64, reset_after=False)
    after = GRULayer(2, 3, dtype=np.float64, reset_after=True)
    randomize_params(before, rng)
    for name, p in before.params.items():
        after.params[name] = p
    after.params["b_hn"][...] = 0
    x = rng.standard_normal((4, 2, 2))
    assert np.max(np.abs(before(x) - after(x))) > 1e-3


def test_oracle_scalar_case_by_hand():
    """T=1, H=I=1 RNN from the equation with plain floats, so the oracle itself is checked."""
    layer = RNNLayer(1, 1, dtype=np.float64)
    layer.params["W_xh"] = [[0.3]]
    layer.params["W_hh"] = [[-0.8]]
    layer.params["b_h"] = [0.1]
    h = layer.forward(np.array([[[2.0]]]), np.array([[0.5]]))
    expected = math.tanh(0.3 * 2.0 - 0.8 * 0.5 + 0.1)
    assert h.shape == (1, 1, 1)
    assert abs(h[0, 0, 0] - expected) < 1e-15
