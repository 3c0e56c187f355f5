"""Time series: next-step prediction of a sine wave, next-year sunspots, a user's CSV column.

- ``sine``: the guide's code example, sin(0.1 t), many-to-many on fresh random windows;
  scored by RMSE on held-out windows against persistence ("next value = this value").
- ``sunspots``: yearly sunspot numbers 1700–2008, one year ahead from a 20-year window,
  the last 20% of the years held out; RMSE in sunspots against persistence.
- ``csv:PATH``: the same forecaster on a column of the user's own CSV file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..data import load_csv_series, load_sunspots, make_windows, sine_windows, split_series
from ._common import fit_with_adam, make_layer, subsample

__all__ = ["forecast", "series_of", "train_forecaster", "train_sine", "train_sunspots"]


def train_sine(
    *,
    cell: str = "gru",
    hidden: int = 32,
    steps: int = 300,
    lr: float = 1e-2,
    window: int = 40,
    seed: int = 0,
    progress: bool = False,
) -> tuple[object, dict]:
    """Many-to-many next-step training on random sine windows; returns (layer, result dict)."""
    rng = np.random.default_rng(seed)
    layer = make_layer(cell, 1, hidden, 1, seed=rng)

    def batches(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return sine_windows(32, window, seed=rng, dtype=np.float32)  # (B, T, 1) twice

    fitted = fit_with_adam(
        layer,
        batches,
        updates=steps,
        loss="mse",
        lr=lr,
        seed=rng,
        progress=progress,
    )
    x, y = sine_windows(128, window, seed=np.random.default_rng([seed, 7]), dtype=np.float32)
    x, y = _time_major(x), _time_major(y)  # (T, B, 1), the layer's layout
    prediction = layer.forward(x)
    skip = 5  # the first steps have almost no context
    rmse = float(np.sqrt(np.mean((prediction[skip:] - y[skip:]) ** 2)))
    persistence = float(np.sqrt(np.mean((x[skip:] - y[skip:]) ** 2)))
    return layer, {
        "kind": "series",
        "rmse": rmse,
        "persistence_rmse": persistence,
        "loss_curve": subsample(fitted.step_loss),
        "plot": {"target": y[:, 0, 0].tolist(), "prediction": prediction[:, 0, 0].tolist()},
    }


def train_forecaster(
    series: ArrayLike,
    *,
    cell: str = "gru",
    hidden: int = 32,
    window: int = 20,
    steps: int = 300,
    batch_size: int = 32,
    lr: float = 1e-2,
    seed: int = 0,
    fraction: float = 0.8,
    progress: bool = False,
) -> tuple[object, dict]:
    """Next-value forecaster on a 1-D series, standardised with the training part's statistics.

    The last ``1 - fraction`` of the series is held out (its windows may look back into the
    training years, as a forecaster would). Returns (layer, result dict) with RMSE in the
    series' own units against persistence.
    """
    series = np.asarray(series, dtype=np.float64)
    train, _ = split_series(series, fraction)
    mean, std = float(train.mean()), float(train.std() or 1.0)
    scaled = ((series - mean) / std).astype(np.float32)
    x_samples, y_all = make_windows(scaled, window)  # (N, W, 1), (N, 1)
    x_all = _time_major(x_samples)  # (W, N, 1)
    cut = train.size - window  # windows whose target lies in the training part
    if cut < 1 or cut >= y_all.shape[0]:
        raise ValueError(
            f"series: {series.size} values leave no training or test windows for window {window}"
        )
    rng = np.random.default_rng(seed)
    layer = make_layer(cell, 1, hidden, 1, seed=rng)

    def batches(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        pick = rng.integers(0, cut, size=batch_size)
        return x_samples[pick], y_all[pick]

    fitted = fit_with_adam(
        layer,
        batches,
        updates=steps,
        loss="mse",
        lr=lr,
        seed=rng,
        targets="last",
        progress=progress,
    )
    layer.eval()
    prediction = layer.forward(x_all[:, cut:])[-1, :, 0] * std + mean
    target = y_all[cut:, 0] * std + mean
    persistence = x_all[-1, cut:, 0] * std + mean
    history = fitted.step_loss
    return layer, {
        "kind": "series",
        "rmse": float(np.sqrt(np.mean((prediction - target) ** 2))),
        "persistence_rmse": float(np.sqrt(np.mean((persistence - target) ** 2))),
        "mean": mean,
        "std": std,
        "window": window,
        "test_points": int(target.size),
        "final_loss": float(np.mean(history[-max(1, steps // 10) :])),
        "loss_curve": subsample(history),
        "context": [*x_all[:, -1, 0].tolist(), float(y_all[-1, 0])],  # last window + 1, scaled
        "plot": {"target": target.tolist(), "prediction": prediction.tolist()},
    }


def _time_major(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.swapaxes(a, 0, 1))


def train_sunspots(**options: Any) -> tuple[object, dict]:
    """:func:`train_forecaster` on the yearly sunspot numbers; the plot's x axis is years."""
    years, values = load_sunspots()
    layer, result = train_forecaster(values, **options)
    result["plot"]["years"] = years[-result["test_points"] :].tolist()
    return layer, result


def series_of(
    kind: str, path: Path | None = None, column: str | int | None = None, window: int = 20
) -> np.ndarray:
    """The 1-D series a forecasting task trains on: "sine", "sunspots" or "csv" (``path``)."""
    if kind == "sine":
        return np.sin(0.1 * np.arange(1000.0))
    if kind == "sunspots":
        return load_sunspots()[1]
    # A window needs window + 1 values, and the split needs test windows after the training ones.
    why = f"(window {window}: {window + 1} values for training and as many for testing)"
    if path is None:
        raise ValueError("task: csv:PATH needs a file name after 'csv:'")
    return load_csv_series(path, column, min_length=2 * (window + 1), why=why)


def forecast(layer: Any, info: dict, steps: int, series: ArrayLike | None = None) -> np.ndarray:
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
