"""GRU, both forms: whole-sequence Numba kernels with the reference's signatures and cache.

Same equations, numbering and cache as :mod:`rnnlab.cells.gru` (``extra`` is rh = r ⊙ h(t-1)
for reset before, n = U_h · h(t-1) + b_hn for reset after); one compiled call runs all T steps.
"""

from __future__ import annotations

import numpy as np

from ...cells.gru import GRUCache
from .activations import sigmoid, tanh
from .config import njit, use_blas
from .grads import input_grads, recurrent_grad
from .matmul import matmul_into
from .workspace import POOL


@njit
def _forward_before(gates, h0, U_zr_T, U_h_T, extra, h, a_zr, a_h, blas):
    # gates (T, B, 3H) holds P = x · Wᵀ + b on entry and the activated [z, r, h̃] on exit
    num_steps, batch_size, H = h.shape
    for t in range(num_steps):
        h_prev = h0 if t == 0 else h[t - 1]
        matmul_into(h_prev, U_zr_T, a_zr, blas)  # (1) h(t-1) · U_zrᵀ
        for b in range(batch_size):
            g, a_b, hp, rh = gates[t, b], a_zr[b], h_prev[b], extra[t, b]
            for j in range(H):
                g[j] = sigmoid(g[j] + a_b[j])  # (1) z
                r = sigmoid(g[H + j] + a_b[H + j])  # (1) r
                g[H + j] = r
                rh[j] = r * hp[j]  # (2)
        matmul_into(extra[t], U_h_T, a_h, blas)  # (3) rh · U_hᵀ
        for b in range(batch_size):
            g, a_b, hp, h_b = gates[t, b], a_h[b], h_prev[b], h[t, b]
            for j in range(H):
                h_tilde = tanh(g[2 * H + j] + a_b[j])  # (3)
                g[2 * H + j] = h_tilde
                h_b[j] = h_tilde + g[j] * (hp[j] - h_tilde)  # (4)


@njit
def _forward_after(gates, h0, U_T, b_hn, extra, h, a, blas):
    num_steps, batch_size, H = h.shape
    for t in range(num_steps):
        h_prev = h0 if t == 0 else h[t - 1]
        matmul_into(h_prev, U_T, a, blas)  # (1) h(t-1) · Uᵀ, (B, 3H)
        for b in range(batch_size):
            g, a_b, hp, n_b, h_b = gates[t, b], a[b], h_prev[b], extra[t, b], h[t, b]
            for j in range(H):
                z = sigmoid(g[j] + a_b[j])  # (1)
                r = sigmoid(g[H + j] + a_b[H + j])
                n = a_b[2 * H + j] + b_hn[j]  # (1) n
                h_tilde = tanh(g[2 * H + j] + r * n)  # (3)
                g[j], g[H + j], g[2 * H + j], n_b[j] = z, r, h_tilde, n
                h_b[j] = h_tilde + z * (hp[j] - h_tilde)  # (4)


def gru_forward(x, h0, W, U, b, b_hn=None):
    """Drop-in for :func:`rnnlab.cells.gru_forward` (same arguments, result and cache)."""
    num_steps, batch_size, input_size = x.shape
    H = h0.shape[-1]
    dtype = x.dtype
    gates = POOL.take("gru.gates", (num_steps, batch_size, 3 * H), dtype)
    np.matmul(x.reshape(-1, input_size), W.T, out=gates.reshape(-1, 3 * H))  # (0)
    gates += b
    extra = POOL.take("gru.extra", (num_steps, batch_size, H), dtype)
    h = POOL.take("gru.h", (num_steps, batch_size, H), dtype)
    h0c = np.ascontiguousarray(h0)
    blas = use_blas(H, batch_size)
    if b_hn is None:
        U_zr_T = np.ascontiguousarray(U[: 2 * H].T)
        U_h_T = np.ascontiguousarray(U[2 * H :].T)
        a_zr = POOL.take("gru.a_zr", (batch_size, 2 * H), dtype)
        a_h = POOL.take("gru.a_h", (batch_size, H), dtype)
        _forward_before(gates, h0c, U_zr_T, U_h_T, extra, h, a_zr, a_h, blas)
    else:
        a = POOL.take("gru.a", (batch_size, 3 * H), dtype)
        U_T = np.ascontiguousarray(U.T)
        _forward_after(gates, h0c, U_T, np.ascontiguousarray(b_hn), extra, h, a, blas)
    return h, GRUCache(x, h0, gates, extra, h)


@njit
def _backward_after(dh, h0, h, gates, extra, U, delta_x, delta_U, dh_next, dh_acc, blas):
    # dh_next holds dh_final on entry and dh0 on exit; dh_acc is scratch (B, H)
    num_steps, batch_size, H = h.shape
    for t in range(num_steps - 1, -1, -1):
        h_prev = h0 if t == 0 else h[t - 1]
        for b in range(batch_size):
            g, n, hp, dh_t, dh_n = gates[t, b], extra[t, b], h_prev[b], dh[t, b], dh_next[b]
            dx, dU, acc = delta_x[t, b], delta_U[t, b], dh_acc[b]
            for j in range(H):
                z, r, h_tilde = g[j], g[H + j], g[2 * H + j]
                dh_total = dh_t[j] + dh_n[j]
                acc[j] = dh_total * z  # (4) h = z*h_prev + (1-z)*h̃
                dz = dh_total * (hp[j] - h_tilde)
                delta_h = dh_total * (1.0 - z) * (1.0 - h_tilde * h_tilde)  # (4), (3)
                dr = delta_h * n[j]  # (3) h̃ = tanh(P_h + r ⊙ n)
                dx[2 * H + j] = delta_h
                dU[2 * H + j] = delta_h * r
                dx[j] = dU[j] = dz * z * (1.0 - z)  # (1) z = σ(a_z)
                dx[H + j] = dU[H + j] = dr * r * (1.0 - r)  # (1) r = σ(a_r)
        matmul_into(delta_U[t], U, dh_next, blas)  # (1) h(t-1) · Uᵀ
        for b in range(batch_size):
            for j in range(H):
                dh_next[b, j] += dh_acc[b, j]


@njit
def _backward_before(dh, h0, h, gates, extra, U_zr, U_h, delta_x, dh_next, work, blas):
    # work: scratch [dh_acc (B, H), δ_h (B, H), d(rh) (B, H), δ_zr (B, 2H)]
    num_steps, batch_size, H = h.shape
    dh_acc, d_h, d_rh, d_zr = work
    for t in range(num_steps - 1, -1, -1):
        h_prev = h0 if t == 0 else h[t - 1]
        for b in range(batch_size):
            g, dx, dh_t, dh_n, hp = gates[t, b], delta_x[t, b], dh[t, b], dh_next[b], h_prev[b]
            acc, dlt = dh_acc[b], d_h[b]
            for j in range(H):
                z, h_tilde = g[j], g[2 * H + j]
                dh_total = dh_t[j] + dh_n[j]
                acc[j] = dh_total * z  # (4)
                dx[j] = dh_total * (hp[j] - h_tilde)  # dz, finished below
                dlt[j] = dx[2 * H + j] = dh_total * (1.0 - z) * (1.0 - h_tilde * h_tilde)  # (3)
        matmul_into(d_h, U_h, d_rh, blas)  # (3) d(rh) = δ_h · U_h
        for b in range(batch_size):
            g, dx, hp, drh = gates[t, b], delta_x[t, b], h_prev[b], d_rh[b]
            acc, dzr = dh_acc[b], d_zr[b]
            for j in range(H):
                z, r = g[j], g[H + j]
                dr = drh[j] * hp[j]  # (2) rh = r ⊙ h_prev
                acc[j] = acc[j] + drh[j] * r
                dzr[j] = dx[j] = dx[j] * z * (1.0 - z)  # (1) z = σ(a_z)
                dzr[H + j] = dx[H + j] = dr * r * (1.0 - r)  # (1) r = σ(a_r)
        matmul_into(d_zr, U_zr, dh_next, blas)  # (1) h_prev · U_zrᵀ
        for b in range(batch_size):
            for j in range(H):
                dh_next[b, j] += dh_acc[b, j]


def gru_backward(dh, dh_final, cache, W, U, reset_after=False):
    """Drop-in for :func:`rnnlab.cells.gru_backward` (same arguments and results)."""
    x, h0, gates, extra, h = cache
    num_steps, batch_size, H = h.shape
    dtype = h.dtype
    blas = use_blas(H, batch_size)
    delta_x = POOL.take("gru.delta_x", (num_steps, batch_size, 3 * H), dtype)
    dh_next = np.zeros((batch_size, H), dtype) if dh_final is None else np.array(dh_final, dtype)
    args = (np.ascontiguousarray(dh), np.ascontiguousarray(h0), np.ascontiguousarray(h))
    args += (np.ascontiguousarray(gates), np.ascontiguousarray(extra))
    if reset_after:
        delta_U = POOL.take("gru.delta_U", delta_x.shape, dtype)
        dh_acc = POOL.take("gru.dh_acc", (batch_size, H), dtype)
        _backward_after(*args, np.ascontiguousarray(U), delta_x, delta_U, dh_next, dh_acc, blas)
        dx, dW, db = input_grads(delta_x, x, W)
        # dU and db_hn from δ_U, not δ_x: the two differ on the candidate block
        dU = recurrent_grad(delta_U, h0, h)
        db_hn = delta_U.reshape(-1, 3 * H)[:, 2 * H :].sum(axis=0)
        return dx, dh_next, (dW, dU, db, db_hn)
    work = tuple(POOL.take(f"gru.work{k}", (batch_size, H), dtype) for k in range(3))
    work += (POOL.take("gru.work3", (batch_size, 2 * H), dtype),)
    U_zr = np.ascontiguousarray(U[: 2 * H])
    U_h = np.ascontiguousarray(U[2 * H :])
    _backward_before(*args, U_zr, U_h, delta_x, dh_next, work, blas)
    dx, dW, db = input_grads(delta_x, x, W)
    dx_2d = delta_x.reshape(-1, 3 * H)
    dU = np.empty_like(U)
    dU[: 2 * H] = recurrent_grad(delta_x[..., : 2 * H], h0, h)  # (1) z, r act on h(t-1)
    dU[2 * H :] = dx_2d[:, 2 * H :].T @ extra.reshape(-1, H)  # (3) candidate acts on rh
    return dx, dh_next, (dW, dU, db)
