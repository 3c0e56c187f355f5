"""Matrix products inside the kernels, each in two implementations chosen by ``blas``.

- BLAS GEMM through ``np.dot`` (Numba forwards it to SciPy's BLAS, C- or F-ordered operands,
  so transposes cost nothing): used for the one-shot products over all steps (input
  projection, dW, dU, dx) once they are large enough.
- MKL's ``cblas_?gemm`` (``blas`` = :data:`MKL`) for the one-shot products of a kernel call
  split over two threads (rows.py): each thread's share on that thread alone, where a BLAS
  with threads of its own would leave them spinning on the cores the next split needs;
- MKL's packed product (packed.py) for the per-step product where MKL packed the weights;
- a hand-written loop for everything else, the per-step recurrent product included: dot
  products over contiguous rows, a 4 × 2 tile of them at a time, so that each loaded element
  serves two to four multiply-adds and the reductions vectorise. It has no call overhead and
  no thread hand-off, which is what the per-step product of a recurrent network needs (see
  config).
- for the input projection of inputs with at most ``SHORT_INNER`` features, a loop along the
  rows of the output instead (:func:`matmul_short_inner`): dot products that short leave the
  vector lanes empty.

The loop takes the right operand transposed: ``out = A · Mᵀ`` with M (N, K) row-major, i.e. the
weight matrices as the layers store them (U (G, H) for ``h(t-1) · Uᵀ``).
"""

from __future__ import annotations

import numpy as np

from .config import njit, njit_reduction
from .packed import mkl_gemm, packed_product
from .vector_width import wide_vectors

# ``blas`` for the one-shot products through MKL on the calling thread (False: the loop, True:
# np.dot, i.e. SciPy's BLAS)
MKL = 2


@njit_reduction
def _dot(a, m):
    s = a.dtype.type(0.0)
    for k in range(a.shape[0]):
        s += a[k] * m[k]
    return s


@njit_reduction
def _row_times_rows(a, M, out_row):
    """out_row (N,) = a (K,) · M (N, K)ᵀ, four rows of M at a time (a is loaded once per four)."""
    width, inner = M.shape
    zero = out_row.dtype.type(0.0)
    j = 0
    while j + 3 < width:
        m0, m1, m2, m3 = M[j], M[j + 1], M[j + 2], M[j + 3]
        s0 = s1 = s2 = s3 = zero
        for k in range(inner):
            x = a[k]
            s0 += x * m0[k]
            s1 += x * m1[k]
            s2 += x * m2[k]
            s3 += x * m3[k]
        out_row[j], out_row[j + 1], out_row[j + 2], out_row[j + 3] = s0, s1, s2, s3
        j += 4
    while j < width:
        out_row[j] = _dot(a, M[j])
        j += 1


@njit_reduction
def matmul_nt(A, M, out):
    """out (R, N) = A (R, K) · M (N, K)ᵀ by rows of A and M (contiguous rows run fastest).

    Tiles of 4 rows of A × 2 rows of M: each loaded element serves 2-4 multiply-adds, in eight
    independent vector accumulators (measured 0.63-0.75x the time of the 2 × 2 tiles it
    replaced at (R,K,N) = (16,32,128) ... (32,128,512); equal at R = 1). Leftover rows of A go
    through :func:`_row_times_rows`.
    """
    rows, inner = A.shape
    width = M.shape[0]
    zero = out.dtype.type(0.0)
    r = 0
    while r + 3 < rows:
        a0, a1, a2, a3 = A[r], A[r + 1], A[r + 2], A[r + 3]
        j = 0
        while j + 1 < width:
            m0, m1 = M[j], M[j + 1]
            s00 = s01 = s10 = s11 = s20 = s21 = s30 = s31 = zero
            for k in range(inner):
                x0, x1 = m0[k], m1[k]
                s00 += a0[k] * x0
                s01 += a0[k] * x1
                s10 += a1[k] * x0
                s11 += a1[k] * x1
                s20 += a2[k] * x0
                s21 += a2[k] * x1
                s30 += a3[k] * x0
                s31 += a3[k] * x1
            out[r, j], out[r, j + 1] = s00, s01
            out[r + 1, j], out[r + 1, j + 1] = s10, s11
            out[r + 2, j], out[r + 2, j + 1] = s20, s21
            out[r + 3, j], out[r + 3, j + 1] = s30, s31
            j += 2
        if j < width:
            for q in range(4):
                out[r + q, j] = _dot(A[r + q], M[j])
        r += 4
    while r < rows:
        _row_times_rows(A[r], M, out[r])
        r += 1


# Which per-step products of the loop path run as sums of rows of Mᵀ (add_scaled_rows)
# instead of matmul_nt's dot products. The product alone, median of 1000-step loops, (R,K,N):
# (1,32,128) 201 against 448 ns, (1,8,32) 40 against 123, (3,32,96) 395 against 944, (1,32,32)
# 96 against 166, (32,8,32) 536 against 893, (64,12,48) 2.3 against 3.0 µs; but (1,128,32)
# 324 against 298 (the backward's narrow products), (1,256,256) 3.5 against 2.5 µs, and from
# 4 rows, where matmul_nt's tiles start, (16,16,16) 524 against 328 ns, (32,8,16) 1150
# against 894.
@njit
def sums_rows(rows, inner, width):
    """Whether out (rows, width) = A (rows, inner) · Mᵀ runs as sums of rows of Mᵀ."""
    return width >= 4 * inner or (rows <= 3 and (width >= 2 * inner or inner <= 32))


@njit
def step_operand(U, backward, packed_U, blas, rows):
    """What :func:`recurrent_step` reads for a kernel's per-step product with U (G, H) on
    ``rows`` rows, made once per call: forward h(t-1) · Uᵀ, backward δ(t) · U (``backward``).

    Written out = A · Mᵀ (M = U forward, Uᵀ backward), it is M as C-contiguous rows for BLAS
    and matmul_nt, or Mᵀ where the loop sums rows of Mᵀ (:func:`sums_rows`): U itself or one
    transposed copy; U, unread, where the packed copy is read instead.
    """
    if packed_U.size:
        return U
    G, H = U.shape
    width, inner = (H, G) if backward else (G, H)
    by_rows_of_M_T = not blas and sums_rows(rows, inner, width)
    if by_rows_of_M_T == backward:  # forward by dot products, backward by rows: U as stored
        return U
    return np.ascontiguousarray(U.T)


@njit
def recurrent_step(A, M, packed_M, out, blas):
    """A kernel's per-step product out = A · Mᵀ, M (N, K): on the packed copy where there is
    one (``packed_M.size``), else BLAS or the loop (``blas``). M is what :func:`step_operand`
    made: C-contiguous rows of M, or of Mᵀ (K, N) where the loop sums those (sums_rows).

    Every operand is C-contiguous, so that this compiles once: a second memory layout was a
    second compilation of it and of np.dot.
    """
    if packed_M.size:
        packed_product(A, packed_M, out)
    elif blas:
        np.dot(A, M.T, out)
    elif sums_rows(A.shape[0], A.shape[1], out.shape[1]):
        add_scaled_rows(A, M, out)
    else:
        matmul_nt(A, M, out)


@njit
def matmul_into(A, M, out, transpose_A, blas):
    """out = op(A) · M, op(A) = Aᵀ where ``transpose_A``; A and M C-contiguous, so that this
    compiles once (the weight gradients' δᵀ goes as δ, transposed). ``blas``: :data:`MKL` for
    MKL's ``cblas_?gemm``, True for np.dot (SciPy's BLAS), False for :func:`matmul_nt`."""
    if blas == MKL:
        mkl_gemm(A, M, out, transpose_A, False, out.dtype.type(0.0))
    elif blas:
        if transpose_A:
            np.dot(A.T, M, out)
        else:
            np.dot(A, M, out)
    else:
        A_rows = np.ascontiguousarray(A.T) if transpose_A else A
        matmul_nt(A_rows, np.ascontiguousarray(M.T), out)


# Inner dimensions up to this go through matmul_short_inner instead of matmul_nt's dot products.
SHORT_INNER = 16


@njit
def matmul_short_inner(A, M, out):
    """out (R, N) = A (R, K) · M (N, K)ᵀ for a short K (the inputs of a sequence with a few
    features): each row of out as the sum of K rows of Mᵀ scaled by A's entries.

    :func:`matmul_nt` takes a dot product of length K per output, and short ones leave its
    vector lanes empty: the input projection of (50,1,8,32)'s LSTM, (R,K,N) = (50,8,128), took
    2.9-4.1 against 5.2-8.6 µs, of (2048,20,4,32)'s training batches (640,4,128) 20-26 against
    60-100 µs; from K = 32 the dot products win ((50,32,128): 0.81-1.12x).
    """
    add_scaled_rows(A, np.ascontiguousarray(M.T), out)


@njit
def add_scaled_rows(A, M_T, out):
    """out (R, N) = A (R, K) · M_T (K, N): each row of out the sum of the K rows of M_T, scaled
    by that row of A's entries; no dot products, every loop runs along a row of N. Four rows
    of M_T per pass over the output row, so that it is loaded and stored a quarter as often:
    (1,32,128) 215 against 260 ns one row at a time, (3,32,96) 529 against 1101, the input
    projection (50,8,128) 2.3 against 3.3 µs, (640,4,128) 18.5 against 17.0."""
    wide_vectors()  # the loops run along rows of N (vector_width.py)
    rows, inner = A.shape
    width = M_T.shape[1]
    zero = out.dtype.type(0.0)
    for r in range(rows):
        row, a = out[r], A[r]
        for j in range(width):
            row[j] = zero
        k = 0
        while k + 3 < inner:
            a_0, a_1, a_2, a_3 = a[k], a[k + 1], a[k + 2], a[k + 3]
            m_0, m_1, m_2, m_3 = M_T[k], M_T[k + 1], M_T[k + 2], M_T[k + 3]
            for j in range(width):
                row[j] += a_0 * m_0[j] + a_1 * m_1[j] + a_2 * m_2[j] + a_3 * m_3[j]
            k += 4
        while k < inner:
            a_k, m_k = a[k], M_T[k]
            for j in range(width):
                row[j] += a_k * m_k[j]
            k += 1


@njit
def project_inputs(x, W, b, P, blas):
    """(0) P = x · Wᵀ + b for all steps at once: x (T, B, I), W (G, I), P (T, B, G)."""
    num_steps, batch_size, input_size = x.shape
    G = W.shape[0]
    x_2d = x.reshape((num_steps * batch_size, input_size))
    P_2d = P.reshape((num_steps * batch_size, G))
    if blas:
        np.dot(x_2d, W.T, P_2d)
    elif 0 < input_size <= SHORT_INNER:
        matmul_short_inner(x_2d, W, P_2d)
    else:
        matmul_nt(x_2d, W, P_2d)
    _add_bias(P_2d, b)


@njit
def project_step(x_rows, packed_W, P_rows, b):
    """(0) for one step's rows: P = x · Wᵀ + b on W's packed copy (packed.py), where the
    kernels project step by step. Its own function, not written into the step loop: inline
    there it slowed the loop's gate arithmetic ~1.6x (GRU forward kernel at (50,64,32,128),
    5.2 against 3.3 ms)."""
    packed_product(x_rows, packed_W, P_rows)
    _add_bias(P_rows, b)


@njit
def _add_bias(P_2d, b):
    """P_2d (R, G) += b (G,), row by row."""
    for r in range(P_2d.shape[0]):
        row = P_2d[r]
        for g in range(row.shape[0]):
            row[g] += b[g]


@njit
def input_grads(delta, x, W, dx, dW, db, blas):
    """Undo (0) for all steps: dx = δ · W, dW = Σ_t δ(t)ᵀ x(t), db = Σ_t,b δ(t). δ (T, B, G)."""
    num_steps, batch_size, G = delta.shape
    rows = num_steps * batch_size
    delta_2d = delta.reshape((rows, G))
    x_2d = x.reshape((rows, x.shape[2]))
    matmul_into(delta_2d, W, dx.reshape((rows, x.shape[2])), False, blas)
    matmul_into(delta_2d, x_2d, dW, True, blas)
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
    matmul_into(delta[0], h0, dU, True, blas)
    if num_steps > 1:
        rest = np.empty_like(dU)
        rows = (num_steps - 1) * batch_size
        d_2d = delta[1:].reshape((rows, G))
        matmul_into(d_2d, h[:-1].reshape((rows, H)), rest, True, blas)
        for g in range(G):
            for k in range(H):
                dU[g, k] += rest[g, k]
