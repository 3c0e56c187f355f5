"""The documentation runs: every ```python block of README.md and docs/ executes as written.

Each block runs alone in a fresh interpreter, in an empty temporary directory, the way a reader
pastes it into a file and runs it; a block that needs a GPU says so on its first line
(``# needs a GPU``) and is skipped where CuPy and a device are missing. Listings that are not
Python (signatures, shell sessions) are fenced as ```text or ```bash, so they are not collected.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import rnnlab

ROOT = Path(__file__).resolve().parents[1]
SRC = str(Path(rnnlab.__file__).resolve().parents[1])
GPU_MARK = "# needs a GPU"
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _blocks() -> list[tuple[str, str]]:
    found = []
    for path in _documents():
        text = path.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{path.relative_to(ROOT)}:{line}", match.group(1)))
    return found


BLOCKS = _blocks()


def _gpu_available() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no CuPy, or a CuPy without a driver
        return False


def test_the_docs_have_python_blocks():
    # Guards the collector itself: a change of fence style must not silently collect nothing.
    assert len(BLOCKS) >= 10
    assert any(where.startswith("README.md") for where, _ in BLOCKS)


@pytest.mark.parametrize(("where", "code"), BLOCKS, ids=[where for where, _ in BLOCKS])
def test_block_is_valid_python(where, code):
    ast.parse(code, filename=where)


@pytest.mark.parametrize(("where", "code"), BLOCKS, ids=[where for where, _ in BLOCKS])
def test_block_runs_as_written(where, code, tmp_path):
    if code.lstrip().startswith(GPU_MARK) and not _gpu_available():
        pytest.skip(f"{where} needs a GPU (CuPy and a CUDA device)")
    script = tmp_path / "block.py"
    script.write_text(code, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=SRC, MPLBACKEND="Agg")
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, f"{where} failed:\n{done.stderr[-3000:]}"
