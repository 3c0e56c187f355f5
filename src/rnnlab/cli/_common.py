"""Helpers the subcommands share: comma-separated lists and errors that end in an exit code."""

from __future__ import annotations

import argparse
import functools
import sys

#: Exit code for bad input found after parsing (argparse itself exits with 2).
EXIT_ERROR = 1


def comma_list(kind=str):
    """An argparse ``type`` for ``"a,b,c"``: a tuple of ``kind`` values, with a clear error."""

    def parse(text):
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
        try:
            return tuple(kind(t) for t in items)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of {kind.__name__}, got {text!r}"
            ) from None

    return parse


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def reports_errors(command):
    """Turn the library's ValueError/TypeError/FileNotFoundError into one line and exit code 1."""

    def wrap(run):
        @functools.wraps(run)
        def guarded(args):
            try:
                return run(args)
            except (ValueError, TypeError, FileNotFoundError, RuntimeError) as exc:
                print(f"rnnlab {command}: error: {exc}", file=sys.stderr)
                return EXIT_ERROR

        return guarded

    return wrap
