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
    assert case["ratio_padded"] == pytest.approx(
        case["ms"]["rnnlab_padded"] / case["ms"]["rnnlab_fwdbwd"]
    )
    assert report["gemm_peak_gflops"]["used"] > 0
    assert case["gemm_fraction"]["rnnlab"] > 0
    table = bench.format_table(report)
    assert "| lstm | (3, 2, 3, 4) |" in table
    assert "load average" in table
    assert "GEMM peak" in table
    from rnnlab.kernels.cpu import packed

    assert report["mkl_packed"] == packed.available()
    assert ("MKL packed" in table) == packed.available()


def test_padded_lengths_vary_and_keep_the_full_length():
    lengths = bench.padded_lengths(50, 16)
    assert lengths is not None
    assert lengths.shape == (16,)
    assert lengths.max() == 50
    assert lengths.min() >= 25
    assert len(set(lengths.tolist())) > 1
    assert bench.padded_lengths(50, 1) is None  # one sequence: nothing to pad
    single = bench.run([(3, 1, 3, 4)], ("gru",), budget=0.01, use_torch=False)
    (case,) = single["results"]
    assert case["ratio_padded"] is None
    assert "rnnlab_padded" not in case["ms"]


def test_measurements_do_not_always_follow_the_same_one():
    names = ["rnnlab_fwd", "rnnlab_fwdbwd", "rnnlab_infer", "torch_fwd", "torch_fwdbwd"]
    orders = bench.measurement_orders(names, 20)
    assert all(sorted(order) == sorted(names) for order in orders)  # each measured once a rep
    flat = [name for order in orders for name in order]
    for name in names:
        before = {flat[k - 1] for k in range(1, len(flat)) if flat[k] == name}
        assert len(before) >= 3, (name, before)  # a rotation of one order gives exactly 1


def test_budget_option_is_checked(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--budget", "-1", "--no-torch", "--quick"])
    assert "--budget" in capsys.readouterr().err
    args = ["bench", "--sizes", "2,1,2,3", "--cells", "gru", "--no-torch", "--budget", "0.01"]
    assert main(args) == 0
    assert "| gru | (2, 1, 2, 3) |" in capsys.readouterr().out


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


def test_fit_bench_reports_both_sides_and_the_load():
    from rnnlab import bench_fit

    report = bench_fit.run_fit(sizes=[(64, 5, 2, 4)], cells=("gru",), repeats=1)
    (row,) = report["rows"]
    assert set(row["s"]) == {"rnnlab", "torch_1", "torch_2"}
    assert all(v > 0 for v in row["s"].values())
    assert row["ratio"] == pytest.approx(
        row["s"]["rnnlab"] / min(row["s"]["torch_1"], row["s"]["torch_2"])
    )
    table = bench_fit.format_fit(report)
    assert "| gru | (64, 5, 2, 4) |" in table
    assert "load average" in table


def test_fit_data_is_many_to_one():
    from rnnlab import bench_fit

    X, Y = bench_fit.make_data((10, 4, 3, 5))
    assert X.shape == (10, 4, 3)
    assert Y.shape == (10, 1)
    np.testing.assert_allclose(Y[:, 0], X[:, :, 0].sum(axis=1) / 2, rtol=1e-6)


def test_quick_fit_sizes_keep_the_shapes():
    from rnnlab import bench_fit

    quick = bench_fit.quick_sizes()
    assert [q[1:] for q in quick] == [s[1:] for s in bench_fit.FIT_SIZES]
    assert all(q[0] * 8 == s[0] for q, s in zip(quick, bench_fit.FIT_SIZES, strict=True))


def test_each_timed_call_follows_its_own_untimed_calls():
    """The timed call is the last of a series of calls of the same measurement lasting at
    least PRIME_S, so that what ran before it (the other library) is out of the way."""
    import time

    from rnnlab import bench

    starts = []

    def fn():
        starts.append(time.perf_counter())
        time.sleep(0.001)

    ms = bench._primed(fn)
    assert len(starts) >= 3  # at least one untimed call, then the timed one
    assert starts[-1] - starts[0] >= bench.PRIME_S
    assert 1.0 <= ms < 1000.0  # the timed call: the sleep, in milliseconds
