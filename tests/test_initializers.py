"""Initialisation through the layers: Xavier/He input weights, orthogonal recurrent weights per
gate, zero biases (forget_bias in b_f), reproducible seeds and no global random state."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab import GRULayer, LSTMLayer, RNNLayer
from rnnlab.initializers import orthogonal
from tests.conftest import LAYER_IDS, LAYER_VARIANTS

CLASSES = [RNNLayer, LSTMLayer, GRULayer]
CLASS_IDS = ["rnn", "lstm", "gru"]


def _blocks(layer, prefix):
    """Gate blocks by prefix; the RNN's W_hh is recurrent and W_hy the head, not input weights."""
    skip = ("W_hy", "W_hh")
    return [p for name, p in layer.params.items() if name.startswith(prefix) and name not in skip]


@pytest.mark.parametrize("variant", LAYER_VARIANTS, ids=LAYER_IDS)
def test_xavier_limits_orthogonal_recurrence_and_zero_biases(variant):
    _, cls, extra = variant
    I, H, O = 10, 50, 4
    layer = cls(I, H, O, dtype=np.float64, seed=0, **extra)
    limit = np.sqrt(6.0 / (I + H))  # Glorot & Bengio: fan_in I, fan_out H per gate
    for W in _blocks(layer, "W_"):
        assert W.shape == (H, I)
        assert np.max(np.abs(W)) <= limit
        assert np.max(np.abs(W)) > 0.9 * limit  # 500 uniform draws reach close to the limit
        assert abs(np.mean(W)) < 0.1 * limit
    recurrent = _blocks(layer, "U_") or [layer.params["W_hh"]]
    assert len(recurrent) == {"RNNLayer": 1, "LSTMLayer": 4, "GRULayer": 3}[type(layer).__name__]
    for U in recurrent:  # each gate's own orthogonal matrix, not one tall orthogonal block
        np.testing.assert_allclose(U @ U.T, np.eye(H), rtol=0, atol=1e-12)
    head_limit = np.sqrt(6.0 / (H + O))
    assert 0.5 * head_limit < np.max(np.abs(layer.params["W_hy"])) <= head_limit
    forget_bias = extra.get("forget_bias", 0.0)
    for name, b in layer.params.items():
        if name.startswith("b"):
            expected = forget_bias if name == "b_f" else 0.0
            np.testing.assert_array_equal(b, np.full(b.shape, expected), err_msg=name)
    assert forget_bias == 0.0 or layer.params["b_f"][0] == forget_bias


def test_recurrent_gate_blocks_are_different_matrices():
    layer = LSTMLayer(2, 6, seed=0)
    assert not np.allclose(layer.params["U_f"], layer.params["U_i"])


@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
def test_he_init(cls):
    I, H = 12, 40
    he = cls(I, H, seed=1, init="he")
    xavier = cls(I, H, seed=1)
    limit = np.sqrt(6.0 / I)  # He et al.: fan_in only
    for W in _blocks(he, "W_"):
        assert 0.9 * limit < np.max(np.abs(W)) <= limit * (1 + 1e-6)  # float32 rounding
    assert np.max(np.abs(_blocks(he, "W_")[0])) > np.sqrt(6.0 / (I + H))  # wider than Xavier
    assert he.get_config()["init"] == "he"
    assert not np.array_equal(_blocks(he, "W_")[0], _blocks(xavier, "W_")[0])


def test_orthogonal_of_a_rectangular_shape():
    rng = np.random.default_rng(0)
    wide, tall = orthogonal(rng, (3, 7)), orthogonal(rng, (7, 3))
    np.testing.assert_allclose(wide @ wide.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(tall.T @ tall, np.eye(3), atol=1e-12)


@pytest.mark.parametrize("variant", LAYER_VARIANTS, ids=LAYER_IDS)
def test_seeds_are_reproducible_and_distinct(variant):
    _, cls, extra = variant
    a, b, c = (cls(3, 4, 2, seed=s, **extra) for s in (7, 7, 8))
    for name in a.params:
        np.testing.assert_array_equal(a.params[name], b.params[name], err_msg=name)
    weights = [n for n in a.params if not n.startswith("b")]
    assert all(not np.array_equal(a.params[n], c.params[n]) for n in weights)
    from_generator = cls(3, 4, 2, seed=np.random.default_rng(7), **extra)
    for name in a.params:  # a Generator seeded 7 gives what seed=7 gives
        np.testing.assert_array_equal(a.params[name], from_generator.params[name])


def test_unseeded_layers_differ():
    assert not np.array_equal(RNNLayer(3, 4).params["W_xh"], RNNLayer(3, 4).params["W_xh"])


@pytest.mark.parametrize("seed", [None, 3])
@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
def test_no_global_random_state_is_used(cls, seed):
    np.random.seed(12345)  # noqa: NPY002  (the legacy global state is what we watch)
    before = np.random.get_state()  # noqa: NPY002
    layer = cls(3, 4, 2, seed=seed)
    layer.backward(np.ones_like(layer.forward(np.ones((5, 2, 3)))))
    after = np.random.get_state()  # noqa: NPY002
    assert before[0] == after[0]
    np.testing.assert_array_equal(before[1], after[1])
    assert before[2:] == after[2:]
