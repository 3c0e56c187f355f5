"""The guide's CUDA names and device moves on a machine without CuPy: a clear error, no change.

Where CuPy and a device are present (the GPU issue's machines) the same calls must succeed
instead; tests/gpu/ checks the numbers there.
"""

from __future__ import annotations

import numpy as np
import pytest

import rnnlab
from rnnlab import DeviceUnavailableError, GRULayerCUDA, LSTMLayerCUDA, RNNLayerCUDA
from rnnlab.backend import cupy_status

GPU_AVAILABLE = cupy_status()[0] is not None


@pytest.mark.parametrize("factory", [RNNLayerCUDA, LSTMLayerCUDA, GRULayerCUDA])
def test_cuda_layer_names(factory):
    assert factory.__name__.endswith("LayerCUDA")
    if GPU_AVAILABLE:
        assert factory(3, 4, 2).device == "cuda"
        return
    with pytest.raises(DeviceUnavailableError, match=r"GPU .*unavailable: CuPy is"):
        factory(3, 4, 2)


@pytest.mark.parametrize("move", ["to_cuda", "to_gpu", "to_gpu_spelling"])
def test_moving_a_layer_without_a_gpu_leaves_it_working_on_the_cpu(move):
    layer = rnnlab.LSTMLayer(3, 4, seed=0)
    x = np.ones((2, 1, 3), dtype=np.float32)
    before = layer(x)
    call = {
        "to_cuda": lambda: layer.to("cuda"),
        "to_gpu": layer.to_gpu,
        "to_gpu_spelling": lambda: layer.to("GPU:0"),
    }[move]
    if GPU_AVAILABLE:
        assert call().device == "cuda"
        return
    with pytest.raises(DeviceUnavailableError, match="CuPy") as info:
        call()
    assert isinstance(info.value, RuntimeError)
    assert layer.device == "cpu"
    np.testing.assert_array_equal(layer(x), before)
    assert layer.to("cpu") is layer
    assert layer.to_cpu() is layer


def test_to_device_without_a_gpu():
    steps = [np.zeros((1, 1)), np.ones((1, 1))]
    back = rnnlab.to_device(steps, "cpu")
    assert isinstance(back, list)
    np.testing.assert_array_equal(back[1], steps[1])
    if not GPU_AVAILABLE:
        with pytest.raises(DeviceUnavailableError, match="CuPy"):
            rnnlab.to_device(steps, "cuda")
