"""The layers' per-call fast path (rnnlab.fastpath): a repeated input signature skips the full
checks but not the NaN/inf check, and gives exactly the results of the full path."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnlab import GRULayer, LSTMLayer, RNNLayer, fastpath
from rnnlab.kernels.cpu.finite import all_finite
from tests.conftest import LAYER_VARIANTS, rel_error

LAYERS = {name: (cls, extra) for name, cls, extra in LAYER_VARIANTS}
SETTINGS = settings(
    max_examples=8, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


def make(variant, I, H, dtype, backend="auto", **kw):
    cls, extra = LAYERS[variant]
    return cls(I, H, dtype=dtype, seed=3, backend=backend, **extra, **kw)


@pytest.mark.parametrize("variant", list(LAYERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@SETTINGS
@given(
    T=st.integers(1, 5),
    B=st.integers(1, 3),
    I=st.integers(1, 4),
    H=st.integers(1, 6),
    batch_first=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_repeated_signature_matches_full_path_and_reference(
    variant, dtype, T, B, I, H, batch_first, seed
):
    """Later calls (the fast path) give bit for bit what a layer's first call (the full checks)
    gives, and the reference's output, dx and every gradient (float32: output and dx; the
    float32 gradients' parity with the reference is the kernels' own test)."""
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    rng = np.random.default_rng(seed)
    shape = (B, T, I) if batch_first else (T, B, I)
    fast = make(variant, I, H, dtype, batch_first=batch_first)
    ref = make(variant, I, H, dtype, backend="reference", batch_first=batch_first)
    for _ in range(3):
        x = rng.standard_normal(shape).astype(dtype)
        y = fast(x)
        first = make(variant, I, H, dtype, batch_first=batch_first)  # no plan yet
        np.testing.assert_array_equal(y, first(x))
        y_ref = ref(x)
        assert rel_error(y, y_ref) <= rtol
        dy = rng.standard_normal(y_ref.shape).astype(dtype)
        fast.zero_grad()
        ref.zero_grad()
        dx = fast.backward(dy)
        np.testing.assert_array_equal(dx, first.backward(dy))
        np.testing.assert_array_equal(fast._flat_grad, first._flat_grad)
        assert rel_error(dx, ref.backward(dy)) <= rtol
        if dtype == np.float64:
            for name in ref.grads:
                assert rel_error(fast.grads[name], ref.grads[name]) <= rtol, name
    assert fast._input_plan.key[0] == shape


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("variant", ["rnn", "lstm"])
def test_nan_and_inf_still_rejected_on_a_repeated_signature(variant, bad):
    layer = make(variant, 3, 4, np.float32)
    x = np.ones((5, 2, 3), np.float32)
    layer(x)
    layer(x)  # the signature is now remembered
    x_bad = x.copy()
    x_bad[4, 1, 2] = bad
    word = "NaN" if np.isnan(bad) else "inf"
    with pytest.raises(ValueError, match=f"x: expected finite values, got {word}"):
        layer(x_bad)
    layer(x)
    dy = np.ones((5, 2, 4), np.float32)
    layer.backward(dy)
    dy[0, 0, 0] = bad
    with pytest.raises(ValueError, match=f"dy: expected finite values, got {word}"):
        layer.backward(dy)


def test_float64_input_overflowing_float32_is_rejected_on_the_fast_path():
    layer = RNNLayer(2, 3, seed=0)  # float32
    x = np.ones((4, 1, 2))  # float64: cast on every call
    layer(x)
    layer(x)
    with pytest.raises(ValueError, match="x: values too large for float32"):
        layer(np.full((4, 1, 2), 1e300))


def test_new_signature_takes_the_full_checks():
    layer = LSTMLayer(3, 4, seed=0)
    layer(np.ones((5, 2, 3), np.float32))
    with pytest.raises(ValueError, match="x: expected last dimension 3"):
        layer(np.ones((5, 2, 2), np.float32))
    with pytest.raises(TypeError, match="floating-point"):
        layer(np.ones((5, 2, 3), np.int64))
    layer.batch_first = True  # a layout setting changed after the signature was remembered
    x = np.arange(30, dtype=np.float32).reshape(2, 5, 3) / 30
    y = layer(x)
    ref = LSTMLayer(3, 4, seed=0, batch_first=True, backend="reference")
    np.testing.assert_allclose(y, ref(x), rtol=1e-5, atol=1e-6)


def test_single_sequence_and_non_contiguous_inputs():
    layer = GRULayer(3, 4, seed=0)
    ref = GRULayer(3, 4, seed=0, backend="reference")
    base = np.random.default_rng(0).standard_normal((10, 4, 3)).astype(np.float32)
    for x in (base[:, 0], base[:, 1], base[::2], base[1::2]):  # (T, I) and strided (T, B, I)
        for _ in range(2):
            np.testing.assert_allclose(layer(x), ref(x), rtol=1e-5, atol=1e-6)
            dy = np.ones_like(ref(x))
            np.testing.assert_allclose(layer.backward(dy), ref.backward(dy), rtol=1e-5, atol=1e-6)


def test_gradient_of_wrong_shape_is_rejected():
    layer = RNNLayer(2, 3, seed=0, batch_first=True)
    layer(np.ones((4, 5, 2), np.float32))
    with pytest.raises(ValueError, match=r"dy: expected shape \(4, 5, 3\)"):
        layer.backward(np.ones((5, 4, 3), np.float32))


def test_plan_is_not_shared_between_layers():
    a, b = RNNLayer(2, 3, seed=0), RNNLayer(2, 3, seed=0, batch_first=True)
    x = np.ones((4, 5, 2), np.float32)
    a(x)
    assert b(x).shape == (4, 5, 3)
    assert a(x).shape == (4, 5, 3)
    assert a._input_plan.layout.batch_first is False
    assert b._input_plan.layout.batch_first is True


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_finite(dtype):
    x = np.zeros((7, 3, 5), dtype)
    assert all_finite(x)
    assert all_finite(x[::2, :, 1:])
    for bad in (np.nan, np.inf, -np.inf):
        y = x.copy()
        y[6, 2, 4] = bad
        assert not all_finite(y)
        assert not all_finite(y[::2])
    assert all_finite(np.full(3, np.finfo(dtype).max, dtype))
    assert fastpath._finite(np.array([1.0, np.nan], dtype)) is False
