"""Entry point of the ``rnnlab`` command: argparse subcommands."""

from __future__ import annotations

import argparse
import sys

from . import bench, compare, demo, generate, gradflow, info, predict, recommend, train

# Each subcommand module provides add_parser(subparsers) and run(args) -> exit code.
SUBCOMMANDS = [info, demo, compare, recommend, train, predict, generate, gradflow, bench]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnlab",
        description="Recurrent neural networks from scratch: RNN, LSTM and GRU.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
