"""Section 2: relative training time (forward, backward, total; RNN = 1.0x).

Cells are timed interleaved inside each repetition (RNN, LSTM, GRU, RNN, ...) so that the noise
of a shared machine hits all of them alike; each repetition gives a ratio to the RNN of the same
repetition, and the report shows the median ratio and its interquartile range.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from .config import GUIDE_TIMING_CONFIG, SMALL_TIMING_CONFIG
from .training import CELL_NAMES, CELLS
from .verdicts import CONFIRMED, REFUTED, verdict

#: The guide's "Training Time (relative)" table.
GUIDE_RELATIVE_TIME = {
    "rnn": {"forward": 1.0, "backward": 1.0, "total": 1.0},
    "lstm": {"forward": 1.8, "backward": 2.2, "total": 2.0},
    "gru": {"forward": 1.5, "backward": 1.8, "total": 1.6},
}
CONFIGS = {"guide": GUIDE_TIMING_CONFIG, "small": SMALL_TIMING_CONFIG}
PHASES = ("forward", "backward", "total")
SMALL_REPS_FACTOR = 4


def _inputs(config, seed=0):
    rng = np.random.default_rng(seed)
    shape = (config["seq_len"], config["batch_size"])
    x = rng.standard_normal((*shape, config["input_size"])).astype(np.float32)
    dy = rng.standard_normal((*shape, config["hidden_size"])).astype(np.float32)
    return x, dy


def time_once(layer: Any, x: np.ndarray, dy: np.ndarray) -> tuple[float, float]:
    """Seconds of one forward and one backward (gradients zeroed outside the clock)."""
    layer.zero_grad()
    start = time.perf_counter()
    layer.forward(x)
    middle = time.perf_counter()
    layer.backward(dy)
    end = time.perf_counter()
    return middle - start, end - middle


def measure(config: dict, cells: Sequence[str], reps: int, warmup: int) -> dict:
    """Raw seconds per cell and phase, ``reps`` interleaved repetitions after ``warmup``."""
    x, dy = _inputs(config)
    layers = {
        c: CELLS[c](config["input_size"], config["hidden_size"], seed=0, dtype=np.float32)
        for c in cells
    }
    seconds: dict[str, dict[str, list[float]]] = {c: {"forward": [], "backward": []} for c in cells}
    for rep in range(warmup + reps):
        for cell, layer in layers.items():
            fwd, bwd = time_once(layer, x, dy)
            if rep >= warmup:
                seconds[cell]["forward"].append(fwd)
                seconds[cell]["backward"].append(bwd)
    for cell in cells:
        s = seconds[cell]
        s["total"] = [f + b for f, b in zip(s["forward"], s["backward"], strict=True)]
    return seconds


def summarise(seconds: dict, cells: Sequence[str]) -> dict:
    """Median ms and relative-to-RNN ratios (median, 25th and 75th percentile per repetition)."""
    rows = {}
    for cell in cells:
        row: dict[str, Any] = {}
        for phase in PHASES:
            own = np.asarray(seconds[cell][phase])
            row[f"{phase}_ms"] = float(np.median(own) * 1e3)
            if "rnn" in seconds:
                ratios = own / np.asarray(seconds["rnn"][phase])
                q25, q50, q75 = np.percentile(ratios, [25, 50, 75])
                row[phase] = {"median": float(q50), "q25": float(q25), "q75": float(q75)}
        rows[cell] = row
    return rows


def run(
    cells: Sequence[str],
    reps: int,
    warmup: int,
    config_names: Sequence[str],
    progress: bool = True,
) -> dict:
    from tqdm.auto import tqdm

    from ..kernels import select

    out: dict[str, Any] = {
        "configs": {},
        "kernels": {c: select(c, "auto", "cpu").name for c in cells},
    }
    for name in tqdm(config_names, desc="timing", disable=not progress, unit="config"):
        config = CONFIGS[name]
        # The small configuration costs ~1 ms a repetition: more of them steady its medians.
        config_reps = reps * SMALL_REPS_FACTOR if name == "small" else reps
        seconds = measure(config, cells, config_reps, warmup)
        out["configs"][name] = {
            "config": config,
            "reps": config_reps,
            "seconds": seconds,
            "summary": summarise(seconds, cells),
        }
    out["verdicts"] = _verdicts(out, cells)
    return out


#: A measured ratio within this fraction of the guide's counts as the guide's.
TOLERANCE = 0.25


def timing_verdict(cell: str, got: dict[str, float], config_name: str) -> dict:
    """The guide's relative training time of ``cell`` against measured ratios ``got[phase]``.

    Confirmed when every phase is within TOLERANCE of the claimed ratio. Budget-limited unless
    measured at the guide's configuration (a smaller one can reverse it).
    """
    claim = GUIDE_RELATIVE_TIME[cell]
    close = all(abs(got[p] - claim[p]) <= TOLERANCE * claim[p] for p in PHASES)
    return verdict(
        f"{CELL_NAMES[cell]} training time {claim['forward']}x forward, "
        f"{claim['backward']}x backward, {claim['total']}x total (RNN = 1.0x)",
        ", ".join(f"{got[p]:.2f}x {p}" for p in PHASES) + f" ({config_name} config)",
        CONFIRMED if close else REFUTED,
        f"within {TOLERANCE:.0%} of each claimed ratio counts as confirmed; timings vary "
        "between runs and machines",
        budget_limited=config_name != "guide",
        timing=True,
    )


def _verdicts(out, cells):
    if "rnn" not in cells:
        return []
    name = "guide" if "guide" in out["configs"] else next(iter(out["configs"]))
    summary = out["configs"][name]["summary"]
    return [
        timing_verdict(cell, {p: summary[cell][p]["median"] for p in PHASES}, name)
        for cell in ("lstm", "gru")
        if cell in cells
    ]
