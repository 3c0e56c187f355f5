"""``rnnlab train``: train one model on a task, with progress, a validation figure, a checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import positive_int, reports_errors


def apps_names() -> list[str]:
    from rnnlab.apps import names

    return names()


def add_parser(sub):
    p = sub.add_parser(
        "train",
        help="train a model on one of the example applications or your CSV",
        description="Train one recurrent model and write DIR/model.safetensors (checkpoint), "
        "DIR/validation.png and DIR/metrics.json (the held-out metric). csv:PATH trains a "
        "next-value forecaster on a column of your own CSV file (header row required); "
        "textclass:PATH a text classifier on a CSV with text and label columns. vowels, "
        "motions and chorales need: pip install 'rnnlab[apps]'. Options left out take the "
        "task's defaults (see docs/apps.md).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--task", required=True, help=" | ".join(apps_names()))
    p.add_argument("--cell", choices=("rnn", "lstm", "gru"), help="default gru (chorales: all)")
    p.add_argument("--hidden", type=positive_int, help="hidden size (default: the task's)")
    p.add_argument("--steps", type=positive_int, help="training updates (default: the task's)")
    p.add_argument("--lr", type=float, help="Adam learning rate (default: the task's)")
    p.add_argument("--window", type=positive_int, help="input window (series tasks; 20)")
    p.add_argument("--seq-len", type=positive_int, help="length (adding/copy; 20)")
    p.add_argument("--column", help="CSV column name or 0-based index (default: last column)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output directory (default rnnlab-train/TASK-CELL)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=run)


def _column(text):
    if text is None:
        return None
    return int(text) if text.lstrip("-").isdigit() else text


@reports_errors("train")
def run(args) -> int:
    from rnnlab import apps

    if args.lr is not None and not args.lr > 0:
        raise ValueError(f"--lr: expected a positive learning rate, got {args.lr}")
    model, info = apps.train(
        args.task,
        cell=args.cell,
        hidden=args.hidden,
        steps=args.steps,
        lr=args.lr,
        seed=args.seed,
        window=args.window,
        seq_len=args.seq_len,
        column=_column(args.column),
        progress=not args.no_progress,
    )
    name = args.task.split(":")[0]
    out = Path(args.out or f"rnnlab-train/{name}-{info.get('cell', 'gru')}")
    written = apps.write_outputs(out, model, info)
    print(apps.summary(info))
    print(f"wrote {out}/" + ", ".join(written))
    return 0
