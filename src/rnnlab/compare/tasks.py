"""What ``rnnlab train``, ``predict`` and ``generate`` run: one task, one model, a checkpoint.

Tasks: ``sine`` and ``sunspots`` (next-value forecasting), ``csv:PATH`` (the same on a user's
own series), ``adding`` and ``copy`` (the long-term-memory tasks), ``text`` (characters of
Python's help text).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..data import load_csv_series, load_pydoc_text, load_sunspots
from . import apps, sweep
from .training import make_layer, train_many_to_one

TASK_NAMES = ("sine", "sunspots", "adding", "copy", "text", "csv:PATH")
SERIES_TASKS = ("sine", "sunspots", "csv")


def parse_task(spec: str) -> tuple[str, Path | None]:
    """``"csv:data.csv"`` -> ("csv", Path("data.csv")); other names -> (name, None)."""
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"task: expected one of {TASK_NAMES}, got {spec!r}")
    if spec.startswith("csv:"):
        path = Path(spec[4:])
        if not spec[4:]:
            raise ValueError("task: csv:PATH needs a file name after 'csv:'")
        return "csv", path
    if spec not in TASK_NAMES:
        raise ValueError(f"task: expected one of {TASK_NAMES}, got {spec!r}")
    return spec, None


def task_series(
    kind: str, path: Path | None = None, column: str | None = None, window: int = 20
) -> np.ndarray:
    """The 1-D series a forecasting task trains on."""
    if kind == "sine":
        return np.sin(0.1 * np.arange(1000.0))
    if kind == "sunspots":
        return load_sunspots()[1]
    # A window needs window + 1 values, and the split needs test windows after the training ones.
    why = f"(window {window}: {window + 1} values for training and as many for testing)"
    return load_csv_series(path, column, min_length=2 * (window + 1), why=why)


def train_task(
    spec,
    *,
    cell="gru",
    hidden=32,
    steps=300,
    lr=1e-2,
    seed=0,
    window=20,
    seq_len=20,
    column=None,
    progress=True,
):
    """Train a model for ``spec``; returns (layer, info) where info goes into the checkpoint."""
    kind, path = parse_task(spec)
    if kind in SERIES_TASKS:
        series = task_series(kind, path, column, window)
        layer, result = apps.train_forecaster(
            series,
            cell=cell,
            hidden=hidden,
            window=window,
            steps=steps,
            lr=lr,
            seed=seed,
            progress=progress,
            desc=kind,
        )
        info = {"task": spec, "kind": "series", **result}
    elif kind == "text":
        layer, vocab, result = apps.train_text(
            load_pydoc_text(),
            cell=cell,
            hidden=hidden,
            steps=steps,
            lr=lr,
            seed=seed,
            progress=progress,
        )
        info = {"task": spec, "kind": "text", "vocab": vocab.get_config()["chars"], **result}
    else:
        layer, result = train_memory_task(kind, cell, hidden, steps, lr, seed, seq_len, progress)
        info = {"task": spec, "kind": "memory", **result}
    info["cell"] = cell
    return layer, info


def train_memory_task(task, cell, hidden, steps, lr, seed, seq_len, progress):
    input_size, output_size, loss = sweep.task_sizes(task)
    rng = np.random.default_rng(seed)
    layer = make_layer(cell, input_size, hidden, output_size, seed=rng)
    history = train_many_to_one(
        layer,
        lambda rng: sweep.task_samples(task, 32, seq_len, rng),
        updates=steps,
        learning_rate=lr,
        loss=loss,
        rng=rng,
        progress=progress,
    )
    layer.eval()
    x_eval, y_eval = sweep.evaluation_set(task, seq_len, seed)
    y_last = layer.forward(x_eval)[-1]
    score, raw = sweep.score(task, y_last, y_eval)
    shown = y_last[:50, 0] if task == "adding" else y_last[:50].argmax(-1)
    return layer, {
        "seq_len": seq_len,
        "score": score,
        "raw_metric": raw,
        "loss_curve": apps.subsample(history),
        "plot": {
            "target": np.asarray(y_eval[:50]).reshape(-1).tolist(),
            "prediction": np.asarray(shown).reshape(-1).tolist(),
        },
    }


def forecast(layer: Any, info: dict, steps: int, series: Any = None) -> np.ndarray:
    """Continue a series ``steps`` values past its end, feeding predictions back in.

    ``series`` (raw units) replaces the context saved at training time.
    """
    if info.get("kind") != "series":
        raise ValueError(
            f"checkpoint: predict needs a series model, this one is {info.get('kind')}"
        )
    window, mean, std = info["window"], info["mean"], info["std"]
    if series is None:
        context = list(np.asarray(info["context"], dtype=np.float64)[-window:])
    else:
        series = np.asarray(series, dtype=np.float64)
        if series.size < window:
            raise ValueError(f"series: {series.size} values, the model needs {window} to start")
        context = list((series[-window:] - mean) / std)
    layer.eval()
    out = []
    for _ in range(steps):
        x = np.asarray(context[-window:], dtype=layer.dtype)[:, None, None]  # (W, 1, 1)
        nxt = float(layer.forward(x)[-1, 0, 0])
        context.append(nxt)
        out.append(nxt * std + mean)
    return np.asarray(out)
