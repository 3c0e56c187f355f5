"""Forwards under rnnlab.no_grad(): the same outputs and final state, no backward cache."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnnlab
from rnnlab import LSTMLayer, RNNLayer
from rnnlab.inference import InferenceCache, InferenceModeError
from rnnlab.kernels.cpu import buffers
from tests.conftest import LAYER_VARIANTS, rel_error

LAYERS = {name: (cls, extra) for name, cls, extra in LAYER_VARIANTS}
SETTINGS = settings(
    max_examples=8, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


def make(variant, I, H, dtype=np.float32, **kw):
    cls, extra = LAYERS[variant]
    return cls(I, H, dtype=dtype, seed=5, **extra, **kw)


def final(layer):
    state = layer.final_state
    return np.stack(state) if isinstance(state, tuple) else state


@pytest.mark.parametrize("variant", list(LAYERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@SETTINGS
@given(
    T=st.integers(1, 9),
    B=st.integers(1, 3),
    I=st.integers(1, 4),
    H=st.integers(1, 6),
    chunk_bytes=st.sampled_from([1, 200, 1 << 20]),  # one step per chunk, a few, all
    seed=st.integers(0, 2**16),
)
def test_no_grad_matches_reference(variant, dtype, T, B, I, H, chunk_bytes, seed):
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    x = np.random.default_rng(seed).standard_normal((T, B, I)).astype(dtype)
    ref = make(variant, I, H, dtype, backend="reference")
    y_ref = ref(x)
    layer = make(variant, I, H, dtype)
    saved = buffers.INFERENCE_CHUNK_BYTES
    buffers.INFERENCE_CHUNK_BYTES = chunk_bytes
    try:
        with rnnlab.no_grad():
            y = layer(x)
    finally:
        buffers.INFERENCE_CHUNK_BYTES = saved
    assert layer._impl.name == "numba"
    assert isinstance(layer._cache, InferenceCache)
    assert rel_error(y, y_ref) <= rtol
    assert rel_error(final(layer), final(ref)) <= rtol


@pytest.mark.parametrize("variant", list(LAYERS))
@pytest.mark.parametrize("backend", ["auto", "reference"])
def test_backward_after_no_grad_raises_and_final_state_works(variant, backend):
    layer = make(variant, 3, 4, backend=backend, output_size=2)
    x = np.ones((6, 2, 3), np.float32)
    y_train = layer(x)
    state_train = final(layer)
    with rnnlab.no_grad():
        y = layer(x)
    np.testing.assert_array_equal(y, y_train)
    np.testing.assert_array_equal(final(layer), state_train)
    with pytest.raises(InferenceModeError, match=r"backward: the last forward ran under rnnlab"):
        layer.backward(np.ones_like(y))
    with pytest.raises(ValueError, match=r"hidden_states: .*no_grad"):
        _ = layer.hidden_states
    if variant == "lstm":
        with pytest.raises(RuntimeError, match=r"cell_states: .*no_grad"):
            _ = layer.cell_states
    layer(x)  # a training forward again: backward works
    assert layer.backward(np.ones_like(y)).shape == x.shape


def test_no_grad_with_layer_norm_and_lengths_keeps_only_final_state():
    layer = LSTMLayer(3, 4, seed=0, layer_norm=True)
    x = np.random.default_rng(0).standard_normal((7, 3, 3)).astype(np.float32)
    lengths = [7, 2, 5]
    y_train = layer(x, lengths=lengths)
    state_train = final(layer)
    with rnnlab.no_grad():
        y = layer(x, lengths=lengths)
    np.testing.assert_array_equal(y, y_train)
    np.testing.assert_array_equal(final(layer), state_train)
    assert layer._cache.h.shape == (1, 3, 4)
    assert layer._cache.C.shape == (1, 3, 4)


@pytest.mark.parametrize("variant", ["lstm", "gru"])
def test_no_grad_memory_does_not_grow_with_the_sequence(variant):
    """tracemalloc sees every NumPy allocation: a training forward keeps several (T, B, H)
    arrays (LSTM: gates 4H, C, tanh C, h), an inference forward the outputs and one chunk."""
    T, B, I, H = 2000, 4, 3, 32
    x = np.random.default_rng(0).standard_normal((T, B, I)).astype(np.float32)
    outputs = T * B * H * 4
    layer = make(variant, I, H)
    with rnnlab.no_grad():
        layer(x)  # warm: compile, first pool buffers
    peaks = {}
    for grad in (False, True):
        layer._cache = None
        buffers.POOL.clear()
        tracemalloc.start()
        try:
            if grad:
                y = layer(x)
            else:
                with rnnlab.no_grad():
                    y = layer(x)
            peaks[grad] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        del y
    assert peaks[False] <= outputs + buffers.INFERENCE_CHUNK_BYTES + 512 * 1024
    assert peaks[True] >= 3 * outputs  # the training forward's cache, for contrast


def test_no_grad_is_per_thread_and_restored():
    import threading

    layer = RNNLayer(2, 3, seed=0)
    x = np.ones((4, 1, 2), np.float32)
    seen = {}

    def other():
        layer_b = RNNLayer(2, 3, seed=0)
        layer_b(x)
        seen["cache"] = type(layer_b._cache).__name__

    with rnnlab.no_grad():
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        layer(x)
        assert isinstance(layer._cache, InferenceCache)
    assert seen["cache"] == "RNNCache"
    layer(x)
    assert not isinstance(layer._cache, InferenceCache)
