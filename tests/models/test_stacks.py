"""Deep stacks RNN / LSTM / GRU: composition, PyTorch-shaped states, dropout, gradients, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnlab import LSTMLayer
from rnnlab.models import GRU, LSTM, RNN, Bidirectional, Dropout, Sequential
from rnnlab.registry import build, describe
from tests.models.helpers import (
    assert_gradients_match,
    numeric_gradient,
    numeric_gradient_at,
    randomize,
)

F64 = {"dtype": np.float64}


def _parts(state, has_cell_state):
    return list(state) if has_cell_state else [state]


def test_unidirectional_stack_is_layers_applied_in_turn():
    rng = np.random.default_rng(0)
    model = LSTM(3, 4, num_layers=3, forget_bias=1.0, seed=0, **F64)
    randomize(model, rng)
    x = rng.standard_normal((5, 2, 3))
    h0, c0 = rng.standard_normal((2, 3, 2, 4))
    y = model(x, (h0, c0))
    # The same computation with three standalone layers holding the same parameters.
    h = x
    finals = []
    for l in range(3):
        layer = LSTMLayer(3 if l == 0 else 4, 4, **F64)
        for key in layer.params:
            layer.params[key] = model.params[f"{l}.{key}"]
        h = layer(h, (h0[l], c0[l]))
        finals.append(layer.final_state)
    np.testing.assert_allclose(y, h, rtol=0, atol=1e-15)
    h_n, c_n = model.final_state
    assert h_n.shape == c_n.shape == (3, 2, 4)
    np.testing.assert_allclose(h_n, np.stack([f[0] for f in finals]), rtol=0, atol=1e-15)
    np.testing.assert_allclose(c_n, np.stack([f[1] for f in finals]), rtol=0, atol=1e-15)
    assert model.layers[2].params["b_f"].shape == (4,)
    np.testing.assert_array_equal(LSTM(2, 3, 2, forget_bias=1.0).layers[1].params["b_f"], 1.0)


def test_bidirectional_levels_and_state_order():
    rng = np.random.default_rng(1)
    model = GRU(2, 3, num_layers=2, bidirectional=True, reset_after=True, seed=1, **F64)
    randomize(model, rng)
    x = rng.standard_normal((4, 2, 2))
    h0 = rng.standard_normal((4, 2, 3))  # entry l * 2 + d
    y = model(x, h0)
    assert isinstance(model.layers[1], Bidirectional)
    assert model.layers[1].input_size == 6
    level0 = model.layers[0](x, (h0[0], h0[1]))
    level1 = model.layers[1](level0, (h0[2], h0[3]))
    np.testing.assert_allclose(y, level1, rtol=0, atol=1e-15)
    h_n = model.final_state
    np.testing.assert_allclose(h_n[3], level1[0, :, 3:], rtol=0, atol=1e-15)  # l1 reverse
    np.testing.assert_allclose(h_n[2], level1[-1, :, :3], rtol=0, atol=1e-15)  # l1 forward


CASES = [
    # (class, options, T, B, I, H, single sequence)
    (LSTM, {"num_layers": 2, "bidirectional": True, "dropout": 0.3, "output_size": 2}, False),
    (GRU, {"num_layers": 2, "reset_after": True, "output_size": 3}, False),
    (GRU, {"num_layers": 2, "bidirectional": True, "reset_after": False}, True),
    (RNN, {"num_layers": 3, "bidirectional": True, "dropout": 0.5}, False),
    (LSTM, {"num_layers": 2, "layer_norm": True, "zoneout": 0.3, "dropout": 0.2}, False),
    (GRU, {"num_layers": 2, "bidirectional": True, "layer_norm": True, "zoneout": 0.3}, True),
]
CASE_IDS = [
    "lstm-bi-dropout-head",
    "gru-ra-head",
    "gru-bi-single",
    "rnn-3-bi-dropout",
    "lstm-ln-zoneout-dropout",
    "gru-bi-ln-zoneout-single",
]


@pytest.mark.parametrize(("cls", "options", "single"), CASES, ids=CASE_IDS)
def test_gradcheck_stack(cls, options, single):
    rng = np.random.default_rng(2)
    # Layer norm over H = 2 or 3 units is nearly scale-free in its input (its derivative is
    # tiny except near equal inputs), too ill-conditioned for finite differences: use H = 4.
    # (Shorter and narrower input there, to keep the test quick.)
    T, B, I, H = (2, 2, 1, 4) if options.get("layer_norm") else (3, 2, 2, 2)
    model = cls(I, H, seed=3, **options, **F64)
    randomize(model, rng)
    LD = model.num_layers * model.num_directions
    state_shape = (LD, H) if single else (LD, B, H)
    parts = 2 if model.has_cell_state else 1
    state = tuple(rng.standard_normal(state_shape) for _ in range(parts))
    R_final = tuple(rng.standard_normal(state_shape) for _ in range(parts))
    x = rng.standard_normal((T, I) if single else (T, B, I))
    R = rng.standard_normal((*x.shape[:-1], model.out_features))
    pack = (lambda s: s) if parts == 2 else (lambda s: s[0])
    rng_state = model.rng_state()  # dropout and zoneout streams

    def loss_of():
        model.set_rng_state(rng_state)  # the same masks at every evaluation
        y = model(x, pack(state))
        finals = _parts(model.final_state, model.has_cell_state)
        extra = sum(np.sum(f * r) for f, r in zip(finals, R_final, strict=True))
        return float(np.sum(y * R) + extra)

    model.zero_grad()
    loss_of()
    if options.get("dropout"):
        assert any(np.any(d.mask == 0) for d in model.dropouts)  # dropout really acted
    dx = model.backward(R, pack(R_final))
    initial = [g.copy() for g in _parts(model.grad_initial_state, model.has_cell_state)]
    checked = {}
    for name, g in model.grads.items():
        if options.get("layer_norm"):  # a costly forward: 3 random entries of every array
            entries = rng.choice(g.size, size=min(3, g.size), replace=False)
            numeric = numeric_gradient_at(loss_of, model.params[name], entries)
            checked[name] = (g.reshape(-1)[entries].copy(), numeric)
        else:
            checked[name] = (g.copy(), numeric_gradient(loss_of, model.params[name]))
    checked["x"] = (dx, numeric_gradient(loss_of, x))
    for k, (grad, array) in enumerate(zip(initial, state, strict=True)):
        assert grad.shape == state_shape
        checked[f"state{k}"] = (grad, numeric_gradient(loss_of, array))
    assert_gradients_match(checked)


def test_final_state_gradient_parts_may_be_none():
    rng = np.random.default_rng(4)
    model = LSTM(2, 3, num_layers=2, seed=0, **F64)
    x = rng.standard_normal((4, 1, 2))
    R = rng.standard_normal((4, 1, 3))
    dc_n = rng.standard_normal((2, 1, 3))
    model(x)
    dx_none = model.backward(R, (None, np.zeros_like(dc_n)))
    model(x)
    dx_plain = model.backward(R)
    np.testing.assert_array_equal(dx_none, dx_plain)
    model(x)
    assert not np.allclose(model.backward(R, (None, dc_n)), dx_plain)


def test_dropout_only_in_training_and_only_between_layers():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 3, 2))
    model = RNN(2, 4, num_layers=2, dropout=0.5, seed=0, **F64)
    reference = RNN(2, 4, num_layers=2, dropout=0.0, seed=0, **F64)
    np.testing.assert_array_equal(model.eval()(x), reference(x))  # same seed, same weights
    assert not np.allclose(model.train()(x), reference(x))
    single = RNN(2, 4, num_layers=1, dropout=0.5, seed=0, **F64)  # no layer to drop between
    np.testing.assert_array_equal(single(x), RNN(2, 4, seed=0, **F64)(x))


def test_batch_first_and_list_input():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((5, 2, 3))
    tm = LSTM(3, 4, num_layers=2, bidirectional=True, seed=2, **F64)
    bf = LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True, seed=2, **F64)
    y = tm(x)
    np.testing.assert_array_equal(bf(x.transpose(1, 0, 2)), y.transpose(1, 0, 2))
    for a, b in zip(bf.final_state, tm.final_state, strict=True):  # states stay (L*D, B, H)
        np.testing.assert_array_equal(a, b)
    R = rng.standard_normal(y.shape)
    dx = tm.backward(R)
    np.testing.assert_array_equal(bf.backward(R.transpose(1, 0, 2)), dx.transpose(1, 0, 2))
    np.testing.assert_allclose(tm([x[t] for t in range(5)]), y, rtol=0, atol=1e-15)


def test_params_keys_and_counts():
    model = RNN(3, 4, num_layers=2, bidirectional=True, output_size=2)
    keys = list(model.params)
    assert keys[:3] == ["0.forward.W_xh", "0.forward.W_hh", "0.forward.b_h"]
    assert keys[-2:] == ["W_hy", "b_y"]
    per_direction = [4 * 3 + 4 * 4 + 4, 4 * 8 + 4 * 4 + 4]
    assert model.num_parameters() == 2 * sum(per_direction) + 2 * 8 + 2
    y = model(np.ones((2, 1, 3), np.float32))
    model.backward(np.ones_like(y))
    assert np.any(model.grads["W_hy"])
    model.zero_grad()
    assert not any(np.any(g) for g in model.grads.values())
    assert model.params["W_hy"] is model.head.params["W"]


def test_seed_reproducible_and_config_round_trip():
    a = GRU(3, 2, num_layers=2, bidirectional=True, dropout=0.2, reset_after=True, seed=9)
    b = GRU(3, 2, num_layers=2, bidirectional=True, dropout=0.2, reset_after=True, seed=9)
    c = GRU(3, 2, num_layers=2, bidirectional=True, dropout=0.2, reset_after=True, seed=10)
    for key, value in a.params.items():
        np.testing.assert_array_equal(b.params[key], value)
    assert not np.array_equal(a.params["1.reverse.W_z"], c.params["1.reverse.W_z"])
    x = np.ones((3, 2, 3), np.float32)
    np.testing.assert_array_equal(a(x), b(x))  # the dropout masks are seeded too
    config = json.loads(json.dumps(describe(a)))["config"]
    assert config["reset_after"] is True
    assert config["dropout"] == 0.2
    rebuilt = build({"class": "GRU", "config": config})
    assert describe(rebuilt) == describe(a)
    assert list(rebuilt.params) == list(a.params)


def test_errors():
    with pytest.raises(ValueError, match="num_layers"):
        LSTM(2, 3, num_layers=0)
    with pytest.raises(ValueError, match="dropout"):
        LSTM(2, 3, dropout=1.0)
    with pytest.raises(TypeError, match="bidirectional"):
        LSTM(2, 3, bidirectional="yes")
    with pytest.raises(TypeError, match="forget_bias"):
        LSTM(2, 3, forget_bias="1")
    with pytest.raises(TypeError, match=r"unexpected keyword argument .reset_after."):
        RNN(2, 3, reset_after=True)
    model = LSTM(2, 3, num_layers=2, bidirectional=True)
    x = np.zeros((4, 5, 2), np.float32)
    h0 = np.zeros((4, 5, 3), np.float32)
    with pytest.raises(TypeError, match=r"tuple \(h, c\)"):
        model(x, h0)
    with pytest.raises(ValueError, match=r"expected shape \(4, 5, 3\) \(num_layers \* num_dir"):
        model(x, (h0[:2], h0))
    with pytest.raises(ValueError, match="input_size"):
        model(np.zeros((4, 5, 3), np.float32))
    with pytest.raises(RuntimeError, match="before forward"):
        model.backward(np.zeros((4, 5, 6)))
    model(x, (h0, h0))
    with pytest.raises(ValueError, match=r"dy: expected shape \(4, 5, 6\)"):
        model.backward(np.zeros((4, 5, 3), np.float32))
    with pytest.raises(ValueError, match="d_final_state"):
        model.backward(np.zeros((4, 5, 6), np.float32), (h0[:1], None))


def test_rng_state_replays_the_dropout_masks():
    x = np.random.default_rng(7).standard_normal((4, 2, 3))
    model = Sequential(LSTM(3, 4, num_layers=3, dropout=0.5, seed=1), Dropout(0.3, seed=2))
    assert set(model.generators()) == {"0.dropout.0", "0.dropout.1", "1.rng"}
    saved = json.loads(json.dumps(model.rng_state()))  # JSON-able, as a checkpoint stores it
    first = model(x)
    assert not np.array_equal(model(x), first)  # the streams moved on
    model.set_rng_state(saved)
    np.testing.assert_array_equal(model(x), first)
    with pytest.raises(ValueError, match="random states"):
        model.set_rng_state({"1.rng": saved["1.rng"]})
