"""Subprocess helpers: run this checkout's ``rnnlab`` as a separate process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")


def environment() -> dict[str, str]:
    """The environment of a subprocess that imports this checkout's rnnlab."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, env.get("PYTHONPATH")) if p)
    env.pop("RNNLAB_TRACEBACK", None)
    return env


def rnnlab_command(*argv: str) -> list[str]:
    """The ``rnnlab`` console script, as a command line (its entry point is ``main``)."""
    return [sys.executable, "-m", "rnnlab.cli.main", *argv]


def run_rnnlab(*argv: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        rnnlab_command(*argv),
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
