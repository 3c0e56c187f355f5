"""Run every section of the comparison and write ``report.md``, the figures and ``results.json``."""

from __future__ import annotations

import datetime
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import (
    apps,
    figures,
    gpu,
    gradflow,
    limited_data,
    longmem,
    memory,
    params,
    report,
    sweep,
    temporal_order,
    timing,
)
from .config import CompareConfig
from .verdicts import at_budget

RESULTS_FILE = "results.json"
REPORT_FILE = "report.md"
#: Keys whose values are wall-clock measurements: everything else reruns identically.
TIMING_KEYS = frozenset({"timing", "gpu", "seconds", "cpu_seconds", "meta", "peak"})


def _json_default(value):
    if isinstance(value, np.integer | np.floating):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def write_json(path: str | Path, data: object) -> None:
    path = Path(path)
    from ..io import atomic_write_bytes  # regular files only, atomic, umask kept

    text = json.dumps(data, indent=1, default=_json_default)
    atomic_write_bytes(os.fspath(path), text.encode("utf-8"))


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _load_average():
    try:
        return list(os.getloadavg())
    except OSError:  # not available on every platform
        return None


def _meta(config):
    from ..machine import collect

    return {
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": collect(),
        "blas_threads": 1,
        "load_average_start": _load_average(),
        "preset": config.preset,
    }


def run_compare(config: CompareConfig, out_dir: str | Path, *, write_figures: bool = True) -> dict:
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

    sweep.load_kernels()  # before the limit, so that it covers the kernels' BLAS too
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
        # The sweep's models, the limited-data and temporal-order models and the example
        # applications are independent jobs of one pool; results come back in this order.
        groups: dict[str, list[Any]] = {
            "sweep": longmem.make_jobs(config),
            "data": limited_data.make_jobs(config),
            "order": temporal_order.make_jobs(config),
            "apps": apps.make_jobs(config),
        }
        jobs = [job for group in groups.values() for job in group]
        done = timed(
            "jobs",
            sweep.run_jobs,
            jobs,
            workers=config.jobs,
            scheduler=config.scheduler,
            progress=progress,
            desc="training",
        )
    by_group, start_at = {}, 0
    for name, group in groups.items():
        by_group[name] = done[start_at : start_at + len(group)]
        start_at += len(group)
    runs = by_group["sweep"]
    results["sweep"] = runs
    results["longmem"] = longmem.run(runs, config)
    with threadpool_limits(limits=1, user_api="blas"):
        results["gradflow"] = timed("gradflow", gradflow.run, runs, config)
    results["data"] = limited_data.run(by_group["data"], config)
    results["order"] = temporal_order.run(by_group["order"], config)
    results["apps"] = apps.collect(by_group["apps"])
    # Other experiments' GRU-against-LSTM evidence (the applications' chorales) joins the sweep's.
    evidence = results["apps"].get("gru_lstm_evidence", [])
    results["special"] = {"verdicts": longmem.special_case_verdicts(results, config, evidence)}
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
    results["verdicts"] = collect_verdicts(results, config.preset)
    write_json(out_dir / RESULTS_FILE, results)
    report.write(results, out_dir / REPORT_FILE)
    return results


SECTIONS = (
    "params",
    "timing",
    "memory",
    "longmem",
    "gradflow",
    "gpu",
    "apps",
    "data",
    "order",
    "special",
)


def collect_verdicts(results: dict, preset: str) -> list[dict]:
    """Every section's verdicts, each tagged with its section, as a ``preset`` run states them.

    Under ``--quick`` a budget-limited verdict is "inconclusive at this budget" (see
    :func:`rnnlab.compare.verdicts.at_budget`); a verdict that does not say whether it is
    budget-limited (the applications') is taken to be.
    """
    out = []
    for section in SECTIONS:
        for verdict in results[section].get("verdicts", []):
            out.append({"section": section, **verdict})
    return at_budget(out, preset)


def strip_timings(data: object) -> object:
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
