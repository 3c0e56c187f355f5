"""The GPU bench without a GPU: it refuses clearly, and its table marks the guide's shape."""

from __future__ import annotations

import pytest

import rnnlab
from rnnlab import backend
from rnnlab import bench_gpu as bench


def test_run_without_a_gpu_says_so_and_measures_nothing(monkeypatch):
    monkeypatch.setattr(backend, "cupy_status", lambda: (None, "CuPy is not installed (test)"))
    monkeypatch.setattr(bench, "cupy_status", backend.cupy_status)
    with pytest.raises(rnnlab.DeviceUnavailableError, match=r"needs a GPU.*CuPy is not installed"):
        bench.run(cells=("lstm",), shapes=[(5, 1, 2, 3)])
    with pytest.raises(rnnlab.DeviceUnavailableError, match="No GPU timing was measured"):
        bench.run()


def test_report_without_a_gpu_is_a_failure_status_and_a_sentence():
    status, text = bench.report(cells=("rnn",), shapes=[(5, 1, 2, 3)])
    assert status == 1
    assert "needs a GPU" in text
    assert "No GPU timing was measured" in text
    assert "ms" not in text  # no table, no number dressed as a timing


def test_the_grid_is_the_cpu_benchs():
    from rnnlab import bench as cpu_bench

    assert bench.GRID == cpu_bench.SIZES
    assert bench.GUIDE_SHAPE in bench.GRID


def test_cli_bench_device_cuda_says_no_gpu_and_fails(capsys):
    from rnnlab.cli.main import main

    status = main(["bench", "--device", "cuda", "--cells", "rnn", "--sizes", "5,1,2,3"])
    out = capsys.readouterr().out
    assert status == 1
    assert "rnnlab bench --device cuda needs a GPU, and none is usable here" in out
    assert "No GPU timing was measured" in out


def test_gpu_status_names_the_missing_piece_here():
    ok, reason = bench.gpu_status()
    assert not ok  # no GPU on the machines this suite runs on; tests/gpu covers a device
    assert "CuPy" in reason or "CUDA" in reason


def test_format_rows_marks_the_guides_shape_and_prints_ratios():
    row = {
        "cell": "lstm", "shape": bench.GUIDE_SHAPE, "kernels": "numba-cuda",
        "ours_fwd": 2.0, "ours_both": 6.0, "torch_fwd": 1.0, "torch_both": 4.0,
        "ratio_fwd": 2.0, "ratio_both": 1.5,
    }  # fmt: skip
    other = row | {"shape": (10, 1, 1, 8), "ratio_fwd": 0.25}
    lines = bench.format_rows([row, other]).splitlines()
    assert lines[1].startswith("lstm  (50, 64, 32, 128)")
    assert lines[1].endswith("*guide")
    assert "2.00 / 1.50" in lines[1]
    assert "*guide" not in lines[2]
    assert "0.25 / 1.50" in lines[2]
    assert "rnnlab time / PyTorch cuDNN time" in lines[-1]
