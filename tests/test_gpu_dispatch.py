"""GPU launch planning, dispatch and import hygiene: plain Python, no GPU and no simulator."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from rnnlab import cells, kernels
from rnnlab.kernels import gpu
from rnnlab.kernels.gpu import _launch, persistent


@pytest.mark.parametrize("n", [1, 31, 32, 33, 255, 256, 257, 10_000])
def test_launch_config_covers_every_element_with_whole_warps(n):
    blocks, threads = _launch.launch_config(n)
    assert threads % 32 == 0
    assert threads <= _launch.MAX_THREADS_PER_BLOCK
    assert blocks * threads >= n
    assert (blocks - 1) * threads < n  # no block without work


def test_launch_config_rejects_empty_and_odd_block_sizes():
    with pytest.raises(ValueError, match="num_elements"):
        _launch.launch_config(0)
    with pytest.raises(ValueError, match="max_threads"):
        _launch.launch_config(10, max_threads=48)


@pytest.mark.parametrize(
    ("gates", "dtype", "largest"),
    [(1, np.float32, 109), (4, np.float32, 55), (3, np.float32, 63), (4, np.float64, 38)],
)
def test_persistent_plan_fits_shared_memory(gates, dtype, largest):
    """The largest H whose G·H² + 2H values fit in 48 KiB, and the first that does not."""
    blocks, threads, shared = persistent.persistent_plan(gates, largest, 7, dtype)
    assert blocks == 7
    assert threads >= largest
    assert threads % 32 == 0
    assert shared <= persistent.SHARED_MEMORY_BYTES
    assert persistent.persistent_plan(gates, largest + 1, 7, dtype) is None
    assert not persistent.fits(gates, largest + 1, dtype)


def test_cuda_dispatch_falls_back_to_reference_without_a_device():
    usable, reason = gpu.numba_cuda_status()
    assert not usable  # this suite also runs on machines without a GPU; see tests/gpu/
    assert "CUDA" in reason or "numba-cuda" in reason
    impl = kernels.select("lstm", "auto", "cuda")
    assert impl.forward is cells.lstm_forward
    assert impl.name == "reference"


def test_gpu_kernels_have_the_reference_names_and_persistent_flag(monkeypatch):
    for cell in ("rnn", "lstm", "gru"):
        forward, backward = gpu.gpu_kernels(cell, persistent=False)
        assert forward.__module__ == f"rnnlab.kernels.gpu.{cell}"
        assert forward.__name__ == f"{cell}_forward"
        assert backward.__name__ == f"{cell}_backward"
        forward, backward = gpu.gpu_kernels(cell, persistent=True)
        assert forward.__module__ == "rnnlab.kernels.gpu.persistent"
        assert backward.__module__ == f"rnnlab.kernels.gpu.{cell}"
    monkeypatch.setenv(gpu.PERSISTENT_ENV, "1")
    assert gpu.gpu_kernels("lstm")[0] is persistent.lstm_forward
    monkeypatch.setenv(gpu.PERSISTENT_ENV, "0")
    assert gpu.gpu_kernels("lstm")[0].__module__ == "rnnlab.kernels.gpu.lstm"


def test_import_rnnlab_imports_neither_cupy_nor_numba_cuda():
    code = (
        "import sys, json, numpy as np, rnnlab\n"
        "layer = rnnlab.LSTMLayer(2, 3, seed=0)\n"
        "layer.backward(np.ones_like(layer.forward(np.ones((4, 2, 2)))))\n"
        "print(json.dumps({m: m in sys.modules for m in ('cupy', 'numba.cuda')}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {
        "cupy": False,
        "numba.cuda": False,
    }


def test_info_says_which_kernels_a_cuda_layer_would_run():
    from rnnlab.cli.info import collect

    usable, reason = gpu.numba_cuda_status()
    assert not usable
    assert collect()["gpu_kernels"] == f"reference cells on CuPy ({reason})"
