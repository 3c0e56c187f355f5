"""Numba compilation flags for every CPU kernel, in one place.

No kernel sets its own flags: they all decorate with :func:`njit` from here, so that what the
compiler may assume is decided and reviewed once.

- ``cache=True``: compiled machine code is written next to the sources (``__pycache__``) and
  loaded in later processes (about 0.2 s instead of seconds of compilation). Caching only works
  for top-level functions, which is why every kernel is one.
- ``fastmath``: only ``contract`` (fused multiply-add) and ``nsz`` (ignore the sign of zero).
  Neither reorders a sum, so a kernel's float64 results stay within a few rounding errors of
  the reference's; ``nnan``/``ninf`` are left out on purpose (they would let the compiler
  delete the comparisons that keep the activations finite).
- ``error_model="numpy"``: division by zero gives inf like NumPy instead of raising, which
  removes a branch from every division and lets the pointwise loops vectorise.
- ``nogil=True``: a kernel releases the GIL, so other Python threads keep running.
"""

from __future__ import annotations

import numba

FASTMATH = frozenset({"contract", "nsz"})

# Reductions (the dot products of the small matrix products) may also be reordered, so that they
# vectorise; this changes results by rounding only (float64 parity to 1e-12 is tested).
FASTMATH_REDUCTION = FASTMATH | {"reassoc"}

NJIT_OPTIONS = {
    "cache": True,
    "fastmath": set(FASTMATH),
    "error_model": "numpy",
    "nogil": True,
}

# Which matrix products go to BLAS (np.dot -> SciPy's OpenBLAS) rather than the hand-written
# loop of matmul.py. Measured on the 2-core benchmark machine, LSTM forward kernel, best of 5:
# quiet (load < 1), per-step BLAS beat the loop at (50,64,32,128) 43 vs 50 ms, (100,32,128,256)
# 73 vs 111 ms, (200,64,64,256) 311 vs 389 ms; while the machine was shared (load 7-9) it lost
# by 5x at the same sizes (every one of the T calls pays OpenBLAS's thread hand-off, which a
# preempted thread stalls). Round three: with one BLAS thread (blas_threads.py gives the small
# sizes one, and a busy machine), per-step BLAS also beat the loop at every batch of 4 or more
# rows, LSTM and GRU forward+backward, interleaved, quiet: (50,16,32,64) 2.5 vs 3.1 ms,
# (20,32,4,32) 0.64 vs 0.89, (50,8,16,32) 0.53 vs 0.61, (50,4,8,64) 0.60 vs 0.71, (100,16,16,16)
# 1.13 vs 1.37; the loop keeps single sequences (B = 1: 0.16 vs 0.17-0.19 ms at (50,1,8,32))
# and tiny states, where a BLAS call costs more than its arithmetic.
STEP_BLAS_MIN_HIDDEN = 16
STEP_BLAS_MIN_BATCH = 4
BULK_BLAS_MIN_FLOPS = 2_000_000
# The backward's one-shot products (dx, and the weight gradients δᵀ x, δᵀ h summed over T·B
# rows) go to BLAS from far smaller sizes than the forward's projection: LSTM backward alone,
# BLAS against the loop, interleaved: (50,1,8,32) 65 against 77 µs (410 kFLOP), (30,1,8,32)
# 51 against 64 (246 k), (50,1,8,16) 58 against 62 (102 k), (20,1,4,16) 32 against 31 (41 k),
# (10,1,1,8) 23 against 18 (5 k). The forward with BLAS lost at the same sizes ((50,1,8,32) 51
# against 46 µs: the loop's projection of a few input features is the faster one).
BACKWARD_BULK_BLAS_MIN_FLOPS = 100_000


def njit(func):
    """``numba.njit`` with the project's flags."""
    return numba.njit(**NJIT_OPTIONS)(func)


def njit_reduction(func):
    """:func:`njit` for loops whose sums may be reordered (``FASTMATH_REDUCTION``)."""
    return numba.njit(**(NJIT_OPTIONS | {"fastmath": set(FASTMATH_REDUCTION)}))(func)


# Below this many FLOPs in the one-shot products, BLAS runs on one thread (blas_threads.py): at
# (50,16,32,64) the 26 MFLOP products gain little from a second thread, and waiting for it cost
# ~1.7 ms a forward when another library's worker thread held the other core.
THREADED_BLAS_MIN_FLOPS = 64_000_000


def bulk_flops(x_shape: tuple[int, int, int], hidden_size: int, gates: int) -> int:
    """FLOPs of the largest one-shot product of a sequence of this size."""
    num_steps, batch_size, input_size = x_shape
    return 2 * num_steps * batch_size * gates * hidden_size * max(input_size, hidden_size)


def use_blas(
    x_shape: tuple[int, int, int], hidden_size: int, gates: int, backward: bool = False
) -> tuple[bool, bool]:
    """(per-step product uses BLAS, one-shot products use BLAS) for a forward (a backward where
    ``backward``) of a sequence of this size."""
    step = hidden_size >= STEP_BLAS_MIN_HIDDEN and x_shape[1] >= STEP_BLAS_MIN_BATCH
    least = BACKWARD_BULK_BLAS_MIN_FLOPS if backward else BULK_BLAS_MIN_FLOPS
    return step, bulk_flops(x_shape, hidden_size, gates) >= least
