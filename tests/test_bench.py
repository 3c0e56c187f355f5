"""rnnlab bench: the report's content on a tiny size (timings themselves are never asserted)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnlab import LSTMLayer, bench
from rnnlab.cli import bench as cli_bench
from rnnlab.cli.main import main


def test_report_has_ratios_parity_memory_and_peak():
    report = bench.run([(3, 2, 3, 4)], ("lstm",), budget=0.01)
    (case,) = report["results"]
    assert case["parity"] <= 1e-5
    assert case["repetitions"] >= 5
    for name in ("rnnlab_fwd", "rnnlab_fwdbwd", "rnnlab_infer", "torch_fwd", "torch_fwdbwd"):
        assert case["ms"][name] > 0
    assert case["ratio_infer"] == pytest.approx(
        case["ms"]["rnnlab_infer"] / case["ms"]["torch_fwd"]
    )
    assert len(report["load_average"]["before"]) == 3
    assert case["ratio_fwd"] == pytest.approx(case["ms"]["rnnlab_fwd"] / case["ms"]["torch_fwd"])
    assert report["gemm_peak_gflops"]["used"] > 0
    assert case["gemm_fraction"]["rnnlab"] > 0
    table = bench.format_table(report)
    assert "| lstm | (3, 2, 3, 4) |" in table
    assert "load average" in table
    assert "GEMM peak" in table


def test_rnnlab_activation_bytes_counts_each_buffer_once():
    layer = LSTMLayer(3, 4, seed=0, backend="reference")
    x = np.zeros((5, 2, 3), np.float32)
    layer(x)
    # x + h0 + C0 + gates (5,2,16) + C, tanh_C, h (5,2,4) each; h appears once
    expected = 4 * (5 * 2 * 3 + 2 * 4 + 2 * 4 + 5 * 2 * 16 + 3 * 5 * 2 * 4)
    assert bench.rnnlab_activation_bytes(layer) == expected


def test_torch_activation_bytes_sees_saved_tensors():
    module = torch.nn.GRU(3, 4)
    x = torch.zeros(5, 2, 3)
    assert bench.torch_activation_bytes(torch, module, x) >= x.numel() * 4


def test_flops_count_the_two_products():
    assert bench.forward_flops("lstm", (2, 3, 5, 7)) == 2 * 2 * 3 * 28 * (5 + 7)


def test_sizes_argument_is_checked(capsys):
    with pytest.raises(ValueError, match="T,B,I,H"):
        cli_bench._size("3,2,1")
    assert main(["bench", "--sizes", "2,1,2,3", "--cells", "rnn", "--no-torch", "--quick"]) == 0
    assert "| rnn | (2, 1, 2, 3) |" in capsys.readouterr().out
