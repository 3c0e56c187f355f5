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

NJIT_OPTIONS = {
    "cache": True,
    "fastmath": set(FASTMATH),
    "error_model": "numpy",
    "nogil": True,
}

# Recurrent products h(t-1) · Uᵀ with hidden size below this run in a hand-written loop
# (no call overhead, vectorised over the gate axis); at or above it they go to BLAS GEMM.
# Chosen from `rnnlab bench` timings on a 2-core AVX-512 machine (see BENCHMARKS.md).
BLAS_MIN_HIDDEN = 64


def njit(func):
    """``numba.njit`` with the project's flags."""
    return numba.njit(**NJIT_OPTIONS)(func)


def use_blas(hidden_size: int, batch_size: int) -> bool:
    """Whether the per-step recurrent product of this size goes to BLAS."""
    return hidden_size >= BLAS_MIN_HIDDEN and batch_size > 1
