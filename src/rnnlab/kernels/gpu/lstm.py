"""LSTM on the GPU: one cuBLAS product and one fused gate kernel per step.

Same signatures and caches as :func:`rnnlab.cells.lstm.lstm_forward` / ``lstm_backward``; step
numbers are the reference's. One thread per (b, j) computes all four gates of hidden unit j,
so the whole step (2)-(4) is one launch instead of the reference's dozen array operations:

    (1) g = h(t-1) · Uᵀ                               matrix product, (B, 4H)
    (2) f, i, o = σ(P + g) per gate;  C̃ = tanh(P_c + g_c)
    (3) C(t) = f ⊙ C(t-1) + i ⊙ C̃
    (4) h(t) = o ⊙ tanh(C(t))

Backward, per step: one kernel for (4)-(2) writing δ(t) (B, 4H) and dC(t-1) in place, then
``dh_next = δ(t) · U``. Expressions keep the reference's operation order, so in float64 the
results differ from it only through tanh/exp rounding.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import cuda

from ...backend import xp_of
from ...cells.lstm import LSTMCache
from ...cells.weight_grads import stacked_weight_gradients
from ._launch import device_functions, kernel_args, launch_config, stream_for

__all__ = ["lstm_backward", "lstm_forward"]


@functools.cache
def _kernels(dtype_name: str):
    sigmoid, one = device_functions(np.dtype(dtype_name))

    @cuda.jit
    def forward_step(P, g, C0, gates, C, tanh_C, h, t):
        # P, gates (T, B, 4H); g (B, 4H); C0 (B, H); C, tanh_C, h (T, B, H). Writes step t.
        k = cuda.grid(1)
        batch_size, H = C0.shape
        if k < batch_size * H:
            b = k // H
            j = k - b * H
            f = sigmoid(P[t, b, j] + g[b, j])  # (2)
            i = sigmoid(P[t, b, H + j] + g[b, H + j])
            C_tilde = math.tanh(P[t, b, 2 * H + j] + g[b, 2 * H + j])
            o = sigmoid(P[t, b, 3 * H + j] + g[b, 3 * H + j])
            C_prev = C0[b, j] if t == 0 else C[t - 1, b, j]
            c = f * C_prev + i * C_tilde  # (3)
            tc = math.tanh(c)
            gates[t, b, j] = f
            gates[t, b, H + j] = i
            gates[t, b, 2 * H + j] = C_tilde
            gates[t, b, 3 * H + j] = o
            C[t, b, j] = c
            tanh_C[t, b, j] = tc
            h[t, b, j] = o * tc  # (4)

    @cuda.jit
    def backward_step(dh, dh_next, dC_next, gates, C, C0, tanh_C, delta, t):
        # dh (T, B, H); dh_next, dC_next (B, H): gradients from step t+1; dC_next is
        # overwritten with dC(t-1). Writes delta[t] (B, 4H).
        k = cuda.grid(1)
        batch_size, H = C0.shape
        if k < batch_size * H:
            b = k // H
            j = k - b * H
            f = gates[t, b, j]
            i = gates[t, b, H + j]
            C_tilde = gates[t, b, 2 * H + j]
            o = gates[t, b, 3 * H + j]
            tc = tanh_C[t, b, j]
            C_prev = C0[b, j] if t == 0 else C[t - 1, b, j]
            dh_t = dh[t, b, j] + dh_next[b, j]
            do = dh_t * tc  # (4) h = o * tanh(C)
            dC = dC_next[b, j] + dh_t * o * (one - tc * tc)
            delta[t, b, j] = dC * C_prev * f * (one - f)  # (3), (2) f = σ(a_f)
            delta[t, b, H + j] = dC * C_tilde * i * (one - i)  # (3), (2) i = σ(a_i)
            delta[t, b, 2 * H + j] = dC * i * (one - C_tilde * C_tilde)  # (3), (2) C̃ = tanh
            delta[t, b, 3 * H + j] = do * o * (one - o)  # (2) o = σ(a_o)
            dC_next[b, j] = dC * f  # (3) dC(t-1)

    return forward_step, backward_step


def lstm_forward(x, h0, C0, W, U, b):
    """GPU version of :func:`rnnlab.cells.lstm.lstm_forward` (same arguments, same cache)."""
    xp = xp_of(x)
    num_steps, batch_size, _ = x.shape
    H = h0.shape[-1]
    forward_step, _ = _kernels(x.dtype.name)
    P = x @ W.T + b  # (0) (T, B, 4H)
    gates = xp.empty_like(P)
    C = xp.empty((num_steps, batch_size, H), dtype=P.dtype)
    tanh_C = xp.empty_like(C)
    h = xp.empty_like(C)
    g = xp.empty((batch_size, 4 * H), dtype=P.dtype)  # h(t-1) · Uᵀ, reused every step
    blocks, threads = launch_config(batch_size * H)
    launch = forward_step[blocks, threads, stream_for(xp)]
    args = kernel_args(xp, P, g, C0, gates, C, tanh_C, h)
    h_prev = h0
    for t in range(num_steps):
        xp.matmul(h_prev, U.T, out=g)  # (1)
        launch(*args, t)
        h_prev = h[t]
    return h, LSTMCache(x, h0, C0, gates, C, tanh_C, h)


def lstm_backward(dh, dh_final, dC_final, cache, W, U):
    """GPU version of :func:`rnnlab.cells.lstm.lstm_backward` (same arguments, same results)."""
    xp = xp_of(dh)
    x, h0, C0, gates, C, tanh_C, h = cache
    num_steps, batch_size, H = h.shape
    _, backward_step = _kernels(h.dtype.name)
    delta = xp.empty_like(gates)
    # Fresh buffers: the recurrence overwrites them, never the caller's final gradients.
    dh_next = xp.zeros(h0.shape, h.dtype) if dh_final is None else dh_final.copy()
    dC_next = xp.zeros(C0.shape, h.dtype) if dC_final is None else dC_final.copy()
    blocks, threads = launch_config(batch_size * H)
    launch = backward_step[blocks, threads, stream_for(xp)]
    args = kernel_args(xp, dh, dh_next, dC_next, gates, C, C0, tanh_C, delta)
    for t in range(num_steps - 1, -1, -1):
        launch(*args, t)
        xp.matmul(delta[t], U, out=dh_next)  # (1) a = P + h_prev · Uᵀ
    dx, dW, dU, db = stacked_weight_gradients(delta, x, h0, h, W)  # (0)
    return dx, dh_next, dC_next, (dW, dU, db)
