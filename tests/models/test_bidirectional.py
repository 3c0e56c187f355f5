"""Bidirectional and reverse_padded: values against an independent construction, gradients,
layouts, parameters, configs and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab import GRULayer, LSTMLayer, RNNLayer
from rnnlab.models import Bidirectional, reverse_padded
from rnnlab.registry import build, describe
from tests.models.helpers import assert_gradients_match, numeric_gradient, randomize

VARIANTS = [
    ("rnn", RNNLayer, {}),
    ("lstm", LSTMLayer, {"forget_bias": 0.5}),
    ("gru", GRULayer, {"reset_after": False}),
    ("gru_reset_after", GRULayer, {"reset_after": True}),
]
IDS = [v[0] for v in VARIANTS]


# ----------------------------------------------------------------------------- reverse_padded
def _reverse_by_loop(x, lengths):
    out = x.copy()
    for b, length in enumerate(lengths):
        out[:length, b] = x[:length, b][::-1]
    return out


def test_reverse_padded_reverses_each_valid_prefix_only():
    x = np.random.default_rng(0).standard_normal((5, 4, 3))
    lengths = np.array([5, 2, 4, 1])
    out = reverse_padded(x, lengths)
    np.testing.assert_array_equal(out, _reverse_by_loop(x, lengths))
    np.testing.assert_array_equal(out[4, 0], x[0, 0])
    np.testing.assert_array_equal(out[2:, 1], x[2:, 1])  # padding untouched
    np.testing.assert_array_equal(reverse_padded(out, lengths), x)  # its own inverse
    np.testing.assert_array_equal(reverse_padded(x), x[::-1])
    np.testing.assert_array_equal(reverse_padded(x, [5, 5, 5, 5]), x[::-1])


def test_reverse_padded_batch_first_and_extra_axes():
    x = np.random.default_rng(1).standard_normal((3, 6, 2, 2))  # (B, T, ...)
    lengths = [6, 3, 4]
    out = reverse_padded(x, lengths, batch_first=True)
    expected = _reverse_by_loop(x.swapaxes(0, 1), lengths).swapaxes(0, 1)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(reverse_padded(x, batch_first=True), x[:, ::-1])


def test_reverse_padded_errors():
    x = np.zeros((4, 2, 1))
    with pytest.raises(ValueError, match=r"lengths: expected shape \(2,\)"):
        reverse_padded(x, [4, 4, 4])
    with pytest.raises(ValueError, match=r"1\.\.4.*got 5"):
        reverse_padded(x, [5, 1])
    with pytest.raises(ValueError, match="got 0"):
        reverse_padded(x, [0, 1])
    with pytest.raises(TypeError, match="lengths: expected integers"):
        reverse_padded(x, [1.0, 2.0])
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        reverse_padded(np.zeros(3), [1])


# ----------------------------------------------------------------------------- Bidirectional
def _make(variant, seed=0, I=2, H=3, **options):
    _, cls, extra = variant
    rng = np.random.default_rng(seed)
    layer = cls(I, H, dtype=np.float64, seed=seed, **extra, **options)
    bi = Bidirectional(layer)
    randomize(bi, rng)
    return bi, rng


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_output_is_forward_and_reversed_reverse_concatenated(variant):
    bi, rng = _make(variant)
    x = rng.standard_normal((4, 2, 2))
    y = bi(x)
    # Independent construction: run each direction as a plain layer on (reversed) numpy input.
    y_f = bi.forward_layer(x)
    y_r = bi.reverse_layer(x[::-1].copy())[::-1]
    assert y.shape == (4, 2, 6)
    np.testing.assert_allclose(y, np.concatenate([y_f, y_r], axis=-1), rtol=0, atol=1e-15)
    # final states: forward's at t=T, reverse's at t=1 (= the reversed run's last step)
    bi(x)
    final_f, final_r = bi.final_state
    h_f = final_f[0] if bi.has_cell_state else final_f
    h_r = final_r[0] if bi.has_cell_state else final_r
    np.testing.assert_array_equal(h_f, y[-1, :, :3])
    np.testing.assert_array_equal(h_r, y[0, :, 3:])


def _flatten(pair):
    """(forward, reverse) states -> a flat list of arrays (LSTM states are (h, C) pairs)."""
    return [a for s in pair for a in (s if isinstance(s, tuple) else (s,))]


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_gradcheck_params_input_states_and_final_state(variant):
    bi, rng = _make(variant, seed=1, I=2, H=2)
    T, B, H = 3, 2, 2
    parts = 2 if bi.has_cell_state else 1

    def draw_state():
        s = tuple(rng.standard_normal((B, H)) for _ in range(parts))
        return s if parts == 2 else s[0]

    x = rng.standard_normal((T, B, 2))
    state = (draw_state(), draw_state())
    R = rng.standard_normal((T, B, 2 * H))
    R_final_pair = (draw_state(), draw_state())
    R_final = _flatten(R_final_pair)

    def loss_of():
        y = bi(x, state)
        finals = _flatten(bi.final_state)
        extra = sum(np.sum(f * r) for f, r in zip(finals, R_final, strict=True))
        return float(np.sum(y * R) + extra)

    bi.zero_grad()
    bi(x, state)
    dx = bi.backward(R, R_final_pair)
    initial_grads = [g.copy() for g in _flatten(bi.grad_initial_state)]
    checked = {
        name: (g.copy(), numeric_gradient(loss_of, bi.params[name])) for name, g in bi.grads.items()
    }
    checked["x"] = (dx, numeric_gradient(loss_of, x))
    initial = zip(initial_grads, _flatten(state), strict=True)
    for k, (grad, array) in enumerate(initial):
        checked[f"state{k}"] = (grad, numeric_gradient(loss_of, array))
    assert_gradients_match(checked)


@pytest.mark.parametrize("variant", VARIANTS[:2], ids=IDS[:2])
def test_layouts_agree_with_time_major(variant):
    bi, rng = _make(variant, seed=2)
    x = rng.standard_normal((4, 2, 2))
    R = rng.standard_normal((4, 2, 6))
    y = bi(x)
    dx = bi.backward(R)
    # batch-first wrapper around the same parameters
    _, cls, extra = variant
    bf = Bidirectional(cls(2, 3, dtype=np.float64, batch_first=True, **extra))
    for key, value in bi.params.items():
        bf.params[key] = value
    y_bf = bf(x.transpose(1, 0, 2))
    np.testing.assert_allclose(y_bf, y.transpose(1, 0, 2), rtol=0, atol=1e-15)
    np.testing.assert_allclose(
        bf.backward(R.transpose(1, 0, 2)), dx.transpose(1, 0, 2), rtol=0, atol=1e-15
    )
    # one sequence without a batch axis, (T, I), equals batch entry 0
    y_single = bi(x[:, 0])
    np.testing.assert_allclose(y_single, y[:, 0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(bi.backward(R[:, 0]), dx[:, 0], rtol=0, atol=1e-15)
    # a list of steps equals the stacked array
    y_list = bi([x[t] for t in range(4)])
    np.testing.assert_allclose(y_list, y, rtol=0, atol=1e-15)
    dx_list = bi.backward(R)
    assert isinstance(dx_list, list)
    np.testing.assert_allclose(np.stack(dx_list), dx, rtol=0, atol=1e-15)


def test_parameters_copied_seeded_and_independent():
    layer = LSTMLayer(2, 3, seed=5)
    bi = Bidirectional(layer)
    for key, value in layer.params.items():
        np.testing.assert_array_equal(bi.params[f"forward.{key}"], value)
        assert not np.array_equal(bi.params[f"reverse.{key}"], value) or not np.any(value)
    layer.params["W_f"][...] = 7.0  # the wrapper owns a copy
    assert not np.any(bi.params["forward.W_f"] == 7.0)
    again = Bidirectional(LSTMLayer(2, 3, seed=5))
    for key, value in bi.params.items():
        np.testing.assert_array_equal(again.params[key], value)  # derived seed: reproducible
    other = Bidirectional(LSTMLayer(2, 3, seed=5), seed=1)
    assert not np.array_equal(other.params["reverse.W_f"], bi.params["reverse.W_f"])
    assert bi.num_parameters() == 2 * layer.num_parameters()
    assert next(iter(bi.params)) == "forward.W_f"


def test_config_round_trip_keeps_layer_options():
    bi = Bidirectional(GRULayer(3, 2, reset_after=True, batch_first=True, init="he"))
    rebuilt = build(json.loads(json.dumps(describe(bi))))
    assert describe(rebuilt) == describe(bi)
    assert rebuilt.batch_first
    assert rebuilt.forward_layer.reset_after
    assert "reverse.b_hn" in rebuilt.params


def test_errors():
    with pytest.raises(ValueError, match="output_size"):
        Bidirectional(LSTMLayer(2, 3, output_size=1))
    with pytest.raises(TypeError, match="layer: expected an RNNLayer"):
        Bidirectional(np.zeros(3))
    bi = Bidirectional(RNNLayer(2, 3))
    x = np.zeros((4, 2, 2), np.float32)
    with pytest.raises(TypeError, match="pair"):
        bi(x, np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="input_size"):
        bi(np.zeros((4, 2, 3), np.float32))
    with pytest.raises(RuntimeError, match="before forward"):
        bi.backward(np.zeros((4, 2, 6)))
    bi(x)
    with pytest.raises(ValueError, match=r"dy: expected shape \(4, 2, 6\)"):
        bi.backward(np.zeros((4, 2, 3), np.float32))


@given(
    num_steps=st.integers(1, 6),
    batch_size=st.integers(1, 4),
    features=st.integers(1, 3),
    data=st.data(),
)
@settings(max_examples=25, deadline=None, derandomize=True)
def test_reverse_padded_property(num_steps, batch_size, features, data):
    lengths = np.array(
        data.draw(st.lists(st.integers(1, num_steps), min_size=batch_size, max_size=batch_size))
    )
    x = np.arange(num_steps * batch_size * features, dtype=np.float64)
    x = x.reshape(num_steps, batch_size, features)
    out = reverse_padded(x, lengths)
    np.testing.assert_array_equal(out, _reverse_by_loop(x, lengths))
    np.testing.assert_array_equal(reverse_padded(out, lengths), x)
    out_bf = reverse_padded(x.transpose(1, 0, 2), lengths, batch_first=True)
    np.testing.assert_array_equal(out_bf, out.transpose(1, 0, 2))
