"""Numba's cache of the kernels: an edited helper is never served from stale machine code, and
the first compile says so on stderr (rnnlab.kernels.cpu.cache)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from numba.core import caching
from numba.core.errors import NumbaWarning

import rnnlab
from rnnlab.kernels.cpu import cache

SCRIPT = """
import numpy as np
from rnnlab.kernels.cpu import rnn
x = np.full((1, 1, 1), 0.5)
h, _ = rnn.rnn_forward(x, np.zeros((1, 1)), np.ones((1, 1)), np.zeros((1, 1)), np.zeros(1))
print(repr(float(h[0, 0, 0])))
"""


def run_copy(src: Path, cache_dir: Path) -> tuple[float, str]:
    env = os.environ | {"PYTHONPATH": str(src), "NUMBA_CACHE_DIR": str(cache_dir)}
    env.pop("RNNLAB_BACKEND", None)
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1]), out.stderr


def test_edited_helper_is_recompiled_not_loaded_stale(tmp_path):
    """A copy of the package, its cache filled, then activations.py (a helper the RNN kernel
    inlines; rnn.py itself unchanged) edited: the new behaviour must show."""
    package = Path(rnnlab.__file__).parent
    src = tmp_path / "src"
    shutil.copytree(package, src / "rnnlab", ignore=shutil.ignore_patterns("__pycache__"))
    cache_dir = tmp_path / "numba_cache"
    first, err_first = run_copy(src, cache_dir)
    assert first == np.tanh(0.5)
    assert "compiling the RNN kernels for this machine, once" in err_first
    again, err_again = run_copy(src, cache_dir)  # loaded from the cache: no notice
    assert again == first
    assert "compiling" not in err_again
    helper = src / "rnnlab" / "kernels" / "cpu" / "activations.py"
    text = helper.read_text()
    old = "return lambda x: math.tanh(x)"
    assert old in text
    helper.write_text(text.replace(old, "return lambda x: 0.5 * math.tanh(x)"))
    edited, err_edited = run_copy(src, cache_dir)
    assert edited == 0.5 * np.tanh(0.5)
    assert "compiling the RNN kernels" in err_edited


def test_sources_hash_covers_every_kernel_source(tmp_path):
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text("x = 1\n")
    before = cache.sources_hash(tmp_path)
    (tmp_path / "b.py").write_text("x = 2\n")
    assert cache.sources_hash(tmp_path) != before
    assert cache.sources_hash() == cache.SOURCES_HASH


def test_only_kernel_sources_get_the_locator():
    def f():
        return 1

    assert cache.KernelSourcesLocator.from_function(f, __file__) is None
    assert cache._is_kernel_source(str(cache.PACKAGE_DIR / "rnn.py"))


def test_a_kernel_numba_cannot_cache_is_compiled_with_numba_s_warning():
    """Where a compiled kernel cannot be cached (dynamic globals: every kernel under
    ``NUMBA_OPT=0``), Numba warns, naming the kernel's source file, and runs it uncached. It
    reads that file from the locator, which ours did not have: the compile died with an
    AttributeError from inside Numba."""
    from rnnlab.kernels.cpu import rnn

    impl = caching.CompileResultCacheImpl(rnn._forward_kernel.py_func)
    assert isinstance(impl.locator, cache.KernelSourcesLocator)
    uncachable = SimpleNamespace(
        lifted=(),
        library=SimpleNamespace(has_dynamic_globals=True),
        fndesc=SimpleNamespace(qualname="_forward_kernel"),
    )
    with pytest.warns(NumbaWarning, match="Cannot cache compiled function") as warned:
        assert impl.check_cachable(uncachable) is False
    assert Path(warned[0].filename) == Path(rnn.__file__)
