"""Matrix products inside the kernels, each in two implementations chosen by ``blas``.

- BLAS GEMM through ``np.dot`` (Numba forwards it to SciPy's BLAS, C- or F-ordered operands,
  so transposes cost nothing): used for the one-shot products over all steps (input
  projection, dW, dU, dx) once they are large enough.
- a hand-written loop for everything else, the per-step recurrent product included: dot
  products over contiguous rows, a 2 × 2 tile of them at a time, so that each loaded element
  serves two multiply-adds and the reductions vectorise. It has no call overhead and no thread
  hand-off, which is what the per-step product of a recurrent network needs (see config).

The loop takes the right operand transposed: ``out = A · Mᵀ`` with M (N, K) row-major, i.e. the
weight matrices as the layers store them (U (G, H) for ``h(t-1) · Uᵀ``).
"""

from __future__ import annotations

import numpy as np

from .config import njit, njit_reduction


@njit_reduction
def _dot(a, m):
    s = a.dtype.type(0.0)
    for k in range(a.shape[0]):
        s += a[k] * m[k]
    return s


@njit_reduction
def matmul_nt(A, M, out):
    """out (R, N) = A (R, K) · M (N, K)ᵀ by rows of A and M (contiguous rows run fastest)."""
    rows, inner = A.shape
    width = M.shape[0]
    zero = out.dtype.type(0.0)
    for r in range(0, rows - 1, 2):
        a0, a1 = A[r], A[r + 1]
        for j in range(0, width - 1, 2):
            m0, m1 = M[j], M[j + 1]
            s00 = s01 = s10 = s11 = zero
            for k in range(inner):
                s00 += a0[k] * m0[k]
                s01 += a0[k] * m1[k]
                s10 += a1[k] * m0[k]
                s11 += a1[k] * m1[k]
            out[r, j], out[r, j + 1], out[r + 1, j], out[r + 1, j + 1] = s00, s01, s10, s11
        if width % 2:
            out[r, width - 1] = _dot(a0, M[width - 1])
            out[r + 1, width - 1] = _dot(a1, M[width - 1])
    if rows % 2:
        a = A[rows - 1]
        for j in range(width):
            out[rows - 1, j] = _dot(a, M[j])


@njit
def step_product(A, M, M_T, out, blas):
    """The per-step product out = A · M, given M and its contiguous transpose M_T (no copies)."""
    if blas:
        np.dot(A, M, out)
    else:
        matmul_nt(A, M_T, out)


@njit
def matmul_into(A, M, out, blas):
    """out (R, N) = A (R, K) · M (K, N); ``blas`` picks np.dot, else :func:`matmul_nt`."""
    if blas:
        np.dot(A, M, out)
    else:
        matmul_nt(np.ascontiguousarray(A), np.ascontiguousarray(M.T), out)


@njit
def project_inputs(x, W, b, P, blas):
    """(0) P = x · Wᵀ + b for all steps at once: x (T, B, I), W (G, I), P (T, B, G)."""
    num_steps, batch_size, input_size = x.shape
    G = W.shape[0]
    x_2d = x.reshape((num_steps * batch_size, input_size))
    P_2d = P.reshape((num_steps * batch_size, G))
    if blas:
        np.dot(x_2d, W.T, P_2d)
    else:
        matmul_nt(x_2d, W, P_2d)
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
    x_2d = x.reshape((rows, x.shape[2]))
    matmul_into(delta_2d, W, dx.reshape((rows, x.shape[2])), blas)
    matmul_into(delta_2d.T, x_2d, dW, blas)
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
