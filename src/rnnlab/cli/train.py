"""``rnnlab train``: train one model on a task, with progress, a validation figure, a checkpoint."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ._common import positive_int, reports_errors


def add_parser(sub):
    p = sub.add_parser(
        "train",
        help="train a model on sine, sunspots, adding, copy, text or your CSV",
        description="Train one recurrent model and write DIR/model.safetensors (checkpoint), "
        "DIR/validation.png and DIR/metrics.json. csv:PATH trains a next-value forecaster on a "
        "column of your own CSV file (header row required).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--task", required=True, help="sine | sunspots | adding | copy | text | csv:PATH"
    )
    p.add_argument("--cell", choices=("rnn", "lstm", "gru"), default="gru")
    p.add_argument("--hidden", type=positive_int, default=32, help="hidden size")
    p.add_argument("--steps", type=positive_int, default=300, help="training updates")
    p.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate")
    p.add_argument("--window", type=positive_int, default=20, help="input window (series tasks)")
    p.add_argument("--seq-len", type=positive_int, default=20, help="length (adding/copy)")
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
    from rnnlab.compare import checkpoint, figures
    from rnnlab.compare.tasks import train_task

    if not args.lr > 0:
        raise ValueError(f"--lr: expected a positive learning rate, got {args.lr}")
    layer, info = train_task(
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
    out = Path(args.out or f"rnnlab-train/{name}-{args.cell}")
    out.mkdir(parents=True, exist_ok=True)
    if info["kind"] == "text":
        from rnnlab.compare.apps import generate
        from rnnlab.data import CharVocab

        info["sample"] = generate(layer, CharVocab(info["vocab"]), "def ", 200, seed=args.seed)
    checkpoint.save(out / "model.safetensors", layer, info)
    figures.figure_training(info, out / "validation.png")
    metrics = {k: v for k, v in info.items() if k not in ("plot", "context", "vocab")}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1), encoding="utf-8")
    _print_summary(info)
    print(f"wrote {out}/model.safetensors, validation.png, metrics.json")
    return 0


def _print_summary(info):
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
