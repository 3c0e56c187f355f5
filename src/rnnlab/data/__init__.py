"""Data for the guide's examples and the comparison tasks.

- :func:`sine_windows`: the guide's ``sin(0.1 t)`` as next-step prediction windows.
- :func:`adding_problem`: Hochreiter & Schmidhuber's adding problem (long-term memory).
- :func:`copy_task`: delayed recall of the first symbol after distractors (long-term memory).
- :func:`load_sunspots`: yearly sunspot numbers 1700–2008, shipped as a CSV (public domain).
- :func:`load_pydoc_text`: Python's own help text for character models.
- :func:`load_csv_series`: a user's own series, with errors that name file, row and column;
  :func:`read_csv_column` also says which column it read and whether row 1 was a header.
"""

from .series import (
    CsvColumn,
    load_csv_series,
    load_sunspots,
    make_windows,
    read_csv_column,
    split_series,
)
from .synthetic import ADDING_BASELINE_MSE, adding_problem, as_rng, copy_task, sine_windows
from .text import CharVocab, char_batches, load_pydoc_text

__all__ = [
    "ADDING_BASELINE_MSE",
    "CharVocab",
    "CsvColumn",
    "adding_problem",
    "as_rng",
    "char_batches",
    "copy_task",
    "load_csv_series",
    "load_pydoc_text",
    "load_sunspots",
    "make_windows",
    "read_csv_column",
    "sine_windows",
    "split_series",
]
