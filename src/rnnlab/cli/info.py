"""``rnnlab info``: versions, the BLAS in use, whether the GPU path is available and why not."""

from __future__ import annotations

from rnnlab.machine import collect

__all__ = ["add_parser", "collect", "run"]


def add_parser(sub):
    p = sub.add_parser("info", help="versions, BLAS in use, GPU availability")
    p.set_defaults(run=run)


def run(args) -> int:
    for key, value in collect().items():
        print(f"{key:>10}: {value}")
    return 0
