"""Buffers reused across kernel calls, without ever handing out one that is still in use.

Fresh arrays of tens of megabytes cost a page fault per 4 KiB page on first touch, every call.
The pool keeps the arrays it handed out and gives one back out only when nothing else refers
to it any more: its reference count is the pool's own. A cache kept by a layer, an output the
caller still holds, or any view of them (a NumPy view refers to its base array) keeps the
count up, so a buffer that anything can still read is never overwritten.

The pool is bounded: it keeps at most :func:`limit` bytes (512 MiB unless set with
:func:`set_limit` or the environment variable ``RNNLAB_WORKSPACE_BYTES``), dropping the buffers
of the least recently used shapes first, and :func:`clear` (``rnnlab.free_workspaces()``) lets
go of everything. Dropping a buffer only removes the pool's reference: a layer's cache that
still uses it keeps it alive until the cache goes, so nothing in use is ever invalidated.
"""

from __future__ import annotations

import numbers
import os
import sys
import threading
from collections import OrderedDict

import numpy as np

__all__ = ["POOL", "WorkspacePool", "clear", "limit", "nbytes", "set_limit"]

_PER_KEY = 3  # a layer's live cache plus the one being built, plus one spare
_MAX_KEYS = 32  # shapes remembered; the least recently used beyond that are dropped
# Enough for forward+backward of the benchmark's largest size (LSTM 200x64x64x256 keeps about
# 300 MB: the training forward's 87 MB twice, alternating with the cache a layer keeps, the
# backward's 50, MKL's packed weights 47); smaller models stay far below it. At 256 MiB the
# forward's second buffer was dropped and allocated afresh at every other call: forward 42
# against 32 ms, forward+backward 126 against 100.
DEFAULT_LIMIT = 512 * 2**20


def _baseline_refcount() -> int:
    # References an array has when only the pool's list holds it, counted the way take() counts
    # (the count differs between Python versions, so it is measured, not assumed).
    arrays = [np.empty(1)]
    for a in arrays:
        return sys.getrefcount(a)
    raise AssertionError("unreachable")


_BASELINE = _baseline_refcount()


def _check_limit(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name}: expected a whole number of bytes >= 0, got {value!r}")
    return int(value)


def _limit_from_environment() -> int:
    value = os.environ.get("RNNLAB_WORKSPACE_BYTES")
    if value is None:
        return DEFAULT_LIMIT
    try:
        number = int(value)
    except ValueError:
        number = -1
    return _check_limit("RNNLAB_WORKSPACE_BYTES", number if number >= 0 else value)


class WorkspacePool:
    """Arrays by (name, shape, dtype); :meth:`take` returns one that nothing else references.

    Parameters
    ----------
    limit : bytes the pool may keep (an LRU over shapes); an array larger than that is handed
        out fresh and not kept.
    """

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self._arrays: OrderedDict[tuple, list[np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()
        self._limit = _check_limit("limit", limit)
        self._nbytes = 0

    def take(self, name: str, shape: tuple[int, ...], dtype: np.typing.DTypeLike) -> np.ndarray:
        """An uninitialised C-contiguous array of ``shape`` and ``dtype``."""
        key = (name, tuple(shape), np.dtype(dtype).str)
        with self._lock:
            arrays = self._arrays.get(key)
            if arrays is None:
                arrays = self._arrays[key] = []
                if len(self._arrays) > _MAX_KEYS:
                    self._drop_key(next(iter(self._arrays)))
            else:
                self._arrays.move_to_end(key)
            for a in arrays:
                if sys.getrefcount(a) <= _BASELINE:
                    return a
            a = np.empty(shape, dtype)
            if len(arrays) < _PER_KEY and a.nbytes <= self._limit:
                self._make_room(a.nbytes)
                arrays.append(a)
                self._nbytes += a.nbytes
            return a

    def _drop_key(self, key: tuple) -> None:
        self._nbytes -= sum(a.nbytes for a in self._arrays.pop(key))

    def _make_room(self, size: int) -> None:
        """Drop least recently used buffers until ``size`` more bytes fit under the limit."""
        while self._nbytes + size > self._limit and self._arrays:
            oldest = next(iter(self._arrays))
            arrays = self._arrays[oldest]
            if len(self._arrays) > 1 or not arrays:
                self._drop_key(oldest)
            else:  # only the key being served is left: drop its oldest buffer
                self._nbytes -= arrays.pop(0).nbytes

    @property
    def limit(self) -> int:
        """Bytes the pool may keep."""
        return self._limit

    def set_limit(self, limit: int) -> int:
        """Keep at most ``limit`` bytes from now on (dropping buffers now if needed); returns
        the previous limit."""
        limit = _check_limit("limit", limit)
        with self._lock:
            previous, self._limit = self._limit, limit
            self._make_room(0)
        return previous

    def clear(self) -> int:
        """Forget every pooled array (their memory is freed once nothing else uses them);
        returns the bytes the pool held."""
        with self._lock:
            held = self._nbytes
            self._arrays.clear()
            self._nbytes = 0
        return held

    def nbytes(self) -> int:
        """Bytes held by the pool."""
        with self._lock:
            return self._nbytes


POOL = WorkspacePool(_limit_from_environment())


def clear() -> int:
    """Release the CPU kernels' workspace buffers (``rnnlab.free_workspaces()``).

    Returns
    -------
    int : the bytes the pool held. Memory still used by a layer's cache is freed when that
        cache goes (the next forward, ``del layer``); the rest is returned at once.
    """
    return POOL.clear()


def set_limit(limit: int) -> int:
    """Bound the workspace pool to ``limit`` bytes (0 disables pooling); returns the previous
    bound. The default is 512 MiB, or ``RNNLAB_WORKSPACE_BYTES`` from the environment."""
    return POOL.set_limit(limit)


def limit() -> int:
    """The pool's current bound, in bytes."""
    return POOL.limit


def nbytes() -> int:
    """Bytes the pool holds now (buffers in use by caches included)."""
    return POOL.nbytes()
