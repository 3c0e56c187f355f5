"""What ``rnnlab train`` writes for a task: the checkpoint, metrics.json, a figure (and, for the
chorales, a generated MIDI file); and how ``predict`` / ``generate`` read the checkpoint back.

The checkpoint is the model (safetensors, through :mod:`rnnlab.io`) with the task's ``info`` —
scaling, context, vocabulary — in its JSON ``extra``: nothing is unpickled on load.
"""

from __future__ import annotations

import io as stdio
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import io
from ._common import CELL_NAMES

__all__ = ["load_outputs", "summary", "write_outputs"]

#: info keys that are data for plots or for predict/generate, not metrics.
NOT_METRICS = frozenset({"plot", "context", "vocab", "vocabulary", "sample_roll", "loss_curve"})
COLORS = {"rnn": "#d62728", "lstm": "#1f77b4", "gru": "#2ca02c"}


def _plain(value: Any) -> Any:
    """JSON-able copy: NumPy scalars and arrays become Python numbers and lists."""
    return json.loads(json.dumps(value, default=lambda v: v.tolist()))


def metrics_of(info: dict) -> dict:
    """The part of ``info`` that goes into metrics.json."""
    return {k: v for k, v in _plain(info).items() if k not in NOT_METRICS}


def write_outputs(out_dir: str | os.PathLike, model: Any, info: dict) -> list[str]:
    """Write model.safetensors, metrics.json and validation.png (and sample.mid for music)
    into ``out_dir``; returns the file names written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    info = _plain(info)
    io.save_checkpoint(out / "model.safetensors", model, extra=info)
    text = json.dumps(metrics_of(info), indent=1) + "\n"
    io.atomic_write_bytes(out / "metrics.json", text.encode("utf-8"))
    figure(info, out / "validation.png")
    written = ["model.safetensors", "metrics.json", "validation.png"]
    if info.get("kind") == "music":
        from .chorales import write_midi

        write_midi(np.asarray(info["sample_roll"]), out / "sample.mid")
        written.append("sample.mid")
    return written


def load_outputs(path: str | os.PathLike) -> tuple[Any, dict]:
    """(model, info) from a checkpoint written by :func:`write_outputs`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint: {path} does not exist")
    loaded = io.load_checkpoint(path)
    if not loaded.extra or "kind" not in loaded.extra:
        raise ValueError(
            f"checkpoint: {path} holds a model but no task description; was it written by "
            "rnnlab train?"
        )
    return loaded.model, loaded.extra


def summary(info: dict) -> str:
    """One or two lines: the held-out metric against its baseline."""
    kind = info.get("kind")
    if kind == "series":
        return (
            f"held-out RMSE {info['rmse']:.4g} (persistence {info['persistence_rmse']:.4g}, "
            f"{info['test_points']} points)"
        )
    if kind == "memory":
        return (
            f"held-out score {info['score']:.3f} (0 = baseline, 1 = perfect; raw "
            f"{info['raw_metric']:.4g})"
        )
    if kind == "text":
        return (
            f"held-out {info['val_bits_per_char']:.2f} bits/char (unigram "
            f"{info['unigram_bits_per_char']:.2f})\n{info['sample']}"
        )
    if kind == "classifier":
        return (
            f"test accuracy {info['accuracy']:.3f} (baseline {info['baseline_accuracy']:.3f}: "
            f"{info['baseline']})"
        )
    if kind == "translation":
        return (
            f"exact match {info['exact_match']:.3f} on {info['test_pairs']} held-out dates "
            f"(baseline {info['baseline_exact_match']:.3f})"
        )
    cells = ", ".join(
        f"{CELL_NAMES[c]} {r['nll']:.2f} (paper {r['paper_test_nll']:.2f})"
        for c, r in info["cells"].items()
    )
    return f"test NLL per step: {cells}; baseline {info['baseline_nll']:.2f}"


def figure(info: dict, path: str | os.PathLike) -> Path:
    """validation.png: the training loss and a picture of the held-out result."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    cell = info.get("cell", "gru")
    curves = {c: r["loss_curve"] for c, r in info.get("cells", {}).items() if "loss_curve" in r}
    for name, curve in (curves or {cell: info["loss_curve"]}).items():
        label = CELL_NAMES.get(name, name)
        if name in info.get("cells", {}):
            row = info["cells"][name]
            label += f": test {row['nll']:.2f} (paper {row['paper_test_nll']:.2f})"
        axes[0].plot(curve, color=COLORS.get(name, "k"), label=label)
    if curves:
        axes[0].legend(fontsize=8, title="NLL per beat", title_fontsize=8)
    axes[0].set_yscale("log")
    axes[0].set_xlabel("training progress (chunks of updates)")
    axes[0].set_ylabel("training loss")
    axes[0].set_title(info["task"] if curves else f"{info['task']}, {CELL_NAMES.get(cell, cell)}")
    _result_panel(axes[1], info)
    buffer = stdio.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    path = Path(path)
    io.atomic_write_bytes(path, buffer.getvalue())
    return path


def _result_panel(ax: Any, info: dict) -> None:
    kind, plot = info.get("kind"), info.get("plot")
    if plot:
        xs = plot.get("years", range(len(plot["target"])))
        style = "o" if kind == "memory" else "-"
        ax.plot(xs, plot["target"], "k" + style, ms=3, label="target")
        ax.plot(xs, plot["prediction"], style, ms=3, color="C2", label="prediction")
        ax.legend(fontsize=8)
        ax.set_title("held-out data")
    elif kind == "music":
        ax.imshow(np.asarray(info["sample_roll"]).T, aspect="auto", origin="lower", cmap="Greys")
        ax.set_xlabel("beat")
        ax.set_ylabel("key (0 = A0)")
        ax.set_title(f"generated after 8 beats of a test chorale; NLL {info['nll']:.2f}")
    elif kind == "classifier" and "sweep" in info:
        sweep = info["sweep"]
        for k, row in enumerate(sweep):
            ax.plot([k] * len(row["accuracies"]), row["accuracies"], "o", ms=4, color="C2",
                    alpha=0.6)  # fmt: skip
        ax.plot(range(len(sweep)), [r["mean"] for r in sweep], "-", color="C2", label="mean")
        ax.axhline(info["goal"], color="k", ls="--", lw=1, label=f"goal {info['goal']}")
        ax.set_xticks(range(len(sweep)), [f"{r['hidden']}\n({r['parameters']:,})" for r in sweep])
        ax.set_xlabel("hidden size (parameters)")
        ax.set_ylabel("test accuracy, one dot per seed")
        ax.legend(fontsize=8)
    elif kind == "classifier":
        ax.bar(
            ["model", "baseline"],
            [info["accuracy"], info["baseline_accuracy"]],
            color=["C2", "0.6"],
        )
        ax.set_ylim(0, 1)
        ax.set_title(f"test accuracy {info['accuracy']:.3f}")
    else:
        ax.axis("off")
        lines = (
            info.get("sample", "")[:400]
            if kind == "text"
            else "\n".join(
                f"{w!r:>24} -> {g}  ({'ok' if g == t else 'want ' + t})"
                for w, g, t in info.get("examples", [])
            )
        )
        ax.text(0, 0.5, lines, fontsize=7, family="monospace", va="center", wrap=True)
        if kind == "translation":
            ax.set_title(
                f"greedy decoding: exact match {info['exact_match']:.3f} on "
                f"{info['test_pairs']} held-out dates"
            )
