"""``rnnlab train``: train one model on a task, with progress, a validation figure, a checkpoint."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from ._common import (
    CHECKPOINT_FILE,
    check_output_dir,
    non_negative_int,
    positive_float,
    positive_int,
)

if TYPE_CHECKING:
    from ._common import Subparsers


TRAIN_FILES = (CHECKPOINT_FILE, "validation.png", "metrics.json")


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser(
        "train",
        help="train a model on sine, sunspots, adding, copy, text or your CSV",
        description="Train one recurrent model and write DIR/model.safetensors (checkpoint), "
        "DIR/validation.png and DIR/metrics.json. csv:PATH trains a next-value forecaster on a "
        "column of your own UTF-8 CSV file; a first row of numbers is read as data (no header).",
    )
    p.add_argument(
        "--task", required=True, help="sine | sunspots | adding | copy | text | csv:PATH"
    )
    p.add_argument(
        "--cell", choices=("rnn", "lstm", "gru"), default="gru", help="the cell (default: gru)"
    )
    p.add_argument("--hidden", type=positive_int, default=32, help="hidden size (default: 32)")
    p.add_argument(
        "--steps", type=positive_int, default=300, help="training updates (default: 300)"
    )
    p.add_argument(
        "--lr", type=positive_float, default=1e-2, help="Adam learning rate (default: 0.01)"
    )
    p.add_argument(
        "--window",
        type=positive_int,
        default=20,
        help="input window of the series tasks (default: 20)",
    )
    p.add_argument(
        "--seq-len",
        type=positive_int,
        default=20,
        help="sequence length of adding/copy (default: 20)",
    )
    p.add_argument(
        "--column",
        help="csv:PATH only: column name or 0-based index (default: the last column)",
    )
    p.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed of every random choice (default: 0)"
    )
    p.add_argument("--out", help="output directory (default: rnnlab-train/TASK-CELL)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def parse_column(text: str | None) -> str | int | None:
    """``--column``: a 0-based index when it is digits, else a header name."""
    if text is None:
        return None
    return int(text) if text.isdigit() else text


def _csv_column(args: argparse.Namespace) -> str | int | None:
    """Resolve csv:PATH's column before training, and say which one is used."""
    from rnnlab.data import read_csv_column

    if not args.task.startswith("csv:") or not args.task[4:]:
        if args.column is not None:
            raise ValueError(f"--column: applies to --task csv:PATH only, not {args.task!r}")
        return None
    found = read_csv_column(args.task[4:], parse_column(args.column))
    shown = f"column {found.name!r}" if found.has_header else f"column {found.index} (0-based)"
    chosen = "" if args.column is not None else " (the last; choose another with --column)"
    header = "" if found.has_header else "; row 1 is numbers: no header row, read as data"
    print(f"{args.task[4:]}: {shown}{chosen}, {found.values.size} values{header}", flush=True)
    return found.name if found.has_header else found.index


def run(args: argparse.Namespace) -> int:
    """Train, then write the checkpoint, the validation figure and the metrics."""
    from rnnlab import io
    from rnnlab.compare import checkpoint, figures
    from rnnlab.compare.tasks import parse_task, train_task

    # Everything is checked before the training starts: the task, the CSV, the output place.
    name, _ = parse_task(args.task)
    column = _csv_column(args)
    out = check_output_dir(
        args.out or f"rnnlab-train/{name}-{args.cell}", "--out", files=TRAIN_FILES
    )
    layer, info = train_task(
        args.task,
        cell=args.cell,
        hidden=args.hidden,
        steps=args.steps,
        lr=args.lr,
        seed=args.seed,
        window=args.window,
        seq_len=args.seq_len,
        column=column,
        progress=not args.no_progress,
    )
    if column is not None:
        info["column"] = column  # predict --csv reads the same column by default
    if info["kind"] == "text":
        from rnnlab.compare.apps import generate
        from rnnlab.data import CharVocab

        info["sample"] = generate(layer, CharVocab(info["vocab"]), "def ", 200, seed=args.seed)
    checkpoint.save(out / CHECKPOINT_FILE, layer, info)
    figures.figure_training(info, out / "validation.png")
    metrics = {k: v for k, v in info.items() if k not in ("plot", "context", "vocab")}
    io.atomic_write_bytes(out / "metrics.json", json.dumps(metrics, indent=1).encode("utf-8"))
    _print_summary(info)
    print(f"wrote {out}/{CHECKPOINT_FILE}, validation.png, metrics.json")
    return 0


def _print_summary(info: dict) -> None:
    if info["kind"] == "series":
        print(
            f"held-out RMSE {info['rmse']:.4g} (persistence {info['persistence_rmse']:.4g}, "
            f"{info['test_points']} points)"
        )
    elif info["kind"] == "memory":
        print(
            f"held-out score {info['score']:.3f} (0 = baseline, 1 = perfect; raw "
            f"{info['raw_metric']:.4g})"
        )
    else:
        print(
            f"held-out {info['val_bits_per_char']:.2f} bits/char (unigram "
            f"{info['unigram_bits_per_char']:.2f})\n{info['sample']}"
        )
