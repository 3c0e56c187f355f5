"""``rnnlab train``: train one model on a task, with progress, a validation figure, a checkpoint."""

from __future__ import annotations

import argparse
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


TRAIN_FILES = (CHECKPOINT_FILE, "validation.png", "metrics.json", "sample.mid")


def apps_names() -> list[str]:
    from rnnlab.apps import names

    return names()


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser(
        "train",
        help="train a model on one of the example applications or your CSV",
        description="Train one recurrent model and write DIR/model.safetensors (checkpoint), "
        "DIR/validation.png and DIR/metrics.json (the held-out metric). csv:PATH trains a "
        "next-value forecaster on a column of your own UTF-8 CSV file (a first row of numbers "
        "is read as data, not as a header); textclass:PATH a text classifier on a CSV with text "
        "and label columns. vowels, motions and chorales need: pip install 'rnnlab[apps]'. "
        "Options left out take the task's defaults (see docs/apps.md).",
    )
    p.add_argument("--task", required=True, help=" | ".join(apps_names()))
    p.add_argument(
        "--cell",
        choices=("rnn", "lstm", "gru"),
        help="the cell (default: gru; chorales trains all three and saves the GRU)",
    )
    p.add_argument("--hidden", type=positive_int, help="hidden size (default: the task's)")
    p.add_argument("--steps", type=positive_int, help="training updates (default: the task's)")
    p.add_argument("--lr", type=positive_float, help="Adam learning rate (default: the task's)")
    p.add_argument(
        "--window", type=positive_int, help="input window of the series tasks (default: 20)"
    )
    p.add_argument(
        "--seq-len", type=positive_int, help="sequence length of adding/copy (default: 20)"
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
    from rnnlab import apps
    from rnnlab.apps._registry import parse

    # Everything is checked before the training starts: the task, the CSV, the output place.
    task, _ = parse(args.task)
    column = _csv_column(args)
    cell = args.cell or "gru"
    out = check_output_dir(
        args.out or f"rnnlab-train/{task.name}-{cell}", "--out", files=TRAIN_FILES
    )
    model, info = apps.train(
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
    written = apps.write_outputs(out, model, info)
    print(apps.summary(info))
    print(f"wrote {out}/" + ", ".join(written))
    return 0
