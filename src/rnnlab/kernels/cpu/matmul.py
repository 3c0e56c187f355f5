"""Matrix products inside the kernels, each in two implementations chosen by ``blas``.

- BLAS GEMM through ``np.dot`` (Numba forwards it to SciPy's BLAS, C- or F-ordered operands,
  so transposes cost nothing): wins for large sizes, where blocking and threads pay off.
- hand-written loops: the inner loop runs over a contiguous output row, so it vectorises, and
  a call costs nothing. At small sizes a BLAS call's fixed cost (argument checks, thread
  wake-up) is larger than the arithmetic.

:func:`config.use_blas` decides per layer call (from measurements, see BENCHMARKS.md).
"""

from __future__ import annotations

import numpy as np

from .config import njit


@njit
def matmul_into(A, M, out, blas):
    """out (R, N) = A (R, K) · M (K, N). Any memory order; out C-contiguous."""
    if blas:
        np.dot(A, M, out)
        return
    rows, inner = A.shape
    width = M.shape[1]
    for r in range(rows):
        row = out[r]
        for j in range(width):
            row[j] = 0.0
        for k in range(inner):
            a = A[r, k]
            m_row = M[k]
            for j in range(width):
                row[j] += a * m_row[j]


@njit
def project_inputs(x, W, b, P, blas):
    """(0) P = x · Wᵀ + b for all steps at once: x (T, B, I), W (G, I), P (T, B, G)."""
    num_steps, batch_size, input_size = x.shape
    G = W.shape[0]
    x_2d = x.reshape((num_steps * batch_size, input_size))
    P_2d = P.reshape((num_steps * batch_size, G))
    if blas:
        matmul_into(x_2d, W.T, P_2d, True)
    else:  # the loop wants contiguous rows of Wᵀ
        matmul_into(x_2d, np.ascontiguousarray(W.T), P_2d, False)
    for r in range(num_steps * batch_size):
        row = P_2d[r]
        for g in range(G):
            row[g] += b[g]


@njit
def input_grads(delta, x, W, dx, dW, db, blas):
    """Undo (0) for all steps: dx = δ · W, dW = Σ_t δ(t)ᵀ x(t), db = Σ_t,b δ(t). δ (T, B, G)."""
    num_steps, batch_size, G = delta.shape
    rows = num_steps * batch_size
    delta_2d = delta.reshape((rows, G))
    matmul_into(delta_2d, W, dx.reshape((rows, x.shape[2])), blas)
    matmul_into(delta_2d.T, x.reshape((rows, x.shape[2])), dW, blas)
    for g in range(G):
        db[g] = 0.0
    for r in range(rows):
        row = delta_2d[r]
        for g in range(G):
            db[g] += row[g]


@njit
def recurrent_grad(delta, h0, h, dU, blas):
    """Undo a(t) = … + h(t-1) · Uᵀ: dU = Σ_t δ(t)ᵀ h(t-1), h(t-1) = h0 for t = 0.

    Two products instead of concatenating [h0, h(0..T-2)] into a new (T, B, H) array.
    """
    num_steps, batch_size, G = delta.shape
    H = h.shape[2]
    matmul_into(delta[0].T, h0, dU, blas)
    if num_steps > 1:
        rest = np.empty_like(dU)
        rows = (num_steps - 1) * batch_size
        d_2d = delta[1:].reshape((rows, G))
        matmul_into(d_2d.T, h[:-1].reshape((rows, H)), rest, blas)
        for g in range(G):
            for k in range(H):
                dU[g, k] += rest[g, k]
