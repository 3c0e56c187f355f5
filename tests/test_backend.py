"""Array namespaces, device names, and what ``import rnnlab`` pulls in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rnnlab
from rnnlab.backend import array_device, normalize_device, xp_of


@pytest.mark.parametrize(
    ("spelling", "device"),
    [("cpu", "cpu"), ("CPU", "cpu"), ("cuda", "cuda"), ("cuda:0", "cuda"), ("gpu", "cuda")],
)
def test_device_spellings(spelling, device):
    assert normalize_device(spelling) == device


def test_numpy_arrays_live_on_the_cpu():
    assert xp_of(np.zeros(2), [1.0]) is np
    assert array_device(np.zeros(2)) == "cpu"


def test_import_rnnlab_imports_neither_torch_nor_cupy():
    """torch is a test dependency only and CuPy optional: neither loads with the package."""
    src = str(Path(rnnlab.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src}
    code = (
        "import sys, rnnlab, rnnlab.interop, rnnlab.layers, rnnlab.gpu, rnnlab.cli.main\n"
        "print(sorted(m for m in ('torch', 'cupy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
