"""The library type-checks: mypy over src/rnnlab (configured in pyproject.toml) finds no error.

The annotations are part of the public API (``py.typed`` ships with the package), so an
annotation that lies is a bug a user's type checker would report against us.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_py_typed_ships():
    assert (ROOT / "src" / "rnnlab" / "py.typed").exists()
    assert '"py.typed"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def test_mypy_finds_no_error():
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--config-file", "pyproject.toml"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
