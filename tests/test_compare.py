"""``rnnlab compare --quick`` end to end, its reproducibility, and the pieces it is built from.

Timing claims are measured in the report and never asserted here.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rnnlab
from rnnlab import GRULayer, LSTMLayer, RNNLayer
from rnnlab.compare import limited_data, make_config, run_compare, strip_timings, temporal_order
from rnnlab.compare.gradflow import hidden_gradient_norms
from rnnlab.compare.longmem import make_jobs
from rnnlab.compare.sweep import run_jobs
from rnnlab.compare.training import hidden_for_budget
from rnnlab.compare.verdicts import INCONCLUSIVE, NOT_MEASURED

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    config = make_config("quick", jobs=2, progress=False)
    return out, run_compare(config, out)


def test_quick_run_writes_report_figures_and_json(quick_run):
    out, _results = quick_run
    report = (out / "report.md").read_text()
    for heading in (
        "## 1. Parameters",
        "## 2. Relative training time",
        "## 3. Relative memory",
        "## 4. Long-term memory",
        "## 5. Gradient flow",
        "## 6. CPU versus GPU",
        "## 7. Example applications",
        "## 8. Limited data",
        "## 9. Complex dependencies",
        "## Verdicts",
    ):
        assert heading in report
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["longmem"]["table"].keys() == {"adding", "copy"}
    for name in on_disk["figures"].values():
        assert f"]({name})" in report
        data = (out / name).read_bytes()
        assert data[:8] == PNG_SIGNATURE
        assert b"matplotlib" in data[:4096]  # the Software text chunk matplotlib wrote


def test_parameter_table_holds_the_guides_numbers(quick_run):
    _, results = quick_run
    totals = {(r["cell"], r["input_size"], r["hidden_size"]): r for r in results["params"]["rows"]}
    assert [totals[(c, 1, 8)]["total"] for c in ("rnn", "lstm", "gru")] == [80, 320, 240]
    big = [totals[(c, 10, 50)] for c in ("rnn", "lstm", "gru")]
    assert [r["total"] for r in big] == [3050, 12200, 9150]
    assert [r["W_input"] for r in big] == [500, 2000, 1500]
    assert [r["W_hidden"] for r in big] == [2500, 10000, 7500]
    assert totals[("rnn", 1, 8)]["bytes_float64"] == 640


def test_results_have_relative_rows_for_all_three_cells(quick_run):
    _, results = quick_run
    for config in results["timing"]["configs"].values():
        summary = config["summary"]
        assert summary.keys() == {"rnn", "lstm", "gru"}
        for cell in summary:
            assert {"forward", "backward", "total"} <= summary[cell].keys()
            assert summary["rnn"]["total"]["median"] == 1.0
    relative = results["memory"]["relative"]
    assert relative.keys() == {"rnn", "lstm", "gru"}
    # Weights and gradients are exact: 4x and 3x the RNN's parameters.
    assert relative["lstm"]["weights"] == 4.0
    assert relative["gru"]["gradients"] == 3.0
    # The caches hold h (RNN), gates 4H + C + tanh C + h (LSTM), gates 3H + rh + h (GRU).
    assert relative["lstm"]["activations"] == 7.0
    assert relative["gru"]["activations"] == 5.0
    assert results["gpu"]["gpu"].startswith(("not measured: ", "measured on "))


def test_an_independent_run_reproduces_every_non_timing_number(quick_run, tmp_path):
    """A second run in a fresh interpreter, jobs in-process (the first used a 2-process pool)."""
    out, _ = quick_run
    env = dict(os.environ, PYTHONPATH=str(Path(rnnlab.__file__).resolve().parents[1]))
    subprocess.run(
        [sys.executable, "-m", "rnnlab.cli.main", "compare", "--quick", "--jobs", "1",
         "--no-progress", "--out", str(tmp_path)],
        check=True, capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    first = json.loads((out / "results.json").read_text())
    second = json.loads((tmp_path / "results.json").read_text())
    assert first["config"] | {"jobs": 1} == second["config"]
    a, b = strip_timings(first), strip_timings(second)
    for key in ("figures", "config"):
        a.pop(key), b.pop(key)
    for section in ("sweep", "longmem", "gradflow", "data", "order", "apps", "verdicts"):
        assert a[section] == b[section], section
    assert a == b


def test_quick_run_leaves_budget_limited_verdicts_inconclusive(quick_run):
    _, results = quick_run
    by_claim = {v["claim"]: v for v in results["verdicts"]}
    for v in results["verdicts"]:
        if v.get("budget_limited", True):
            assert v["verdict"] in (INCONCLUSIVE, NOT_MEASURED), v["claim"]
    for claim in (
        "Limited data: GRU",
        "Complex dependencies: LSTM",
        "Extremely long (> 100): LSTM",
    ):
        assert by_claim[claim]["verdict"] == INCONCLUSIVE
    assert by_claim["GRU has 25% fewer parameters than LSTM"]["verdict"] == "confirmed"
    gradient = [v for v in results["verdicts"] if v["claim"].startswith("RNN: after 20 steps")]
    assert [v["budget_limited"] for v in gradient] == [False, False, False]
    assert [v["claim"].split("recurrent init ")[1].split(",")[0] for v in gradient] == [
        "orthogonal",
        "xavier",
        "he",
    ]


def test_quick_run_measures_the_new_sections(quick_run):
    _, results = quick_run
    data, order = results["data"], results["order"]
    assert set(data["table"]) == set(order["table"]) == {"rnn", "lstm", "gru"}
    assert [r["train_size"] for r in data["table"]["gru"]] == [50, 1000]
    assert [r["seq_len"] for r in order["table"]["lstm"]] == [30]
    assert order["classes"] == 8
    assert results["gradflow"]["inits"].keys() == {"orthogonal", "xavier", "he"}
    assert len(results["gradflow"]["inits"]["he"]["rnn"]) == 101


def test_dask_local_cluster_gives_the_same_results_as_the_local_pool():
    from dask.distributed import Client, LocalCluster

    config = make_config(
        "quick", seq_lens=(4,), steps=3, cells=("rnn", "gru"), data_sizes=(5,), order_lens=(12,)
    )
    jobs = make_jobs(config) + limited_data.make_jobs(config) + temporal_order.make_jobs(config)
    local = run_jobs(jobs, workers=2, progress=False)
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        # The address string is what --scheduler passes; run_jobs opens its own client.
        remote = run_jobs(jobs, scheduler=cluster.scheduler_address, progress=False)
        assert client.scheduler_info()["workers"]
    for a, b in zip(local, remote, strict=True):
        a, b = dict(a), dict(b)
        for key in ("seconds", "cpu_seconds"):
            a.pop(key), b.pop(key)
        assert a == b


@pytest.mark.parametrize("cls", [RNNLayer, LSTMLayer, GRULayer])
def test_hidden_gradient_norms_equal_the_layers_own_backward(cls):
    """‖∂L/∂h(t)‖ from the step walk equals the initial-state gradient of the suffix run."""
    rng = np.random.default_rng(0)
    layer = cls(3, 5, 2, seed=1, dtype=np.float64)
    x = rng.standard_normal((7, 4, 3))
    dy_last = rng.standard_normal((4, 2))
    norms = hidden_gradient_norms(layer, x, dy_last)
    layer.forward(x)
    h, C = layer.hidden_states, getattr(layer, "cell_states", None)
    for t in (0, 3, 5):
        state = (h[t], C[t]) if cls is LSTMLayer else h[t]
        y = layer.forward(x[t + 1 :], state)
        dy = np.zeros_like(y)
        dy[-1] = dy_last
        layer.backward(dy)
        dh = layer.grad_initial_state[0] if cls is LSTMLayer else layer.grad_initial_state
        expected = np.linalg.norm(dh, axis=-1).mean()
        np.testing.assert_allclose(norms[7 - 1 - t], expected, rtol=1e-12)


def test_equal_parameter_budget_hidden_sizes():
    for cell, cls in (("rnn", RNNLayer), ("gru", GRULayer), ("lstm", LSTMLayer)):
        hidden = hidden_for_budget(cell, 2, 1, 4000)
        assert cls(2, hidden, 1).num_parameters() <= 4000 < cls(2, hidden + 1, 1).num_parameters()


def test_equal_parameter_budgets_give_every_cell_about_the_lstms_count():
    config = make_config("quick", equal_params=True, seq_lens=(5,), seeds=1)
    jobs = {(j.task, j.cell): j for j in make_jobs(config)}
    lstm = LSTMLayer(2, jobs[("adding", "lstm")].hidden_size, 1).num_parameters()
    assert jobs[("adding", "lstm")].hidden_size == config.hidden_size
    for cell, cls in (("rnn", RNNLayer), ("gru", GRULayer)):
        count = cls(2, jobs[("adding", cell)].hidden_size, 1).num_parameters()
        assert 0.85 * lstm <= count <= lstm
    assert jobs[("adding", "rnn")].hidden_size > jobs[("adding", "gru")].hidden_size > 16


def test_recommend_reads_the_measured_evidence_of_a_report(quick_run, capsys):
    from rnnlab.cli.main import main

    out, results = quick_run
    assert main(["recommend", "--seq-len", "18", "--report", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("GRU")
    assert "at length 20" in text  # the nearest measured length of the quick preset
    gru = results["longmem"]["table"]["adding"]["gru"][1]["mean"]
    assert f"GRU {gru:.2f}" in text
