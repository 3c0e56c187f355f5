"""``rnnlab info``: versions, the BLAS in use, whether the GPU path is available and why not."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rnnlab.machine import collect

if TYPE_CHECKING:
    from ._common import Subparsers

__all__ = ["add_parser", "collect", "run"]


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser("info", help="versions, BLAS in use, GPU availability")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print one fact per line."""
    for key, value in collect().items():
        print(f"{key:>10}: {value}")
    return 0
