"""The report's figures (matplotlib, Agg backend: no display needed).

Each ``plot_*`` function draws one section onto given axes, so the overview figure reuses them;
each ``figure_*`` function writes one PNG and returns its file name.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .longmem import FAILED
from .training import CELL_NAMES

COLORS = {"rnn": "#d62728", "lstm": "#1f77b4", "gru": "#2ca02c"}
DPI = 110


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out_dir, name):
    path = Path(out_dir) / name
    from io import BytesIO

    from ..io import atomic_write_bytes  # regular files only, atomic, umask kept

    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight",
                metadata={"Software": "matplotlib (rnnlab)"})  # fmt: skip
    atomic_write_bytes(path, buffer.getvalue())  # a reader never sees half a PNG
    _pyplot().close(fig)
    return name


def plot_relative(
    ax: Any,
    measured: dict,
    claims: dict,
    parts: Sequence[str],
    title: str,
    spread: dict | None = None,
) -> None:
    """Grouped bars: measured ratio per cell and part, the guide's claim as a black tick."""
    cells = list(measured)
    width = 0.8 / len(cells)
    for k, cell in enumerate(cells):
        xs = np.arange(len(parts)) + (k - (len(cells) - 1) / 2) * width
        values = [measured[cell][p] for p in parts]
        err = None
        if spread is not None:
            err = np.array(
                [
                    [values[i] - spread[cell][p][0], spread[cell][p][1] - values[i]]
                    for i, p in enumerate(parts)
                ]
            ).T
        ax.bar(xs, values, width, color=COLORS[cell], label=CELL_NAMES[cell], yerr=err, capsize=2)
        ax.scatter(
            xs,
            [claims[cell][p] for p in parts],
            marker="_",
            s=220,
            color="black",
            zorder=3,
            label="guide" if k == 0 else None,
        )
    ax.set_xticks(np.arange(len(parts)), parts)
    ax.axhline(1.0, color="gray", lw=0.5)
    ax.set_ylabel("relative to RNN")
    ax.set_title(title)
    ax.legend(fontsize=8)


def plot_longmem(ax: Any, table: dict, task: str, solved: float) -> None:
    for cell, rows in table[task].items():
        lengths = [r["seq_len"] for r in rows]
        ax.plot(
            lengths, [r["mean"] for r in rows], "o-", color=COLORS[cell], label=CELL_NAMES[cell]
        )
        ax.fill_between(
            lengths,
            [r["min"] for r in rows],
            [r["max"] for r in rows],
            color=COLORS[cell],
            alpha=0.15,
        )
        # Mark where each cell first fails (mean score below the failure threshold).
        failed = next((r for r in rows if r["mean"] < FAILED), None)
        if failed is not None:
            ax.plot(
                failed["seq_len"],
                failed["mean"],
                "X",
                ms=11,
                color=COLORS[cell],
                markeredgecolor="black",
            )
    ax.axhline(solved, color="gray", ls=":", lw=1)
    ax.text(lengths[0], solved + 0.01, "solved", fontsize=7, color="gray")
    ax.axhline(0.0, color="gray", lw=0.5)
    ax.set_xscale("log")
    from matplotlib.ticker import NullFormatter

    ax.set_xticks(lengths, [str(n) for n in lengths])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(-0.15, 1.05)
    ax.set_xlabel("sequence length (steps)")
    ax.set_ylabel("score (0 = baseline, 1 = perfect)")
    names = {"adding": "adding problem", "copy": "delayed recall"}
    ax.set_title(f"{names.get(task, task)}: score vs length (X = first failure)")
    ax.legend(fontsize=8)


def plot_gradflow(ax: Any, profiles: dict[str, list[float]], title: str) -> None:
    """Relative ‖∂L/∂h(T-k)‖ against k on a log scale, with the guide's 0.5^k."""
    longest, lowest = 1, 1.0
    for cell, profile in profiles.items():
        lowest = min(lowest, float(np.min(np.maximum(profile, 1e-30))))
        k = np.arange(len(profile))
        ax.semilogy(k, np.maximum(profile, 1e-30), color=COLORS[cell], label=CELL_NAMES[cell])
        longest = max(longest, len(profile))
    k = np.arange(longest)
    ax.semilogy(k, 0.5**k, "k--", lw=1, label="guide: 0.5^k")
    ax.set_ylim(max(1e-30, min(lowest, 0.5 ** (longest - 1)) / 10), 10)
    ax.set_xlabel("k = steps before the loss")
    ax.set_ylabel("‖∂L/∂h(T-k)‖ / ‖∂L/∂h(T)‖")
    ax.set_title(title)
    ax.legend(fontsize=8)


def figure_timing(results: dict, out_dir: Path) -> str:
    plt = _pyplot()
    configs = results["timing"]["configs"]
    fig, axes = plt.subplots(1, len(configs), figsize=(5.5 * len(configs), 3.8), squeeze=False)
    from .timing import GUIDE_RELATIVE_TIME, PHASES

    for ax, (name, data) in zip(axes[0], configs.items(), strict=True):
        summary = data["summary"]
        measured = {c: {p: summary[c][p]["median"] for p in PHASES} for c in summary}
        spread = {
            c: {p: (summary[c][p]["q25"], summary[c][p]["q75"]) for p in PHASES} for c in summary
        }
        cfg = data["config"]
        title = (
            f"training time, {name}: T{cfg['seq_len']} B{cfg['batch_size']} H{cfg['hidden_size']}"
        )
        plot_relative(ax, measured, GUIDE_RELATIVE_TIME, PHASES, title, spread)
    return _save(fig, out_dir, "timing.png")


def figure_memory(results: dict, out_dir: Path) -> str:
    from .memory import GUIDE_RELATIVE_MEMORY

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    parts = ("weights", "activations", "gradients", "total")
    plot_relative(
        ax,
        results["memory"]["relative"],
        GUIDE_RELATIVE_MEMORY,
        parts,
        "memory (float32, guide config)",
    )
    return _save(fig, out_dir, "memory.png")


def figure_longmem(results: dict, out_dir: Path) -> str:
    plt = _pyplot()
    longmem = results["longmem"]
    tasks = list(longmem["table"])
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        plot_longmem(ax, longmem["table"], task, longmem["solved_threshold"])
    return _save(fig, out_dir, "long_memory.png")


def figure_gradflow(results: dict, out_dir: Path) -> str:
    plt = _pyplot()
    flow = results["gradflow"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    plot_gradflow(axes[0], flow["init"], f"at initialisation ({flow['task']}, T={flow['seq_len']})")
    plot_gradflow(axes[1], flow["trained"], f"after training ({flow['steps']} updates)")
    return _save(fig, out_dir, "gradient_flow.png")


def figure_apps(results: dict, out_dir: Path) -> str:
    plt = _pyplot()
    apps = results["apps"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    sine = apps["sine"]["plot"]
    axes[0].plot(sine["target"], "k-", label="sin(0.1 t), next step")
    axes[0].plot(sine["prediction"], "--", color=COLORS["gru"], label="GRU prediction")
    axes[0].set_title(f"sine: RMSE {apps['sine']['rmse']:.4f}")
    axes[0].legend(fontsize=8)
    spots = apps["sunspots"]["plot"]
    axes[1].plot(spots["years"], spots["target"], "k-", label="observed")
    axes[1].plot(
        spots["years"], spots["prediction"], "--", color=COLORS["gru"], label="GRU, one year ahead"
    )
    axes[1].set_title(
        f"sunspots (held-out years): RMSE {apps['sunspots']['rmse']:.1f} "
        f"vs persistence {apps['sunspots']['persistence_rmse']:.1f}"
    )
    axes[1].legend(fontsize=8)
    return _save(fig, out_dir, "applications.png")


def figure_overview(results: dict, out_dir: Path) -> str:
    """The one picture: where each cell fails, how gradients fade, what it costs."""
    from .memory import GUIDE_RELATIVE_MEMORY
    from .timing import GUIDE_RELATIVE_TIME, PHASES

    plt = _pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    longmem = results["longmem"]
    tasks = list(longmem["table"])
    plot_longmem(axes[0, 0], longmem["table"], tasks[0], longmem["solved_threshold"])
    if len(tasks) > 1:
        plot_longmem(axes[0, 1], longmem["table"], tasks[1], longmem["solved_threshold"])
    else:
        flow = results["gradflow"]
        plot_gradflow(axes[0, 1], flow["trained"], "gradient flow after training")
    configs = results["timing"]["configs"]
    name = "guide" if "guide" in configs else next(iter(configs))
    summary = configs[name]["summary"]
    if "rnn" in summary:
        measured = {c: {p: summary[c][p]["median"] for p in PHASES} for c in summary}
        plot_relative(
            axes[1, 0], measured, GUIDE_RELATIVE_TIME, PHASES, f"training time ({name} config)"
        )
        parts = ("weights", "activations", "gradients", "total")
        plot_relative(
            axes[1, 1], results["memory"]["relative"], GUIDE_RELATIVE_MEMORY, parts, "memory"
        )
    fig.suptitle("rnnlab compare: the guide's claims (black ticks) against measurements")
    fig.tight_layout()
    return _save(fig, out_dir, "overview.png")


def _plot_scores(ax: Any, table: dict, x_key: str) -> list[int]:
    """Mean score (band: min to max over seeds) of each cell against ``x_key``."""
    xs: list[int] = []
    for cell, rows in table.items():
        xs = [r[x_key] for r in rows]
        ax.plot(xs, [r["mean"] for r in rows], "o-", color=COLORS[cell], label=CELL_NAMES[cell])
        ax.fill_between(
            xs, [r["min"] for r in rows], [r["max"] for r in rows], color=COLORS[cell], alpha=0.15
        )
    ax.axhline(FAILED, color="gray", ls=":", lw=1)
    ax.axhline(0.0, color="gray", lw=0.5)
    ax.set_xscale("log")
    from matplotlib.ticker import NullFormatter

    ax.set_xticks(xs, [f"{n:,}" for n in xs])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel("held-out score (0 = baseline, 1 = perfect)")
    ax.legend(fontsize=8)
    return xs


def figure_special_cases(results: dict, out_dir: Path) -> str:
    """Sections 8 and 9: score against training-set size, and on the temporal-order problem."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    data, order = results["data"], results["order"]
    _plot_scores(axes[0], data["table"], "train_size")
    axes[0].axvspan(min(data["sizes"]) * 0.8, data["limited_below"], color="gray", alpha=0.08)
    axes[0].set_xlabel(f"training sequences (adding problem, T = {data['seq_len']})")
    axes[0].set_title('"Limited data: GRU" (shaded: limited)')
    _plot_scores(axes[1], order["table"], "seq_len")
    axes[1].set_xlabel("sequence length (steps)")
    axes[1].set_title(f'"Complex dependencies: LSTM" (temporal order, {order["classes"]} classes)')
    return _save(fig, out_dir, "special_cases.png")


FIGURES = {
    "overview": figure_overview,
    "timing": figure_timing,
    "memory": figure_memory,
    "long_memory": figure_longmem,
    "gradient_flow": figure_gradflow,
    "applications": figure_apps,
    "special_cases": figure_special_cases,
}


def write_all(results: dict, out_dir: Path) -> dict[str, str]:
    """Write every figure; returns {figure: file name relative to out_dir}."""
    return {key: fn(results, out_dir) for key, fn in FIGURES.items()}
