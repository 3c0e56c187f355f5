"""Real series: the yearly sunspot numbers shipped with rnnlab, and a user's own CSV.

Errors name the file, the row (1-based, as a spreadsheet shows it, header included) and the
column, so that a malformed file can be fixed without reading a traceback.
"""

from __future__ import annotations

import csv
import math
import numbers
from importlib import resources
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["load_csv_series", "load_sunspots", "make_windows", "split_series"]

SUNSPOTS_FILE = "sunspots_yearly.csv"


def load_sunspots() -> tuple[np.ndarray, np.ndarray]:
    """Yearly mean sunspot numbers, 1700–2008 (309 values, public domain).

    Source: NOAA National Geophysical Data Center, as redistributed in the statsmodels datasets;
    see docs/data.md.

    Returns
    -------
    years : (309,) int64, sunspots : (309,) float64
    """
    text = resources.files("rnnlab.data").joinpath(SUNSPOTS_FILE).read_text(encoding="utf-8")
    rows = list(csv.reader(text.splitlines()))
    years = np.array([int(r[0]) for r in rows[1:]], dtype=np.int64)
    values = np.array([float(r[1]) for r in rows[1:]], dtype=np.float64)
    return years, values


def _pick_column(path, header, column):
    """Index of ``column`` (a header name or a 0-based index); None picks the last column."""
    if column is None:
        return len(header) - 1
    if isinstance(column, numbers.Integral) and not isinstance(column, bool):
        if not 0 <= column < len(header):
            raise ValueError(
                f"{path}: column index {column} is out of range; the file has {len(header)} "
                f"columns {header}"
            )
        return int(column)
    if isinstance(column, str):
        if column not in header:
            raise ValueError(f"{path}: no column named {column!r}; the header (row 1) has {header}")
        return header.index(column)
    raise TypeError(f"column: expected a name, an index or None, got {column!r}")


def load_csv_series(path, column=None, *, min_length=2, why="") -> np.ndarray:
    """Read one numeric column of a CSV file with a header row.

    Parameters
    ----------
    path : str or Path
    column : str (header name), int (0-based index) or None (the last column)
    min_length : int, the fewest values accepted (a window needs ``window + 1``)
    why : str, the reason for ``min_length``, added to the too-short error

    Returns
    -------
    (N,) float64 array

    Raises
    ------
    FileNotFoundError, or ValueError naming the file, row and column of the first bad cell
    (empty, not a number, NaN or infinite), a missing column, or a series shorter than
    ``min_length``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    rows = [r for r in rows if any(cell.strip() for cell in r)]  # blank lines carry nothing
    if not rows:
        raise ValueError(f"{path}: the file is empty; expected a header row and numbers below it")
    header = [h.strip() for h in rows[0]]
    index = _pick_column(path, header, column)
    name = header[index]
    values = []
    for row_number, row in enumerate(rows[1:], start=2):
        if index >= len(row) or not row[index].strip():
            raise ValueError(f"{path}: row {row_number}, column {name!r}: the cell is empty")
        cell = row[index].strip()
        try:
            value = float(cell)
        except ValueError:
            raise ValueError(
                f"{path}: row {row_number}, column {name!r}: expected a number, got {cell!r}"
            ) from None
        if not math.isfinite(value):
            raise ValueError(
                f"{path}: row {row_number}, column {name!r}: expected a finite number, got {cell!r}"
            )
        values.append(value)
    if len(values) < min_length:
        raise ValueError(
            f"{path}: column {name!r} has {len(values)} values, too short: at least "
            f"{min_length} are needed{' ' + why if why else ''}"
        )
    return np.asarray(values, dtype=np.float64)


def make_windows(
    series: ArrayLike, window: int, *, horizon: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Cut a series into many-to-one training pairs.

    Each input is ``window`` consecutive values, the target the value ``horizon`` steps after the
    window's last one.

    Returns
    -------
    x : (N, window, 1) inputs (samples first, as every data set), y : (N, 1) targets, with
    N = len - window - horizon + 1
    """
    series = np.asarray(series, dtype=np.float64)
    if series.ndim != 1:
        raise ValueError(f"series: expected a 1-D array, got shape {series.shape}")
    for name, value in (("window", window), ("horizon", horizon)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    count = series.size - window - horizon + 1
    if count < 1:
        raise ValueError(
            f"series: {series.size} values are too short for window {window} and horizon "
            f"{horizon} (needs at least {window + horizon})"
        )
    starts = np.arange(count)
    x = series[starts[:, None] + np.arange(window)[None, :]][..., None]  # (N, W, 1)
    y = series[starts + window + horizon - 1][:, None]  # (N, 1)
    return x, y


def split_series(series: ArrayLike, fraction: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """Chronological split (no shuffling: the test years come after the training years)."""
    series = np.asarray(series)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction: expected a number in (0, 1), got {fraction}")
    cut = round(series.size * fraction)
    return series[:cut], series[cut:]
