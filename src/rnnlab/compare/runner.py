"""Run every section of the comparison and write ``report.md``, the figures and ``results.json``."""

from __future__ import annotations

import datetime
import json
import os
import time
from pathlib import Path

import numpy as np

from . import apps, figures, gpu, longmem, memory, params, report, sweep, timing
from .config import CompareConfig

RESULTS_FILE = "results.json"
REPORT_FILE = "report.md"
#: Keys whose values are wall-clock measurements: everything else reruns identically.
TIMING_KEYS = frozenset({"timing", "gpu", "seconds", "meta", "peak"})


def gradient_flow_section(results, config) -> dict:
    """Profiles of the sweep's seed-0 models on the first task at the longest length <= 100."""
    task = config.tasks[0]
    lengths = [n for n in config.seq_lens if n <= 100] or list(config.seq_lens)
    seq_len = max(lengths)
    picked = {
        r["cell"]: r for r in results if (r["task"], r["seq_len"], r["seed"]) == (task, seq_len, 0)
    }
    init = {c: picked[c]["gradflow_init"] for c in config.cells}
    trained = {c: picked[c]["gradflow_trained"] for c in config.cells}
    k = min(20, seq_len - 1)
    return {
        "task": task,
        "seq_len": seq_len,
        "steps": config.steps,
        "init": init,
        "trained": trained,
        "k": k,
        "verdicts": _gradflow_verdicts(init, trained, k, seq_len),
    }


def _rate(profile, k):
    """Geometric per-step factor that reproduces the decay over k steps."""
    value = max(profile[k], 1e-300)
    return value ** (1.0 / k) if k > 0 else 1.0


def _gradflow_verdicts(init, trained, k, seq_len):
    verdicts = []
    claim_value = 0.5**k
    if "rnn" in init:
        got = {name: prof["rnn"][k] for name, prof in (("init", init), ("trained", trained))}
        within = all(claim_value / 10 <= v <= claim_value * 10 for v in got.values())
        vanishes = all(v < 1e-2 for v in got.values())
        verdicts.append(
            {
                "claim": f"RNN: after {k} steps the gradient ≈ 0.5^{k} = {claim_value:.1e} "
                "(vanishes)",
                "measured": f"‖∂L/∂h(T-{k})‖/‖∂L/∂h(T)‖ = {got['init']:.2e} at init "
                f"(per step {_rate(init['rnn'], k):.2f}), {got['trained']:.2e} after training "
                f"(per step {_rate(trained['rnn'], k):.2f})",
                "verdict": "confirmed" if within else "partly confirmed" if vanishes else "refuted",
                "note": "confirmed = within a factor 10 of 0.5^k; partly = vanishes (< 1e-2) at "
                "another rate",
            }
        )
    if "lstm" in init and "rnn" in init:
        last = seq_len - 1

        def keeps(profiles):
            return (
                profiles["lstm"][last] > 1e-3
                and profiles["lstm"][last] > 100 * profiles["rnn"][last]
            )

        def shown(profiles):
            return ", ".join(f"{c.upper()} {p[last]:.1e}" for c, p in profiles.items())

        kept = [keeps(init), keeps(trained)]
        verdicts.append(
            {
                "claim": "LSTM: the cell state keeps the gradient over 100+ steps (no vanishing)",
                "measured": f"‖∂L/∂h‖ ratio {last} steps back, at init: {shown(init)}; after "
                f"training: {shown(trained)}",
                "verdict": "confirmed"
                if all(kept)
                else "partly confirmed"
                if any(kept)
                else "refuted",
                "note": "kept = LSTM keeps > 1e-3 of the gradient and > 100x the RNN's; "
                "partly = at init or after training only",
            }
        )
    return verdicts


def _json_default(value):
    if isinstance(value, np.integer | np.floating):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def write_json(path, data):
    path = Path(path)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=_json_default), encoding="utf-8")
    os.replace(tmp, path)


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _load_average():
    try:
        return list(os.getloadavg())
    except OSError:  # not available on every platform
        return None


def _meta(config):
    from ..cli.info import collect

    return {
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": collect(),
        "blas_threads": 1,
        "load_average_start": _load_average(),
        "preset": config.preset,
    }


def run_compare(config: CompareConfig, out_dir, *, write_figures=True) -> dict:
    """Measure everything ``config`` asks for and write the report into ``out_dir``.

    ``write_figures=False`` skips the PNGs (they hold no numbers of their own): the report then
    links figures that are not there; only tests use it.
    """
    from threadpoolctl import threadpool_limits

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    cpu_start = _cpu_seconds()
    progress = config.progress
    # One BLAS thread everywhere: on a shared 2-core machine multi-threaded OpenBLAS on these
    # small matrices ran 3-5x slower, and thread counts change float rounding between runs.
    results = {"meta": _meta(config), "config": config.to_dict()}
    clock = {}

    def timed(name, fn, *args, **kwargs):
        begin = time.perf_counter()
        value = fn(*args, **kwargs)
        clock[name] = time.perf_counter() - begin
        return value

    with threadpool_limits(limits=1, user_api="blas"):
        results["params"] = timed("params", params.run, config.cells)
        results["memory"] = timed("memory", memory.run, config.cells)
        # Timings run alone, before the pool starts, so the training jobs do not disturb them.
        results["timing"] = timed(
            "timing",
            timing.run,
            config.cells,
            config.timing_reps,
            config.timing_warmup,
            config.timing_configs,
            progress=progress,
        )
        results["gpu"] = timed("gpu", gpu.run, config.cells, reps=max(3, config.timing_reps // 3))
        # The sweep's models and the example applications are independent jobs of one pool.
        jobs = longmem.make_jobs(config) + apps.make_jobs(config)
        done = timed(
            "jobs",
            sweep.run_jobs,
            jobs,
            workers=config.jobs,
            scheduler=config.scheduler,
            progress=progress,
            desc="training",
        )
    runs = [r for r in done if "app" not in r]
    results["sweep"] = runs
    results["longmem"] = longmem.run(runs, config)
    results["gradflow"] = gradient_flow_section(runs, config)
    results["apps"] = apps.collect([r for r in done if "app" in r])
    results["special"] = {"verdicts": special_case_verdicts(results, config)}
    if write_figures:
        results["figures"] = timed("figures", figures.write_all, results, out_dir)
    else:
        results["figures"] = dict.fromkeys(figures.FIGURES, "not-written.png")
    results["meta"]["section_seconds"] = clock
    results["meta"]["wall_seconds"] = time.perf_counter() - start
    # On a shared machine the wall time depends on everyone else; CPU seconds (this process and
    # its finished worker processes) and the load average say how much of it was ours.
    results["meta"]["cpu_seconds"] = _cpu_seconds() - cpu_start
    results["meta"]["load_average_end"] = _load_average()
    results["verdicts"] = collect_verdicts(results)
    write_json(out_dir / RESULTS_FILE, results)
    report.write(results, out_dir / REPORT_FILE)
    return results


SECTIONS = ("params", "timing", "memory", "longmem", "gradflow", "gpu", "apps", "special")


def special_case_verdicts(results, config) -> list[dict]:
    """The decision tree's special cases: need speed, general purpose, limited data, complex."""
    verdicts = []
    configs = results["timing"]["configs"]
    name = "guide" if "guide" in configs else next(iter(configs))
    summary = configs[name]["summary"]
    if {"rnn", "lstm", "gru"} <= set(summary):
        total = {c: summary[c]["total_ms"] for c in summary}
        fastest = min(total, key=total.get)
        ok = fastest == "rnn" and total["gru"] < total["lstm"]
        verdicts.append(
            {
                "claim": "Need speed: RNN or GRU (RNN fastest, GRU faster than LSTM)",
                "measured": ", ".join(f"{c.upper()} {t:.1f} ms" for c, t in total.items())
                + f" per training step ({name} config)",
                "verdict": "confirmed" if ok else "refuted",
                "timing": True,
            }
        )
    table = results["longmem"]["table"]
    if {"rnn", "lstm", "gru"} <= set(config.cells):
        cells_ = [(t, i) for t in table for i in range(len(config.seq_lens))]
        near_best = sum(
            table[t]["gru"][i]["mean"] >= max(table[t][c][i]["mean"] for c in table[t]) - 0.05
            for t, i in cells_
        )
        verdicts.append(
            {
                "claim": "General purpose: GRU (start with GRU; it works for 80% of tasks)",
                "measured": f"GRU within 0.05 of the best cell in {near_best}/{len(cells_)} "
                "(task, length) cells",
                "verdict": "confirmed"
                if near_best >= 0.8 * len(cells_)
                else "partly confirmed"
                if near_best >= 0.5 * len(cells_)
                else "refuted",
            }
        )
    for claim in ("Limited data: GRU", "Complex dependencies: LSTM"):
        verdicts.append(
            {
                "claim": claim,
                "measured": "not part of this comparison (every model sees fresh data each update)",
                "verdict": "not measured",
            }
        )
    return verdicts


def collect_verdicts(results) -> list[dict]:
    out = []
    for section in SECTIONS:
        for verdict in results[section].get("verdicts", []):
            out.append({"section": section, **verdict})
    return out


def strip_timings(data):
    """``data`` without wall-clock values: what two runs with the same seed must agree on."""
    if isinstance(data, dict):
        return {
            k: strip_timings(v)
            for k, v in data.items()
            if k not in TIMING_KEYS and not (isinstance(v, dict) and v.get("timing") is True)
        }
    if isinstance(data, list):
        return [
            strip_timings(v) for v in data if not (isinstance(v, dict) and v.get("timing") is True)
        ]
    return data
