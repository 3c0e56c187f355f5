"""Helpers the subcommands share.

- argparse ``type`` functions that refuse a bad value at parse time (a usage error, exit 2):
  negative or zero counts, negative seeds, NaN or infinite floats;
- checks of the places a subcommand will write, made *before* the work starts (creating
  nothing), so that a mistyped ``--out`` costs a second, not a training run;
- the checkpoint a ``--checkpoint`` argument names (the file, or the directory ``train`` wrote).

Errors found after parsing are raised as ValueError; :func:`rnnlab.cli.main.main` turns them
into one line on stderr and exit code 1.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

#: Exit codes: bad input found after parsing, a usage error (argparse's own code), Ctrl-C
#: (128 + SIGINT, as a shell reports it) and a closed pipe (128 + SIGPIPE).
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

#: The checkpoint ``rnnlab train`` writes inside its output directory.
CHECKPOINT_FILE = "model.safetensors"

T = TypeVar("T")

if TYPE_CHECKING:
    # What ``parser.add_subparsers()`` returns and every subcommand's ``add_parser`` receives.
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


class BadArgument(argparse.ArgumentTypeError, ValueError):
    """A value an option refuses.

    argparse reports it as a usage error (exit 2) with this message; called directly, it is a
    ValueError like any other bad input.
    """


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadArgument(f"expected an integer, got {text!r}") from None


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = _integer(text)
    if value < 1:
        raise BadArgument(f"expected an integer >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0 (seeds, optional counts)."""
    value = _integer(text)
    if value < 0:
        raise BadArgument(f"expected an integer >= 0, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (learning rates, temperatures)."""
    try:
        value = float(text)
    except ValueError:
        raise BadArgument(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise BadArgument(f"expected a finite number > 0, got {text!r}")
    return value


def comma_list(kind: Callable[[str], T]) -> Callable[[str], tuple[T, ...]]:
    """argparse type for ``"a,b,c"``: a tuple of ``kind`` values, with a clear error.

    ``kind`` may be ``str``, ``int`` or one of the types above (their message is kept).
    """

    def parse(text: str) -> tuple[T, ...]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise BadArgument(f"expected a comma-separated list, got {text!r}")
        try:
            return tuple(kind(t) for t in items)
        except argparse.ArgumentTypeError as exc:
            raise BadArgument(f"{exc} in {text!r}") from None
        except ValueError:
            raise BadArgument(
                f"expected a comma-separated list of {getattr(kind, '__name__', kind)}, "
                f"got {text!r}"
            ) from None

    return parse


def _refuse_non_file(target: Path, option: str) -> None:
    if (target.exists() or target.is_symlink()) and not target.is_file():
        raise ValueError(
            f"{option}: {target} exists and is not a regular file (a directory?); rnnlab "
            "replaces only regular files: move it away or choose another place"
        )


def _probe_writable(directory: Path, option: str, shown: Path) -> None:
    # Creating a file is the only test that holds for root, ACLs and read-only mounts alike.
    try:
        with tempfile.TemporaryFile(dir=directory, prefix=".rnnlab-probe-"):
            pass
    except OSError as exc:
        what = f"write in {shown}" if shown == directory else f"create the directory {shown}"
        raise ValueError(f"{option}: cannot {what}: {exc.strerror or exc}") from None


def _check_creatable_dir(directory: Path, option: str) -> None:
    """``directory`` exists and is writable, or its nearest existing ancestor lets it be made."""
    if directory.is_dir():
        _probe_writable(directory, option, directory)
        return
    ancestor = directory.absolute()
    while not (ancestor.exists() or ancestor.is_symlink()) and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ValueError(
            f"{option}: cannot create the directory {directory}: {ancestor} is not a directory"
        )
    _probe_writable(ancestor, option, directory)


def check_output_dir(path: str | Path, option: str, files: Iterable[str] = ()) -> Path:
    """Check, before the work starts, the directory a subcommand will write ``files`` into.

    Nothing is created: a file in the directory's place, a directory or device where one of
    ``files`` goes, or a place where the directory cannot be made or written is a ValueError
    naming ``option`` and the path.
    """
    directory = Path(path)
    if (directory.exists() or directory.is_symlink()) and not directory.is_dir():
        raise ValueError(f"{option}: {directory} exists and is not a directory")
    for name in files:
        _refuse_non_file(directory / name, option)
    _check_creatable_dir(directory, option)
    return directory


def check_output_file(path: str | Path, option: str) -> Path:
    """Check, before the work starts, the file a subcommand will write (nothing is created)."""
    target = Path(path)
    _refuse_non_file(target, option)
    _check_creatable_dir(target.parent, option)
    return target


def checkpoint_path(text: str) -> Path:
    """The checkpoint ``--checkpoint`` names: a file, or the directory ``rnnlab train`` wrote."""
    path = Path(text)
    if path.is_dir():
        inside = path / CHECKPOINT_FILE
        if not inside.is_file():
            raise ValueError(
                f"--checkpoint: {path} is a directory with no {CHECKPOINT_FILE} in it; give "
                "the file, or the directory rnnlab train wrote"
            )
        return inside
    if path.exists() and not path.is_file():  # a FIFO or a device: reading could block
        raise ValueError(f"--checkpoint: {path} is not a regular file")
    return path


def require_info(path: Path, info: dict, *keys: str) -> None:
    """Refuse a checkpoint whose task description (``extra``) lacks what a subcommand needs."""
    missing = [k for k in keys if k not in info]
    if missing:
        raise ValueError(
            f"checkpoint: {path} has no {', '.join(map(repr, missing))} in its task description "
            "(extra); was it written by rnnlab train?"
        )
