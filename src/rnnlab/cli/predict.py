"""``rnnlab predict``: continue a series with a model from ``rnnlab train``."""

from __future__ import annotations

from ._common import positive_int, reports_errors


def add_parser(sub):
    p = sub.add_parser(
        "predict",
        help="forecast the next values of a series with a trained checkpoint",
        description="Forecast STEPS values past the end of the training series (or of --csv), "
        "feeding each prediction back in. Text models: use `rnnlab generate`.",
    )
    p.add_argument("--checkpoint", required=True, help="model.safetensors from rnnlab train")
    p.add_argument("--steps", type=positive_int, default=10, help="values to forecast")
    p.add_argument("--csv", help="continue this CSV's series instead of the training one")
    p.add_argument("--column", help="CSV column name or 0-based index (default: last column)")
    p.set_defaults(run=run)


@reports_errors("predict")
def run(args) -> int:
    from rnnlab.apps import load_outputs
    from rnnlab.apps.series import forecast
    from rnnlab.data import load_csv_series

    layer, info = load_outputs(args.checkpoint)
    if info.get("kind") == "text":
        raise ValueError(f"checkpoint: {args.checkpoint} is a text model; use rnnlab generate")
    series = None
    if args.csv:
        column = args.column
        if column is not None and column.isdigit():
            column = int(column)
        series = load_csv_series(args.csv, column, min_length=info.get("window", 1))
    for k, value in enumerate(forecast(layer, info, args.steps, series), start=1):
        print(f"t+{k}\t{value:.6g}")
    return 0
