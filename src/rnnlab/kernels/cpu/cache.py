"""Numba's on-disk cache for the kernels: never stale, and a word when it has to compile.

Stale code. Numba keys a cached function on the contents of *its own* source file only, so after
an edit of a helper that kernels call and inline (``activations.py``, ``matmul.py``, ``carry.py``)
the old machine code was loaded and an edited helper could test green. Here every kernel
function's cache entry is stamped with a hash of *all* the sources in this package as well:
any edit to any of them makes every entry stale, and Numba recompiles (and overwrites the index)
on first use. The cache's place is Numba's usual one (``NUMBA_CACHE_DIR``, else ``__pycache__``
beside the sources, else the user-wide cache directory).

First use. Compiling a cell's forward and backward takes seconds (measured by ``rnnlab
bench``); the first call that compiles a cell's kernels says so once on stderr, so that a pause
on first use is not mistaken for a hang.

Both are installed by importing this package (:mod:`rnnlab.kernels.cpu`), before any kernel
module is imported and so before any kernel is decorated.
"""

from __future__ import annotations

import hashlib
import sys
import threading
from pathlib import Path

from numba.core import caching, event

PACKAGE_DIR = Path(__file__).resolve().parent
CELL_NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
COMPILE_SECONDS_HINT = "~5 s"  # a cell's forward and backward on the 2-core benchmark machine


def sources_hash(directory: Path = PACKAGE_DIR) -> str:
    """SHA-256 over the names and contents of every ``.py`` file of the kernel package."""
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


SOURCES_HASH = sources_hash()


def _is_kernel_source(py_file: str) -> bool:
    try:
        return Path(py_file).resolve().parent == PACKAGE_DIR
    except OSError:
        return False


class KernelSourcesLocator(caching._CacheLocator):
    """Numba's usual cache location, with a source stamp that covers every kernel source."""

    _fallbacks = (
        caching.UserProvidedCacheLocator,
        caching.InTreeCacheLocator,
        caching.UserWideCacheLocator,
    )

    def __init__(self, inner: caching._CacheLocator, py_file: str) -> None:
        self._inner = inner
        # Numba reads this of any locator: its warning that a function cannot be cached names
        # the file (CacheImpl.check_cachable); without it that warning was an AttributeError.
        self._py_file = py_file

    def ensure_cache_path(self) -> None:
        self._inner.ensure_cache_path()

    def get_cache_path(self) -> str:
        return self._inner.get_cache_path()

    def get_source_stamp(self) -> object:
        return (self._inner.get_source_stamp(), SOURCES_HASH)

    def get_disambiguator(self) -> str:
        return self._inner.get_disambiguator()

    @classmethod
    def from_function(cls, py_func, py_file):
        if not _is_kernel_source(py_file):
            return None  # not ours: Numba's own locators decide
        for fallback in cls._fallbacks:
            inner = fallback.from_function(py_func, py_file)
            if inner is not None:
                return cls(inner, py_file)
        return None


class _FirstCompileNotice(event.Listener):
    """Prints one line on stderr the first time a cell's kernels compile in this process."""

    def __init__(self) -> None:
        self._told: set[str] = set()
        self._lock = threading.Lock()

    def on_start(self, ev) -> None:
        dispatcher = ev.data.get("dispatcher") if isinstance(ev.data, dict) else None
        module = getattr(getattr(dispatcher, "py_func", None), "__module__", "") or ""
        package, _, cell = module.rpartition(".")
        if package != __package__ or cell not in CELL_NAMES:
            return
        with self._lock:
            if cell in self._told:
                return
            self._told.add(cell)
        print(
            f"rnnlab: compiling the {CELL_NAMES[cell]} kernels for this machine, once "
            f"({COMPILE_SECONDS_HINT}; later runs load them from Numba's cache)",
            file=sys.stderr,
            flush=True,
        )

    def on_end(self, ev) -> None:
        pass


def install() -> None:
    """Register the locator and the first-compile notice (idempotent)."""
    classes: list = caching.CacheImpl._locator_classes
    if KernelSourcesLocator not in classes:
        classes.insert(0, KernelSourcesLocator)
    if not any(isinstance(x, _FirstCompileNotice) for x in _installed):
        notice = _FirstCompileNotice()
        event.register("numba:compile", notice)
        _installed.append(notice)


_installed: list[_FirstCompileNotice] = []
