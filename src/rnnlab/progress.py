"""``fit``'s progress display: a tqdm bar on a terminal, plain lines anywhere else.

A bar redraws itself with carriage returns, which a log file or CI output keeps as noise; when
stderr is not a terminal each epoch writes one line instead, once it is done.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO


class EpochProgress:
    """Progress of one epoch: ``step(**figures)`` after each batch, ``close(**figures)`` at the
    end (with the epoch's figures, the validation loss among them)."""

    def __init__(self, total: int, desc: str, enabled: bool, stream: TextIO | None = None):
        self.desc, self.enabled = desc, enabled
        self.stream = sys.stderr if stream is None else stream
        self.bar: Any = None
        if enabled and _is_terminal(self.stream):
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="batch", leave=True, file=self.stream)

    def step(self, **figures: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix(figures, refresh=False)
            self.bar.update(1)

    def close(self, **figures: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix(figures, refresh=True)
            self.bar.close()
        elif self.enabled:
            shown = " ".join(f"{k}={v}" for k, v in figures.items())
            print(f"{self.desc}: {shown}", file=self.stream, flush=True)

    def abandon(self) -> None:
        """Close the bar after an error, printing nothing more."""
        if self.bar is not None:
            self.bar.close()


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (OSError, ValueError):  # a closed or detached stream
        return False
