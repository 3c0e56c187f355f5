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

A kernel call takes its arrays as views of one buffer (:meth:`WorkspacePool.take_views`,
``buffers.carve``). The pool keeps those views with the buffer and hands the same view objects
out again, since making them anew (a slice and a reshape each) cost more than the rest of the
pool lookup: carving an LSTM forward's five arrays at (10,1,1,8) took ~5 µs, of a 20-36 µs
layer call. Every view refers to the buffer (NumPy's ``base``), so the buffer is free only
when its count is the pool's own plus one per view, and each view's is the pool's own: a
cache, an output or any view of them held anywhere keeps one of the two up.
"""

from __future__ import annotations

import numbers
import os
import sys
import threading
from collections import OrderedDict

import numpy as np

__all__ = ["POOL", "WorkspacePool", "clear", "limit", "nbytes", "set_limit", "views"]

_PER_KEY = 3  # a layer's live cache plus the one being built, plus one spare
_MAX_KEYS = 32  # shapes remembered; the least recently used beyond that are dropped
# Enough for forward+backward of the benchmark's largest size (LSTM 200x64x64x256 keeps about
# 300 MB: the training forward's 87 MB twice, alternating with the cache a layer keeps, the
# backward's 50, MKL's packed weights 47); smaller models stay far below it. At 256 MiB the
# forward's second buffer was dropped and allocated afresh at every other call: forward 42
# against 32 ms, forward+backward 126 against 100.
DEFAULT_LIMIT = 512 * 2**20


def views(buffer: np.ndarray, pieces: tuple) -> tuple[np.ndarray, ...]:
    """The C-contiguous views of a flat ``buffer`` that ``pieces`` = ((start, stop, shape), ...)
    describe, in the buffer's elements."""
    return tuple(buffer[start:stop].reshape(shape) for start, stop, shape in pieces)


def _references(entry: tuple[np.ndarray, tuple[np.ndarray, ...]]) -> tuple[int, int]:
    """(references to the entry's buffer beyond one per view, the most references to one
    view), as :meth:`WorkspacePool._take` counts them."""
    buffer, carved = entry
    most = 0
    for view in carved:
        most = max(most, sys.getrefcount(view))
    return sys.getrefcount(buffer) - len(carved), most


def _baseline() -> tuple[int, int]:
    # The counts of an entry that only the pool's list holds, counted the way _take counts
    # (they differ between Python versions, so they are measured, not assumed).
    buffer = np.empty(2)
    entries = [(buffer, views(buffer, ((0, 1, (1,)), (1, 2, (1,)))))]
    del buffer
    for entry in entries:
        return _references(entry)
    raise AssertionError("unreachable")


_BUFFER_BASELINE, _VIEW_BASELINE = _baseline()


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
    """Arrays by (name, shape, dtype); :meth:`take` returns one that nothing else references,
    :meth:`take_views` views of one such array.

    Parameters
    ----------
    limit : bytes the pool may keep (an LRU over shapes); an array larger than that is handed
        out fresh and not kept.
    """

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        # key -> [(buffer, its views)]: () for take(), the pieces' views for take_views()
        self._entries: OrderedDict[tuple, list[tuple[np.ndarray, tuple]]] = OrderedDict()
        self._lock = threading.Lock()
        self._limit = _check_limit("limit", limit)
        self._nbytes = 0

    def take(self, name: str, shape: tuple[int, ...], dtype: np.typing.DTypeLike) -> np.ndarray:
        """An uninitialised C-contiguous array of ``shape`` and ``dtype``."""
        shape = tuple(shape)
        with self._lock:
            return self._take((name, shape, np.dtype(dtype)), shape, dtype, ())[0]

    def take_views(
        self, name: str, pieces: tuple, size: int, dtype: np.typing.DTypeLike
    ) -> list[np.ndarray]:
        """Uninitialised C-contiguous arrays, views of one buffer of ``size`` elements:
        ``pieces`` = ((start, stop, shape), ...), one per view, in the buffer's elements. The
        same view objects come back once nothing refers to any of them or to the buffer."""
        with self._lock:
            # the dtype itself in the key: equal dtypes hash alike, and it hashes in 0.04 µs
            # where building its .str took 0.4
            entry = self._take((name, pieces, np.dtype(dtype)), (size,), dtype, pieces)
            return list(entry[1])  # in the lock: the caller's references count from here

    def _take(self, key: tuple, shape: tuple, dtype, pieces: tuple) -> tuple:
        """A free entry of ``key``, or a new one (kept while the key and the bound allow)."""
        entries = self._entries.get(key)
        if entries is None:
            entries = self._entries[key] = []
            if len(self._entries) > _MAX_KEYS:
                self._drop_key(next(iter(self._entries)))
        else:
            self._entries.move_to_end(key)
        for entry in entries:
            buffer_refs, view_refs = _references(entry)
            if buffer_refs <= _BUFFER_BASELINE and view_refs <= _VIEW_BASELINE:
                return entry
        buffer = np.empty(shape, dtype)
        entry = (buffer, views(buffer, pieces))
        if len(entries) < _PER_KEY and buffer.nbytes <= self._limit:
            self._make_room(buffer.nbytes)
            entries.append(entry)
            self._nbytes += buffer.nbytes
        return entry

    def _drop_key(self, key: tuple) -> None:
        self._nbytes -= sum(buffer.nbytes for buffer, _ in self._entries.pop(key))

    def _make_room(self, size: int) -> None:
        """Drop least recently used buffers until ``size`` more bytes fit under the limit."""
        while self._nbytes + size > self._limit and self._entries:
            oldest = next(iter(self._entries))
            entries = self._entries[oldest]
            if len(self._entries) > 1 or not entries:
                self._drop_key(oldest)
            else:  # only the key being served is left: drop its oldest buffer
                self._nbytes -= entries.pop(0)[0].nbytes

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
            self._entries.clear()
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
