"""Real series: the yearly sunspot numbers shipped with rnnlab, and a user's own CSV.

Errors name the file, the row (1-based, as a spreadsheet shows it, header included) and the
column, so that a malformed file can be fixed without reading a traceback.
"""

from __future__ import annotations

import csv
import io
import math
import numbers
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "CsvColumn",
    "load_csv_series",
    "load_sunspots",
    "make_windows",
    "read_csv_column",
    "split_series",
]

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


@dataclass(frozen=True)
class CsvColumn:
    """One numeric column of a CSV file, as :func:`read_csv_column` found it."""

    values: np.ndarray  #: (N,) float64
    name: str  #: the header's name, or ``"column K"`` (0-based) when the file has no header
    index: int  #: 0-based column index
    has_header: bool  #: False when row 1 is numbers (then it is data, not a header)


def _pick_column(path: Path, header: list[str] | None, width: int, column: object) -> int:
    """Index of ``column`` (a header name or a 0-based index); None picks the last column."""
    if column is None:
        return width - 1
    if isinstance(column, numbers.Integral) and not isinstance(column, bool):
        column = int(column)
        if not 0 <= column < width:
            shown = f"columns {header}" if header is not None else "columns (no header row)"
            raise ValueError(
                f"{path}: column index {column} is out of range; the file has {width} {shown}"
            )
        return column
    if isinstance(column, str):
        if header is None:
            raise ValueError(
                f"{path}: no column is named {column!r}: the file has no header row (row 1 is "
                "numbers, read as data); give the column's 0-based index instead"
            )
        if column not in header:
            raise ValueError(f"{path}: no column named {column!r}; the header (row 1) has {header}")
        return header.index(column)
    raise TypeError(f"column: expected a name, an index or None, got {column!r}")


def _read_text(path: Path) -> str:
    """The file as text: UTF-8, with or without the byte-order mark Excel writes."""
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, expected a CSV file")
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if not path.is_file():  # a FIFO or a device: reading it could block or never end
        raise ValueError(f"{path}: not a regular file, expected a CSV file")
    data = path.read_bytes()
    if b"\x00" in data[:65536]:
        raise ValueError(f"{path}: looks like a binary file (it holds NUL bytes), not CSV text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValueError(
            f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); save the file "
            "as UTF-8 (in Excel: 'CSV UTF-8')"
        ) from None


def _read_rows(path: Path) -> list[list[str]]:
    reader = csv.reader(io.StringIO(_read_text(path), newline=""))
    try:
        rows = list(reader)
    except csv.Error as exc:  # e.g. a cell over csv.field_size_limit(), an unclosed quote
        raise ValueError(
            f"{path}: line {reader.line_num} is not a readable CSV row ({exc})"
        ) from None
    return [r for r in rows if any(cell.strip() for cell in r)]  # blank lines carry nothing


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def read_csv_column(
    path: str | Path, column: str | int | None = None, *, min_length: int = 2, why: str = ""
) -> CsvColumn:
    """Read one numeric column of a CSV file, and say which column it was.

    Row 1 is a header when any of its cells is not a number; when all are numbers the file has
    no header and row 1 is data (never silently dropped). The file must be UTF-8 (a leading
    byte-order mark, as Excel writes, is fine).

    Parameters
    ----------
    path : str or Path
    column : str (header name), int (0-based index) or None (the last column)
    min_length : int, the fewest values accepted (a window needs ``window + 1``)
    why : str, the reason for ``min_length``, added to the too-short error

    Returns
    -------
    CsvColumn : the (N,) float64 values, the column's name and index, whether a header was read

    Raises
    ------
    FileNotFoundError, or ValueError naming the file (and the row and column of the first bad
    cell: empty, not a number, NaN or infinite), a directory, a binary or non-UTF-8 file, an
    unreadable CSV line, a missing column, or a series shorter than ``min_length``.
    """
    path = Path(path)
    rows = _read_rows(path)
    if not rows:
        raise ValueError(f"{path}: the file is empty; expected a header row and numbers below it")
    has_header = not all(_is_number(cell) for cell in rows[0] if cell.strip())
    header = [h.strip() for h in rows[0]] if has_header else None
    index = _pick_column(path, header, len(rows[0]), column)
    name = header[index] if header is not None else f"column {index}"
    values = []
    first_row = 2 if has_header else 1
    for row_number, row in enumerate(rows[first_row - 1 :], start=first_row):
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
    return CsvColumn(np.asarray(values, dtype=np.float64), name, index, has_header)


def load_csv_series(
    path: str | Path, column: str | int | None = None, *, min_length: int = 2, why: str = ""
) -> np.ndarray:
    """The values of one numeric column of a CSV file: :func:`read_csv_column`'s ``values``."""
    return read_csv_column(path, column, min_length=min_length, why=why).values


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
