"""The per-step recurrent product inside the kernels: ``out = A · M`` with M row-major (K, N).

Two implementations, chosen per call by ``use_blas`` (see :func:`config.use_blas`):

- BLAS GEMM through ``np.dot`` (Numba forwards it to SciPy's BLAS): wins for large hidden
  sizes, where the product dominates and BLAS blocking and threads pay off.
- a hand-written loop, ``out[b, :] = Σ_k A[b, k] · M[k, :]``: the inner loop runs over the
  contiguous output axis, so it vectorises, and a call costs nothing. At small sizes a BLAS
  call's fixed overhead (argument checks, thread wake-up) costs more than the arithmetic.
"""

from __future__ import annotations

import numpy as np

from .config import njit


@njit
def matmul_into(A, M, out, use_blas):
    """out (B, N) = A (B, K) · M (K, N); M must be C-contiguous."""
    if use_blas:
        np.dot(A, M, out)
        return
    batch_size, inner = A.shape
    width = M.shape[1]
    for b in range(batch_size):
        row = out[b]
        for j in range(width):
            row[j] = 0.0
        for k in range(inner):
            a = A[b, k]
            m_row = M[k]
            for j in range(width):
                row[j] += a * m_row[j]
