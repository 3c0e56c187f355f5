"""What every GPU kernel module shares: launch planning, streams, device views, activations.

Launch planning is plain Python (no GPU needed to compute or test it). Kernels are built per
dtype by a cached factory so that constants such as 1.0 carry the array's dtype: a float64
literal inside a float32 kernel would silently promote the gate math to double precision.

The same kernels run in Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, set before
``numba.cuda`` is first imported) on NumPy arrays, and on a GPU on CuPy arrays, which reach
Numba through ``__cuda_array_interface__`` without a copy.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

WARP_SIZE = 32
MAX_THREADS_PER_BLOCK = 256

__all__ = [
    "MAX_THREADS_PER_BLOCK",
    "WARP_SIZE",
    "device_functions",
    "kernel_args",
    "launch_config",
    "stream_for",
]


def launch_config(num_elements: int, max_threads: int | None = None):
    """(blocks, threads) for a 1-D grid with one thread per element.

    Threads are a whole number of warps (a partial warp still occupies a full one), at most
    ``max_threads`` (default :data:`MAX_THREADS_PER_BLOCK`, read at call time so that the
    simulator tests can lower it to get several blocks from small shapes); blocks cover the
    rest. Kernels guard ``k < num_elements``.
    """
    if max_threads is None:
        max_threads = MAX_THREADS_PER_BLOCK
    if max_threads <= 0 or max_threads % WARP_SIZE:
        raise ValueError(f"max_threads: expected a positive multiple of 32, got {max_threads}")
    if num_elements <= 0:
        raise ValueError(f"num_elements: expected a positive integer, got {num_elements}")
    warps = -(-num_elements // WARP_SIZE)
    threads = min(max_threads, warps * WARP_SIZE)
    blocks = -(-num_elements // threads)
    return blocks, threads


def is_simulator() -> bool:
    """True when numba.cuda was imported with NUMBA_ENABLE_CUDASIM=1."""
    from numba.core import config

    return bool(config.ENABLE_CUDASIM)


def stream_for(xp):
    """The stream to launch on: CuPy's current stream on a GPU, 0 in the simulator.

    Launching on CuPy's stream keeps the kernels ordered with the cuBLAS products that CuPy
    issues between them, without a host synchronisation per step.
    """
    if xp is np:
        return 0
    ptr = xp.cuda.get_current_stream().ptr
    return cuda.external_stream(ptr) if ptr else 0


def kernel_args(xp, *arrays):
    """Arrays as the kernels take them: NumPy arrays as they are (simulator), CuPy arrays as
    Numba device views sharing their memory, without the per-launch stream synchronisation
    that Numba otherwise performs for foreign arrays (we launch on CuPy's stream already).
    """
    if xp is np:
        return arrays
    return tuple(cuda.as_cuda_array(a, sync=False) for a in arrays)


def device_functions(dtype: np.dtype):
    """(sigmoid, one) for ``dtype``: a stable σ as a device function and 1 in that dtype."""
    one = np.dtype(dtype).type(1.0)

    @cuda.jit(device=True)
    def sigmoid(a):
        # e = exp(-|a|) never overflows; same split as rnnlab.cells.activations.sigmoid.
        e = math.exp(-abs(a))
        if a >= 0:
            return one / (one + e)
        return e / (one + e)

    return sigmoid, one
