"""LSTM: whole-sequence Numba kernels with the reference's signatures and cache.

Same equations, numbering and cache as :mod:`rnnlab.cells.lstm`; one compiled call runs all T
steps. Outside the call stay the big matrix products: the input projection of all steps before
forward, and dW, dU, dx after backward.
"""

from __future__ import annotations

import numpy as np

from ...cells.lstm import LSTMCache
from .activations import sigmoid, tanh
from .config import njit, use_blas
from .grads import input_grads, recurrent_grad
from .matmul import matmul_into
from .workspace import POOL


@njit
def _forward_kernel(gates, h0, C0, U_T, C, tanh_C, h, a, blas):
    # gates (T, B, 4H) holds P = x · Wᵀ + b on entry and the activated gates on exit
    num_steps, batch_size, H = h.shape
    for t in range(num_steps):
        h_prev = h0 if t == 0 else h[t - 1]
        C_prev = C0 if t == 0 else C[t - 1]
        matmul_into(h_prev, U_T, a, blas)  # (1) h(t-1) · Uᵀ, (B, 4H)
        for b in range(batch_size):
            g, a_b, c_prev = gates[t, b], a[b], C_prev[b]
            c_out, tc_out, h_out = C[t, b], tanh_C[t, b], h[t, b]
            for j in range(H):
                f = sigmoid(g[j] + a_b[j])  # (2)
                i = sigmoid(g[H + j] + a_b[H + j])
                C_tilde = tanh(g[2 * H + j] + a_b[2 * H + j])
                o = sigmoid(g[3 * H + j] + a_b[3 * H + j])
                c = f * c_prev[j] + i * C_tilde  # (3)
                tc = tanh(c)
                g[j], g[H + j], g[2 * H + j], g[3 * H + j] = f, i, C_tilde, o
                c_out[j], tc_out[j], h_out[j] = c, tc, o * tc  # (4)


@njit
def _backward_kernel(dh, gates, C, C0, tanh_C, U, delta, dh_next, dC_next, blas):
    # dh_next, dC_next hold dh_final, dC_final on entry and dh0, dC0 on exit
    num_steps, batch_size, H = dh.shape
    for t in range(num_steps - 1, -1, -1):
        C_prev = C0 if t == 0 else C[t - 1]
        for b in range(batch_size):
            g, d, dh_t, c_prev, tc = gates[t, b], delta[t, b], dh[t, b], C_prev[b], tanh_C[t, b]
            dh_n, dC_n = dh_next[b], dC_next[b]
            for j in range(H):
                f, i, C_tilde, o = g[j], g[H + j], g[2 * H + j], g[3 * H + j]
                dh_total = dh_t[j] + dh_n[j]
                do = dh_total * tc[j]  # (4) h = o * tanh(C)
                dC = dC_n[j] + dh_total * o * (1.0 - tc[j] * tc[j])
                d[j] = dC * c_prev[j] * f * (1.0 - f)  # (3), (2) f = σ(a_f)
                d[H + j] = dC * C_tilde * i * (1.0 - i)  # (3), (2) i = σ(a_i)
                d[2 * H + j] = dC * i * (1.0 - C_tilde * C_tilde)  # (3), (2) C̃ = tanh(a_c)
                d[3 * H + j] = do * o * (1.0 - o)  # (2) o = σ(a_o)
                dC_n[j] = dC * f  # (3)
        matmul_into(delta[t], U, dh_next, blas)  # (1) dh(t-1) = δ · U


def lstm_forward(x, h0, C0, W, U, b):
    """Drop-in for :func:`rnnlab.cells.lstm_forward` (same arguments, result and cache)."""
    num_steps, batch_size, input_size = x.shape
    H = h0.shape[-1]
    dtype = x.dtype
    gates = POOL.take("lstm.gates", (num_steps, batch_size, 4 * H), dtype)
    np.matmul(x.reshape(-1, input_size), W.T, out=gates.reshape(-1, 4 * H))  # (0)
    gates += b
    C = POOL.take("lstm.C", (num_steps, batch_size, H), dtype)
    tanh_C = POOL.take("lstm.tanh_C", (num_steps, batch_size, H), dtype)
    h = POOL.take("lstm.h", (num_steps, batch_size, H), dtype)
    a = POOL.take("lstm.a", (batch_size, 4 * H), dtype)
    h0c, C0c = np.ascontiguousarray(h0), np.ascontiguousarray(C0)
    U_T = np.ascontiguousarray(U.T)
    _forward_kernel(gates, h0c, C0c, U_T, C, tanh_C, h, a, use_blas(H, batch_size))
    return h, LSTMCache(x, h0, C0, gates, C, tanh_C, h)


def lstm_backward(dh, dh_final, dC_final, cache, W, U):
    """Drop-in for :func:`rnnlab.cells.lstm_backward` (same arguments and results)."""
    x, h0, C0, gates, C, tanh_C, h = cache
    num_steps, batch_size, H = h.shape
    dtype = h.dtype
    delta = POOL.take("lstm.delta", (num_steps, batch_size, 4 * H), dtype)
    dh_next = np.zeros((batch_size, H), dtype) if dh_final is None else np.array(dh_final, dtype)
    dC_next = np.zeros((batch_size, H), dtype) if dC_final is None else np.array(dC_final, dtype)
    _backward_kernel(
        np.ascontiguousarray(dh),
        np.ascontiguousarray(gates),
        np.ascontiguousarray(C),
        np.ascontiguousarray(C0),
        np.ascontiguousarray(tanh_C),
        np.ascontiguousarray(U),
        delta,
        dh_next,
        dC_next,
        use_blas(H, batch_size),
    )
    dx, dW, db = input_grads(delta, x, W)
    dU = recurrent_grad(delta, h0, h)
    return dx, dh_next, dC_next, (dW, dU, db)
