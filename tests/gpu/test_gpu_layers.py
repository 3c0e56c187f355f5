"""Real-device tests: layers on "cuda" (CuPy, cuBLAS, numba-cuda kernels) against the CPU.

Marked ``gpu``; skipped with the reason when CuPy or a CUDA device is missing (always the case
on the machines rnnlab was written on: these tests have never run; see docs/gpu.md). Run them
on a machine with an NVIDIA GPU::

    pip install -e '.[test,gpu]' && python -m pytest -m gpu tests/gpu -v
"""

from __future__ import annotations

import numpy as np
import pytest

import rnnlab
from rnnlab import kernels
from rnnlab.backend import array_device, cupy_status
from rnnlab.kernels import gpu as gpu_kernels_pkg

_cupy, _reason = cupy_status()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(_cupy is None, reason=_reason)]


def _needs_numba_cuda():
    usable, reason = gpu_kernels_pkg.numba_cuda_status()
    if not usable:
        pytest.skip(reason)


# cuBLAS sums in another order than OpenBLAS and the GPU's expf/tanhf differ from NumPy's by an
# ulp or two; over a few steps of recurrence that stays within these.
RTOL = {np.float64: 1e-10, np.float32: 2e-4}
ATOL = {np.float64: 1e-12, np.float32: 2e-5}

MAKERS = {
    "rnn": lambda **kw: rnnlab.RNNLayer(5, 16, 3, **kw),
    "lstm": lambda **kw: rnnlab.LSTMLayer(5, 16, 3, **kw),
    "gru": lambda **kw: rnnlab.GRULayer(5, 16, 3, **kw),
    "gru_after": lambda **kw: rnnlab.GRULayer(5, 16, 3, reset_after=True, **kw),
}


def _close(device_value, host_value, dtype):
    np.testing.assert_allclose(
        rnnlab.to_device(device_value, "cpu"), host_value, rtol=RTOL[dtype], atol=ATOL[dtype]
    )


def _compare_layers(kind, dtype, backend="auto", batch_size=4):
    rng = np.random.default_rng(0)
    on_gpu = MAKERS[kind](seed=1, dtype=dtype, backend=backend).to("cuda")
    on_cpu = MAKERS[kind](seed=1, dtype=dtype, backend="reference")
    x = rng.standard_normal((7, batch_size, 5)).astype(dtype)
    dy = rng.standard_normal((7, batch_size, 3)).astype(dtype)
    y = on_gpu.forward(rnnlab.to_device(x, "cuda"))
    assert array_device(y) == "cuda"
    _close(y, on_cpu.forward(x), dtype)
    dx = on_gpu.backward(rnnlab.to_device(dy, "cuda"))
    _close(dx, on_cpu.backward(dy), dtype)
    for name, grad in on_cpu.grads.items():
        _close(on_gpu.grads[name], grad, dtype)
    gpu_final, cpu_final = on_gpu.final_state, on_cpu.final_state
    if isinstance(cpu_final, tuple):
        for a, b in zip(gpu_final, cpu_final, strict=True):
            _close(a, b, dtype)
    else:
        _close(gpu_final, cpu_final, dtype)
    return on_gpu


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", list(MAKERS))
def test_reference_cells_on_cupy_match_cpu(kind, dtype):
    _compare_layers(kind, dtype, backend="reference")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", list(MAKERS))
def test_numba_cuda_kernels_match_cpu(kind, dtype):
    _needs_numba_cuda()
    layer = _compare_layers(kind, dtype)
    assert layer._impl.name == "numba-cuda"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", list(MAKERS))
def test_persistent_forward_matches_cpu(kind, dtype, monkeypatch):
    _needs_numba_cuda()
    monkeypatch.setenv(gpu_kernels_pkg.PERSISTENT_ENV, "1")
    layer = _compare_layers(kind, dtype, batch_size=3)
    assert layer._impl.forward.__module__ == "rnnlab.kernels.gpu.persistent"
    assert layer._impl.name == "numba-cuda-persistent"


def _run_cell(cell, forward, backward, a):
    """Forward and backward of one implementation; returns h and the flattened gradients."""
    if cell == "rnn":
        h, cache = forward(a["x"], a["h0"], a["W"], a["U"], a["b"])
        back = backward(a["dh"], a["dh_final"], cache, a["W"], a["U"])
    elif cell == "lstm":
        h, cache = forward(a["x"], a["h0"], a["C0"], a["W"], a["U"], a["b"])
        back = backward(a["dh"], a["dh_final"], a["dh_final"], cache, a["W"], a["U"])
    else:
        b_hn = a["b_hn"] if cell == "gru_after" else None
        h, cache = forward(a["x"], a["h0"], a["W"], a["U"], a["b"], b_hn)
        back = backward(a["dh"], a["dh_final"], cache, a["W"], a["U"], b_hn is not None)
    return h, [g for item in back for g in (item if isinstance(item, tuple) else (item,))]


@pytest.mark.parametrize("persistent", [False, True])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru_before", "gru_after"])
def test_drivers_equal_reference_on_cupy(cell, persistent):
    """Kernel level: the GPU drivers against the reference cells, both on CuPy arrays."""
    _needs_numba_cuda()
    rng = np.random.default_rng(2)
    T, B, I, H = 6, 3, 4, 33  # B·H = 99: a partial last warp
    G = {"rnn": 1, "lstm": 4}.get(cell, 3)
    shapes = {"x": (T, B, I), "h0": (B, H), "C0": (B, H), "W": (G * H, I), "U": (G * H, H)}
    shapes |= {"b": (G * H,), "b_hn": (H,), "dh": (T, B, H), "dh_final": (B, H)}
    a = {k: _cupy.asarray(0.5 * rng.standard_normal(s)) for k, s in shapes.items()}
    name = cell.split("_")[0]
    forward, backward = gpu_kernels_pkg.gpu_kernels(name, persistent=persistent)
    reference = kernels.REFERENCE[name]
    h, grads = _run_cell(cell, forward, backward, a)
    h_ref, grads_ref = _run_cell(cell, reference.forward, reference.backward, a)
    _close(h, h_ref.get(), np.float64)
    assert len(grads) == len(grads_ref)
    for got, expected in zip(grads, grads_ref, strict=True):
        assert array_device(got) == "cuda"
        _close(got, expected.get(), np.float64)


def test_moves_and_wrong_device_errors_with_real_cupy():
    layer = rnnlab.LSTMLayerCUDA(3, 8, 2, seed=0)
    assert layer.device == "cuda"
    assert all(array_device(p) == "cuda" for p in layer.params.values())
    host = rnnlab.LSTMLayer(3, 8, 2, seed=0)
    for name, p in host.params.items():
        np.testing.assert_array_equal(layer.params[name].get(), p)
    x = np.ones((4, 2, 3), np.float32)
    with pytest.raises(ValueError, match=r"x: expected an array on 'cuda'"):
        layer.forward(x)
    steps = rnnlab.to_device(list(x), "cuda")
    y = layer.forward(steps)
    _close(y, host.forward(list(x)), np.float32)
    layer.to_cpu()
    assert all(type(p) is np.ndarray for p in layer.params.values())
    with pytest.raises(ValueError, match=r"x\[0\]: expected an array on 'cpu'"):
        layer.forward(steps)


def test_dispatch_picks_numba_cuda_on_a_gpu(monkeypatch):
    _needs_numba_cuda()
    monkeypatch.delenv(kernels.ENV_VAR, raising=False)
    assert kernels.select("gru", "auto", "cuda").name == "numba-cuda"
    assert kernels.select("gru", "reference", "cuda").name == "reference"
    monkeypatch.setenv(kernels.ENV_VAR, "reference")  # forces the reference everywhere
    assert kernels.select("gru", "auto", "cuda").name == "reference"
