"""``rnnlab predict``: continue a series with a model from ``rnnlab train``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ._common import checkpoint_path, positive_int, require_info
from .train import parse_column

if TYPE_CHECKING:
    from ._common import Subparsers


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser(
        "predict",
        help="forecast the next values of a series with a trained checkpoint",
        description="Forecast STEPS values past the end of the training series (or of --csv), "
        "feeding each prediction back in, in the training data's units (the checkpoint keeps "
        "the column and the scaling). Text models: use `rnnlab generate`.",
    )
    p.add_argument(
        "--checkpoint",
        required=True,
        help="model.safetensors from rnnlab train, or the directory train wrote",
    )
    p.add_argument(
        "--steps", type=positive_int, default=10, help="values to forecast (default: 10)"
    )
    p.add_argument("--csv", help="continue this CSV's series instead of the training one")
    p.add_argument(
        "--column",
        help="column name or 0-based index of --csv (default: the column the model was "
        "trained on, else the last column)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Load the checkpoint, read --csv if given, print one forecast value per line."""
    from rnnlab.apps import load_outputs
    from rnnlab.apps.series import forecast
    from rnnlab.data import read_csv_column

    path = checkpoint_path(args.checkpoint)
    if args.csv is None and args.column is not None:
        raise ValueError("--column: applies to --csv only")
    layer, info = load_outputs(path)
    if info.get("kind") == "text":
        raise ValueError(f"checkpoint: {path} is a text model; use rnnlab generate")
    require_info(path, info, "window", "mean", "std", "context")
    series = None
    if args.csv:
        column = parse_column(args.column) if args.column is not None else info.get("column")
        why = f"(the model reads windows of {info['window']} values)"
        found = read_csv_column(args.csv, column, min_length=info["window"], why=why)
        series = found.values
        shown = f"column {found.name!r}" if found.has_header else f"column {found.index}"
        print(f"# {args.csv}: {shown}, {series.size} values", flush=True)
    for k, value in enumerate(forecast(layer, info, args.steps, series), start=1):
        print(f"t+{k}\t{value:.6g}")
    return 0
