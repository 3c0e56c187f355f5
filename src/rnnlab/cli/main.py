"""Entry point of the ``rnnlab`` command: argparse subcommands, and the one place errors end.

A user's mistake never ends in a Python traceback: the library's ValueError, TypeError
(CheckpointError is a ValueError), OSError and the few named user-facing errors become one line
on stderr and exit code 1; argparse's usage errors exit with 2; Ctrl-C exits with 130; a
closed pipe (``rnnlab recommend ... | head``) ends quietly. Any other exception is a bug in
rnnlab and keeps its traceback. ``RNNLAB_TRACEBACK=1`` shows the traceback of every error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from ._common import EXIT_BROKEN_PIPE, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE


def _user_errors() -> tuple[type[BaseException], ...]:
    from rnnlab.backend import DeviceUnavailableError
    from rnnlab.diagnostics import TrainingDivergedError

    # ImportError: an optional dependency is missing (its message says what to install);
    # MemoryError: sizes too large for this machine (--hidden 5000000).
    return (ValueError, TypeError, OSError, ImportError, MemoryError, DeviceUnavailableError,
            TrainingDivergedError)  # fmt: skip


def _describe(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return f"out of memory: {exc or 'the sizes asked for do not fit'}; try smaller sizes"
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc) or type(exc).__name__


def _version() -> str:
    import rnnlab

    return f"rnnlab {rnnlab.__version__}"


def build_parser() -> argparse.ArgumentParser:
    """The ``rnnlab`` parser with every subcommand."""
    from . import bench, compare, demo, generate, gradflow, info, predict, recommend, train

    parser = argparse.ArgumentParser(
        prog="rnnlab",
        description="Recurrent neural networks from scratch: RNN, LSTM and GRU.",
    )
    parser.add_argument(
        "--version", action="version", version=_version(), help="print the version and exit"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # Each subcommand module provides add_parser(subparsers) and run(args) -> exit code.
    for module in (info, demo, compare, recommend, train, predict, generate, gradflow, bench):
        module.add_parser(sub)
    return parser


def _quiet_stdout() -> None:
    # The reader went away: point stdout at /dev/null so that the interpreter's final flush
    # does not print "Exception ignored ... BrokenPipeError" (the Python docs' recipe).
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (a test's capture)
        pass


def _run(args: argparse.Namespace) -> int:
    run: Callable[[argparse.Namespace], int | None] = args.run
    try:
        return int(run(args) or 0)
    except _user_errors() as exc:
        if isinstance(exc, BrokenPipeError):
            raise
        if os.environ.get("RNNLAB_TRACEBACK"):
            raise
        sys.stdout.flush()
        print(f"rnnlab {args.command}: error: {_describe(exc)}", file=sys.stderr)
        return EXIT_ERROR


def main(argv: list[str] | None = None) -> int:
    """Run ``rnnlab ARGV``; returns the exit code (argparse's usage errors raise SystemExit(2))."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        code = _run(args)
        sys.stdout.flush()  # here, not at exit, so that a closed pipe is caught below
        return code
    except KeyboardInterrupt:
        print("\nrnnlab: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE


def entry() -> None:
    """The ``rnnlab`` console script: :func:`main`, then the process exits with its code.

    After Ctrl-C the process leaves at once (``os._exit``) once the output is flushed: a
    KeyboardInterrupt that lands while Numba compiles leaves llvmlite objects whose destructors
    print tracebacks during the interpreter's shutdown, which is the noise the one-line message
    promises to spare (and CPython may then report death by SIGINT instead of 130).
    """
    code = main()
    if code == EXIT_INTERRUPTED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
