"""Buffers reused across kernel calls, without ever handing out one that is still in use.

Fresh arrays of tens of megabytes cost a page fault per 4 KiB page on first touch, every call.
The pool keeps the arrays it handed out and gives one back out only when nothing else refers
to it any more: its reference count is the pool's own. A cache kept by a layer, an output the
caller still holds, or any view of them (a NumPy view refers to its base array) keeps the
count up, so a buffer that anything can still read is never overwritten.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict

import numpy as np

_PER_KEY = 3  # a layer's live cache plus the one being built, plus one spare
_MAX_KEYS = 32  # shapes remembered; the least recently used beyond that are dropped


def _baseline_refcount() -> int:
    # References an array has when only the pool's list holds it, counted the way take() counts
    # (the count differs between Python versions, so it is measured, not assumed).
    arrays = [np.empty(1)]
    for a in arrays:
        return sys.getrefcount(a)
    raise AssertionError("unreachable")


_BASELINE = _baseline_refcount()


class WorkspacePool:
    """Arrays by (name, shape, dtype); :meth:`take` returns one that nothing else references."""

    def __init__(self):
        self._arrays: OrderedDict[tuple, list[np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        """An uninitialised C-contiguous array of ``shape`` and ``dtype``."""
        key = (name, tuple(shape), np.dtype(dtype).str)
        with self._lock:
            arrays = self._arrays.get(key)
            if arrays is None:
                arrays = self._arrays[key] = []
                if len(self._arrays) > _MAX_KEYS:
                    self._arrays.popitem(last=False)
            else:
                self._arrays.move_to_end(key)
            for a in arrays:
                if sys.getrefcount(a) <= _BASELINE:
                    return a
            a = np.empty(shape, dtype)
            if len(arrays) < _PER_KEY:
                arrays.append(a)
            return a

    def clear(self) -> None:
        """Forget every pooled array (their memory is freed once nothing else uses them)."""
        with self._lock:
            self._arrays.clear()

    def nbytes(self) -> int:
        """Bytes held by the pool."""
        with self._lock:
            return sum(a.nbytes for arrays in self._arrays.values() for a in arrays)


POOL = WorkspacePool()
