"""Dense, Embedding, Dropout, Tanh, ReLU: values, gradients (float64 finite differences), errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnlab.models import Dense, Dropout, Embedding, ReLU, Tanh
from rnnlab.registry import build, describe
from tests.models.helpers import assert_gradients_match, gradcheck_params, randomize


# ----------------------------------------------------------------------------- Dense
@pytest.mark.parametrize("shape", [(4,), (5, 4), (3, 2, 4), (2, 3, 2, 4)])
def test_dense_acts_on_last_axis_of_any_rank(shape):
    rng = np.random.default_rng(0)
    dense = Dense(4, 3, dtype=np.float64, seed=1)
    randomize(dense, rng)
    x = rng.standard_normal(shape)
    y = dense(x)
    expected = np.einsum("...i,oi->...o", x, dense.params["W"]) + dense.params["b"]
    assert y.shape == (*shape[:-1], 3)
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-14)


@pytest.mark.parametrize("shape", [(4,), (3, 2, 4)])
def test_dense_gradcheck(shape):
    rng = np.random.default_rng(2)
    dense = Dense(4, 3, dtype=np.float64, seed=3)
    randomize(dense, rng)
    x = rng.standard_normal(shape)
    R = rng.standard_normal((*shape[:-1], 3))

    def loss_of():
        return float(np.sum(dense(x) * R))

    def run_backward():
        dense(x)
        return {"x": dense.backward(R)}

    assert_gradients_match(gradcheck_params(dense, loss_of, run_backward, {"x": x}))


def test_dense_backward_accumulates_and_zero_grad_clears():
    rng = np.random.default_rng(4)
    dense = Dense(2, 3, dtype=np.float64, seed=0)
    x, R = rng.standard_normal((5, 2)), rng.standard_normal((5, 3))
    dense(x)
    dense.backward(R)
    once = {k: v.copy() for k, v in dense.grads.items()}
    dense.backward(R)
    for key, value in dense.grads.items():
        np.testing.assert_allclose(value, 2 * once[key], rtol=1e-15)
    dense.zero_grad()
    assert all(not np.any(g) for g in dense.grads.values())


def test_dense_seed_and_init():
    a, b, c = Dense(5, 7, seed=3), Dense(5, 7, seed=3), Dense(5, 7, seed=4)
    np.testing.assert_array_equal(a.params["W"], b.params["W"])
    assert not np.array_equal(a.params["W"], c.params["W"])
    he = Dense(50, 40, init="he", seed=0, dtype=np.float64).params["W"]
    assert np.abs(he).max() <= np.sqrt(6 / 50)
    assert np.abs(he).max() > np.sqrt(6 / 90)  # wider than Xavier's bound: He really was used
    assert not np.any(a.params["b"])
    assert a.params["W"].dtype == np.float32
    assert a.num_parameters() == 7 * 5 + 7


def test_dense_errors():
    dense = Dense(4, 3)
    with pytest.raises(ValueError, match="in_features"):
        dense(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="scalar"):
        dense(np.float32(1.0))
    with pytest.raises(ValueError, match="NaN"):
        dense(np.full((2, 4), np.nan))
    with pytest.raises(TypeError, match="floating"):
        dense(np.zeros((2, 4), np.int64))
    with pytest.raises(RuntimeError, match="before forward"):
        Dense(4, 3).backward(np.zeros((2, 3)))
    dense(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"dy: expected shape \(2, 3\)"):
        dense.backward(np.zeros((2, 4), np.float32))
    with pytest.raises(TypeError, match="out_features"):
        Dense(4, 2.5)
    with pytest.raises(ValueError, match="init"):
        Dense(4, 2, init="uniform")


# ----------------------------------------------------------------------------- Embedding
def test_embedding_lookup_and_gradcheck_with_repeated_ids():
    rng = np.random.default_rng(5)
    emb = Embedding(6, 3, dtype=np.float64, seed=0)
    ids = np.array([[0, 5], [2, 2], [5, 1]])  # (T, B), ids 2 and 5 repeated
    y = emb(ids)
    assert y.shape == (3, 2, 3)
    np.testing.assert_array_equal(y[1, 0], emb.params["W"][2])
    R = rng.standard_normal(y.shape)

    def loss_of():
        return float(np.sum(emb(ids) * R))

    def run_backward():
        emb(ids)
        return {"dx": emb.backward(R)}

    checked = gradcheck_params(emb, loss_of, run_backward)
    assert_gradients_match(checked)
    # Both occurrences of id 2 add up (fancy-index += would keep only one of them).
    np.testing.assert_allclose(emb.grads["W"][2], R[1, 0] + R[1, 1], rtol=1e-15)
    assert not np.any(emb.grads["W"][3])  # never looked up, no gradient


def test_embedding_backward_returns_none_and_accepts_unsigned_ids():
    emb = Embedding(4, 2, seed=1)
    y = emb(np.array([3, 0], dtype=np.uint8))
    assert emb.backward(np.ones_like(y)) is None


def test_embedding_errors():
    emb = Embedding(4, 2)
    with pytest.raises(TypeError, match="integer"):
        emb(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="integer"):
        emb(np.array([True, False]))
    with pytest.raises(TypeError, match="integer"):
        emb("abc")
    with pytest.raises(ValueError, match=r"\[0, 3\].*got 4"):
        emb(np.array([1, 4]))
    with pytest.raises(ValueError, match="got -1"):
        emb(np.array([-1, 2]))
    with pytest.raises(ValueError, match="at least one"):
        emb(np.array([], dtype=np.int64))
    with pytest.raises(TypeError, match="num_embeddings"):
        Embedding(None, 3)


# ----------------------------------------------------------------------------- Dropout
def test_dropout_is_inverted_and_seeded():
    x = np.ones((200, 500))
    drop = Dropout(0.3, seed=0)
    y = drop(x)
    kept = y != 0
    assert abs(1 - kept.mean() - 0.3) < 0.01  # 100k Bernoulli draws: sd 0.0015
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-15)
    np.testing.assert_array_equal(Dropout(0.3, seed=0)(x), y)
    assert not np.array_equal(Dropout(0.3, seed=1)(x), y)
    assert not np.array_equal(drop(x), y)  # a new mask every forward
    shared = np.random.default_rng(7)
    np.testing.assert_array_equal(
        Dropout(0.3, seed=shared)(x), Dropout(0.3, seed=np.random.default_rng(7))(x)
    )


def test_dropout_backward_uses_the_forward_mask_and_gradchecks():
    rng = np.random.default_rng(8)
    drop = Dropout(0.5, seed=3)
    x, R = rng.standard_normal((4, 3, 2)), rng.standard_normal((4, 3, 2))
    y = drop(x)
    dx = drop.backward(R)
    np.testing.assert_array_equal(dx, R * drop.mask)
    assert np.all(dx[y == 0] == 0)
    state = drop.rng.bit_generator.state

    def loss_of():
        drop.rng.bit_generator.state = state  # the same mask at every perturbation
        return float(np.sum(drop(x) * R))

    def run_backward():
        loss_of()
        return {"x": drop.backward(R)}

    assert_gradients_match(gradcheck_params(drop, loss_of, run_backward, {"x": x}))


def test_dropout_eval_is_identity():
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    drop = Dropout(0.9, seed=0).eval()
    y = drop(x)
    np.testing.assert_array_equal(y, x)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(drop.backward(2 * x), 2 * x)
    assert drop.train().training


def test_dropout_errors():
    for p in (1.0, -0.1):
        with pytest.raises(ValueError, match="p: expected a probability"):
            Dropout(p)
    with pytest.raises(TypeError, match="p:"):
        Dropout("0.5")
    with pytest.raises(TypeError, match="seed"):
        Dropout(0.5, seed=1.5)
    with pytest.raises(TypeError, match="floating"):
        Dropout(0.5)(np.array([1, 2]))


# ----------------------------------------------------------------------------- activations
@pytest.mark.parametrize("cls", [Tanh, ReLU])
def test_activation_gradcheck(cls):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, 2, 4))
    x[np.abs(x) < 1e-3] = 0.5  # keep ReLU's kink away from the finite-difference step
    R = rng.standard_normal(x.shape)
    act = cls()
    expected = np.tanh(x) if cls is Tanh else np.maximum(x, 0)
    np.testing.assert_allclose(act(x), expected, rtol=0, atol=1e-15)

    def loss_of():
        return float(np.sum(act(x) * R))

    def run_backward():
        act(x)
        return {"x": act.backward(R)}

    assert_gradients_match(gradcheck_params(act, loss_of, run_backward, {"x": x}))


# ----------------------------------------------------------------------------- configs
@pytest.mark.parametrize(
    "module",
    [Dense(3, 2, init="he", dtype=np.float64), Embedding(5, 4), Dropout(0.25), Tanh(), ReLU()],
    ids=["Dense", "Embedding", "Dropout", "Tanh", "ReLU"],
)
def test_config_round_trip(module):
    description = json.loads(json.dumps(describe(module)))
    rebuilt = build(description)
    assert type(rebuilt) is type(module)
    assert rebuilt.get_config() == module.get_config()
    assert {k: v.shape for k, v in rebuilt.params.items()} == {
        k: v.shape for k, v in module.params.items()
    }
