"""Hand-written BPTT against central finite differences (float64), for every layer variant.

Loss L = Σ y ⊙ R + Σ h(T) ⊙ R_h (+ Σ C(T) ⊙ R_C): one random weight per output entry, so every
entry of dy is different, plus optional terms on the final state (the d_final_state path).
Every parameter (biases randomised, not left at their zero initial value), x, h0 and c0.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab import GRULayer, LSTMLayer, RNNLayer
from tests.conftest import (
    LAYER_IDS,
    LAYER_VARIANTS,
    assert_gradients_match,
    gradcheck_layer,
    random_state,
    randomize_params,
)

# (T, B, I, H, O): the degenerate sizes 1 everywhere, then a small general case.
SHAPES = [(1, 1, 1, 1, None), (1, 1, 1, 1, 1), (3, 2, 2, 3, None), (3, 2, 2, 3, 2), (4, 1, 3, 2, 3)]
SHAPE_IDS = ["T1B1H1", "T1B1H1-head", "T3B2", "T3B2-head", "T4B1-head"]
LSTM_VARIANT = LAYER_VARIANTS[1]


def _setup(variant, shape, seed):
    _, cls, extra = variant
    T, B, I, H, O = shape
    rng = np.random.default_rng(seed)
    # The gradient check is of the reference math (the definition); the fast kernels are held
    # equal to it separately, to 1e-12, in tests/test_kernels_cpu.py.
    layer = cls(I, H, O, dtype=np.float64, seed=seed, backend="reference", **extra)
    randomize_params(layer, rng)
    x = rng.standard_normal((T, B, I))
    state = random_state(layer, B, rng)
    out = O if O is not None else H
    R = rng.standard_normal((T, B, out))
    return layer, x, state, R, rng


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("variant", LAYER_VARIANTS, ids=LAYER_IDS)
def test_gradients_without_final_state_gradient(variant, shape):
    layer, x, state, R, _ = _setup(variant, shape, seed=1)
    assert_gradients_match(gradcheck_layer(layer, x, state, R))


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("variant", LAYER_VARIANTS, ids=LAYER_IDS)
def test_gradients_with_final_state_gradient(variant, shape):
    layer, x, state, R, rng = _setup(variant, shape, seed=2)
    B, H = shape[1], shape[3]
    if layer.has_cell_state:
        R_final = (rng.standard_normal((B, H)), rng.standard_normal((B, H)))
    else:
        R_final = rng.standard_normal((B, H))
    assert_gradients_match(gradcheck_layer(layer, x, state, R, R_final))


@pytest.mark.parametrize("which", ["dh_only", "dC_only"])
@pytest.mark.parametrize("head", [None, 2])
def test_lstm_final_state_gradient_with_one_part_none(which, head):
    """LSTM's d_final_state is (dh, dC); either part may be None and counts as zero."""
    layer, x, state, R, rng = _setup(LSTM_VARIANT, (3, 2, 2, 3, head), seed=3)
    part = rng.standard_normal((2, 3))
    R_final = (part, None) if which == "dh_only" else (None, part)
    assert_gradients_match(gradcheck_layer(layer, x, state, R, R_final))


@pytest.mark.parametrize("variant", LAYER_VARIANTS, ids=LAYER_IDS)
def test_gradients_for_a_single_sequence_without_batch_axis(variant):
    """x (T, I) and state (H,): dx is (T, I) and grad_initial_state (H,), still exact."""
    _, cls, extra = variant
    rng = np.random.default_rng(4)
    layer = cls(2, 3, 2, dtype=np.float64, **extra)
    randomize_params(layer, rng)
    x = rng.standard_normal((3, 2))
    state = random_state(layer, 1, rng, single=True)
    R = rng.standard_normal((3, 2))
    R_final = (
        (rng.standard_normal(3), rng.standard_normal(3))
        if layer.has_cell_state
        else rng.standard_normal(3)
    )
    checked = gradcheck_layer(layer, x, state, R, R_final)
    assert checked["x"][0].shape == (3, 2)
    assert checked["h0"][0].shape == (3,)
    assert_gradients_match(checked)


# ----------------------------------------------------------------------------- accumulation
def _params_and_grads_snapshot(layer):
    return {name: g.copy() for name, g in layer.grads.items()}


@pytest.mark.parametrize("variant", LAYER_VARIANTS, ids=LAYER_IDS)
def test_backward_accumulates_and_zero_grad_clears(variant):
    layer, x, state, R, _ = _setup(variant, (3, 2, 2, 3, 2), seed=5)
    layer.zero_grad()
    layer.forward(x, state)
    dx_first = layer.backward(R)
    once = _params_and_grads_snapshot(layer)
    initial_once = layer.grad_initial_state
    assert all(np.any(g) for g in once.values())
    dx_second = layer.backward(R)  # same cache, same dy: gradients add up
    for name, g in layer.grads.items():
        np.testing.assert_allclose(g, 2 * once[name], rtol=1e-14, atol=0, err_msg=name)
    np.testing.assert_array_equal(dx_first, dx_second)  # dx is returned, not accumulated
    np.testing.assert_array_equal(np.asarray(initial_once), np.asarray(layer.grad_initial_state))
    layer.zero_grad()
    for name, g in layer.grads.items():
        assert not np.any(g), name


@pytest.mark.parametrize("variant", LAYER_VARIANTS, ids=LAYER_IDS)
def test_gradients_of_two_batches_add(variant):
    """forward/backward on x1 then on x2 without zero_grad equals the sum of the two."""
    layer, x1, state, R1, rng = _setup(variant, (2, 2, 2, 3, None), seed=6)
    x2, R2 = rng.standard_normal(x1.shape), rng.standard_normal(R1.shape)
    separate = []
    for x, R in ((x1, R1), (x2, R2)):
        layer.zero_grad()
        layer.forward(x, state)
        layer.backward(R)
        separate.append(_params_and_grads_snapshot(layer))
    layer.zero_grad()
    for x, R in ((x1, R1), (x2, R2)):
        layer.forward(x, state)
        layer.backward(R)
    for name, g in layer.grads.items():
        np.testing.assert_allclose(g, separate[0][name] + separate[1][name], rtol=1e-13, atol=0)


def test_grad_initial_state_is_reset_by_forward():
    layer = GRULayer(2, 3, dtype=np.float64, seed=0)
    x = np.ones((2, 1, 2))
    layer.forward(x)
    layer.backward(np.ones((2, 1, 3)))
    assert layer.grad_initial_state.shape == (1, 3)
    layer.forward(x)
    assert layer.grad_initial_state is None  # stale gradients never survive a new forward


@pytest.mark.parametrize("cls", [RNNLayer, LSTMLayer, GRULayer])
def test_float32_backward_agrees_with_float64(cls):
    """The float32 path runs the same code; its gradients match float64 to float32 precision."""
    rng = np.random.default_rng(7)
    layers = [cls(3, 4, 2, dtype=dt, seed=0) for dt in (np.float32, np.float64)]
    randomize_params(layers[1], rng)
    for name, p in layers[0].params.items():
        p[...] = layers[1].params[name]
    x = rng.standard_normal((5, 2, 3))
    R = rng.standard_normal((5, 2, 2))
    dxs = []
    for layer in layers:
        layer.forward(x)  # float64 x is cast to the float32 layer's dtype
        dxs.append(layer.backward(R.astype(layer.dtype)))
    assert dxs[0].dtype == np.float32
    np.testing.assert_allclose(dxs[0], dxs[1], rtol=1e-4, atol=1e-5)
    for name in layers[0].grads:
        assert layers[0].grads[name].dtype == np.float32
        np.testing.assert_allclose(
            layers[0].grads[name], layers[1].grads[name], rtol=1e-4, atol=1e-5, err_msg=name
        )


@pytest.mark.parametrize("variant", LAYER_VARIANTS, ids=LAYER_IDS)
def test_backward_uses_the_cache_and_never_reruns_forward(variant, monkeypatch):
    """Every cell forward the layer runs is counted: backward adds none."""
    from rnnlab import kernels

    calls = []
    select = kernels.select

    def counting_select(*args, **kwargs):
        impl = select(*args, **kwargs)

        def forward(*a, **k):
            calls.append(1)
            return impl.forward(*a, **k)

        return impl._replace(forward=forward)

    monkeypatch.setattr(kernels, "select", counting_select)
    layer, x, state, R, _ = _setup(variant, (3, 2, 2, 3, 2), seed=9)
    layer.forward(x, state)
    assert len(calls) == 1
    layer.backward(R)
    layer.backward(R)
    assert len(calls) == 1
