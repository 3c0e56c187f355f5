"""BLAS threads inside the kernels: one, while the machine is busy or the products are small.

The kernels call SciPy's OpenBLAS (through ``np.dot`` in Numba) for the one-shot products and,
at large sizes, for the per-step product. OpenBLAS splits a product over its threads, which
must all finish before the call returns: when other processes keep every core busy, one of them
is often preempted and the call waits for it. Measured on the 2-core machine at load average
12-14 (LSTM forward kernel, float32): (50,16,32,64) 28 ms with 2 BLAS threads against 1.4 ms
with 1; (50,64,32,128) 683 against 50 ms; (100,32,128,256) 564 against 100 ms. The backward
kernel and ``rnnlab.fit`` showed the same cliff (an epoch 10-80x slower).

So while the one-minute load average is at least the number of cores, or when its one-shot
products are small (``THREADED_BLAS_MIN_FLOPS`` in config.py: a second thread gains little there,
and waiting for it cost ~1.7 ms a forward at (50,16,32,64) when PyTorch's spinning worker held
the other core), a kernel call that uses BLAS sets OpenBLAS to one thread and puts the previous
count back afterwards; large products on a quiet machine keep every thread. The count is never
raised, so a limit a user set (threadpoolctl, ``OPENBLAS_NUM_THREADS``) is kept. OpenBLAS's
count is process-wide (its ``openblas_set_num_threads_local`` turned out to set the global
count: another thread sees it), so concurrent kernel calls share one setting: the first to
enter saves the count, the last to leave restores it. Where SciPy's OpenBLAS is not found
(another BLAS) this is a no-op.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import glob
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from .config import THREADED_BLAS_MIN_FLOPS

_CORES = os.cpu_count() or 1  # asked once: os.cpu_count() took ~0.2 ms a call under load


@functools.cache
def _set_local():
    """SciPy's ``openblas_set_num_threads_local``, or None."""
    try:
        import scipy
    except ImportError:
        return None
    libs = Path(scipy.__file__).parent.parent / "scipy.libs"
    for path in sorted(glob.glob(str(libs / "libscipy_openblas*.so*"))):
        try:
            fn = ctypes.CDLL(path).openblas_set_num_threads_local
        except (OSError, AttributeError):
            continue
        fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
        return fn
    return None


def machine_busy() -> bool:
    """True while the one-minute load average is at least the number of cores."""
    try:
        return os.getloadavg()[0] >= _CORES
    except OSError:  # no load average on this platform
        return False


_lock = threading.Lock()
_users = 0
_saved = 0


def one_thread(blas: tuple[bool, bool], flops: int) -> bool:
    """Whether a kernel call with this ``use_blas`` plan and ``bulk_flops`` should use one
    BLAS thread."""
    return any(blas) and (flops < THREADED_BLAS_MIN_FLOPS or machine_busy())


def kernel_blas(blas: tuple[bool, bool], flops: int) -> contextlib.AbstractContextManager:
    """One OpenBLAS thread inside the ``with`` block for a call that uses BLAS on a busy
    machine or on products too small to share (see the module); else nothing happens."""
    if not any(blas):  # the small sizes: no BLAS, no cost (a generator context costs ~1.5 µs)
        return _NOTHING
    set_threads = _set_local() if one_thread(blas, flops) else None
    return _NOTHING if set_threads is None else _one_thread(set_threads)


_NOTHING = contextlib.nullcontext()


@contextlib.contextmanager
def _one_thread(set_threads) -> Iterator[None]:
    global _users, _saved
    with _lock:
        if _users == 0:
            _saved = set_threads(1)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                set_threads(_saved)
