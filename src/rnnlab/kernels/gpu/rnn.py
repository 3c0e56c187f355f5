"""Vanilla RNN on the GPU: cuBLAS products through the array namespace, fused pointwise kernels.

Same signatures and caches as :func:`rnnlab.cells.rnn.rnn_forward` / ``rnn_backward``; the step
numbers (0), (1) are the reference's. Per step the driver issues one matrix product
(``h(t-1) · W_hhᵀ``, cuBLAS on CuPy, BLAS on NumPy in the simulator) and one kernel launch:

    forward   (1) h(t) = tanh(P(t) + g),            g = h(t-1) · W_hhᵀ     one thread per (b, j)
    backward  (1) δ(t) = (dh(t) + dh_next) ⊙ (1 - h(t)²),  then dh_next = δ(t) · W_hh

Kernels take whole (T, B, ·) arrays and the step index t, so device views are made once per
sequence, not once per step.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import cuda

from ...backend import xp_of
from ...cells.rnn import RNNCache
from ...cells.weight_grads import stacked_weight_gradients
from ._launch import kernel_args, launch_config, stream_for

__all__ = ["rnn_backward", "rnn_forward"]


@functools.cache
def _kernels(dtype_name: str):
    one = np.dtype(dtype_name).type(1.0)

    @cuda.jit
    def forward_step(P, g, h, t):
        # P (T, B, H) projected inputs, g (B, H) recurrent product; writes h[t] (B, H).
        k = cuda.grid(1)
        batch_size, hidden_size = g.shape
        if k < batch_size * hidden_size:
            b = k // hidden_size
            j = k - b * hidden_size
            h[t, b, j] = math.tanh(P[t, b, j] + g[b, j])  # (1)

    @cuda.jit
    def backward_step(dh, dh_next, h, delta, t):
        # dh (T, B, H) from above, dh_next (B, H) from step t+1; writes delta[t] (B, H).
        k = cuda.grid(1)
        batch_size, hidden_size = dh_next.shape
        if k < batch_size * hidden_size:
            b = k // hidden_size
            j = k - b * hidden_size
            h_t = h[t, b, j]
            delta[t, b, j] = (dh[t, b, j] + dh_next[b, j]) * (one - h_t * h_t)  # (1) tanh'

    return forward_step, backward_step


def rnn_forward(x, h0, W_xh, W_hh, b_h):
    """GPU version of :func:`rnnlab.cells.rnn.rnn_forward` (same arguments, same cache)."""
    xp = xp_of(x)
    num_steps, batch_size, _ = x.shape
    hidden_size = h0.shape[-1]
    forward_step, _ = _kernels(x.dtype.name)
    P = x @ W_xh.T + b_h  # (0) one product for all steps, (T, B, H)
    h = xp.empty_like(P)
    g = xp.empty((batch_size, hidden_size), dtype=P.dtype)  # h(t-1) · W_hhᵀ, reused every step
    blocks, threads = launch_config(batch_size * hidden_size)
    launch = forward_step[blocks, threads, stream_for(xp)]
    P_d, g_d, h_d = kernel_args(xp, P, g, h)
    h_prev = h0
    for t in range(num_steps):
        xp.matmul(h_prev, W_hh.T, out=g)
        launch(P_d, g_d, h_d, t)
        h_prev = h[t]
    return h, RNNCache(x, h0, h)


def rnn_backward(dh, dh_final, cache, W_xh, W_hh):
    """GPU version of :func:`rnnlab.cells.rnn.rnn_backward` (same arguments, same results)."""
    xp = xp_of(dh)
    x, h0, h = cache
    num_steps, batch_size, hidden_size = h.shape
    _, backward_step = _kernels(h.dtype.name)
    delta = xp.empty_like(h)
    # A fresh buffer: the caller's dh_final must not be overwritten by the recurrence.
    dh_next = xp.zeros(h0.shape, h0.dtype) if dh_final is None else dh_final.copy()
    blocks, threads = launch_config(batch_size * hidden_size)
    launch = backward_step[blocks, threads, stream_for(xp)]
    dh_d, dh_next_d, h_d, delta_d = kernel_args(xp, dh, dh_next, h, delta)
    for t in range(num_steps - 1, -1, -1):
        launch(dh_d, dh_next_d, h_d, delta_d, t)
        xp.matmul(delta[t], W_hh, out=dh_next)  # (1) a = P + h_prev · W_hhᵀ
    dx, dW_xh, dW_hh, db_h = stacked_weight_gradients(delta, x, h0, h, W_xh)  # (0)
    return dx, dh_next, (dW_xh, dW_hh, db_h)
