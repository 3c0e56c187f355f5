"""Vanilla RNN: whole-sequence Numba kernels with the reference's signatures and cache.

Same equations and cache as :mod:`rnnlab.cells.rnn`; one compiled call runs all T steps.
"""

from __future__ import annotations

import numpy as np

from ...cells.rnn import RNNCache
from .activations import tanh
from .config import njit, use_blas
from .grads import input_grads, recurrent_grad
from .matmul import matmul_into
from .workspace import POOL


@njit
def _forward_kernel(h, h0, W_hh_T, a, blas):
    # h (T, B, H) holds P = x · W_xhᵀ + b_h on entry and the hidden states on exit
    num_steps, batch_size, H = h.shape
    for t in range(num_steps):
        h_prev = h0 if t == 0 else h[t - 1]
        matmul_into(h_prev, W_hh_T, a, blas)  # (1) h(t-1) · W_hhᵀ
        for b in range(batch_size):
            h_b, a_b = h[t, b], a[b]
            for j in range(H):
                h_b[j] = tanh(h_b[j] + a_b[j])  # (1)


@njit
def _backward_kernel(dh, h, W_hh, delta, dh_next, blas):
    # dh_next holds dh_final on entry and dh0 on exit
    num_steps, batch_size, H = h.shape
    for t in range(num_steps - 1, -1, -1):
        for b in range(batch_size):
            d, dh_t, h_t, dh_n = delta[t, b], dh[t, b], h[t, b], dh_next[b]
            for j in range(H):
                d[j] = (dh_t[j] + dh_n[j]) * (1.0 - h_t[j] * h_t[j])  # (1) h = tanh(a)
        matmul_into(delta[t], W_hh, dh_next, blas)  # (1) dh(t-1) = δ · W_hh


def rnn_forward(x, h0, W_xh, W_hh, b_h):
    """Drop-in for :func:`rnnlab.cells.rnn_forward` (same arguments, result and cache)."""
    num_steps, batch_size, input_size = x.shape
    H = h0.shape[-1]
    h = POOL.take("rnn.h", (num_steps, batch_size, H), x.dtype)
    np.matmul(x.reshape(-1, input_size), W_xh.T, out=h.reshape(-1, H))  # (0)
    h += b_h
    a = POOL.take("rnn.a", (batch_size, H), x.dtype)
    W_hh_T = np.ascontiguousarray(W_hh.T)
    _forward_kernel(h, np.ascontiguousarray(h0), W_hh_T, a, use_blas(H, batch_size))
    return h, RNNCache(x, h0, h)


def rnn_backward(dh, dh_final, cache, W_xh, W_hh):
    """Drop-in for :func:`rnnlab.cells.rnn_backward` (same arguments and results)."""
    x, h0, h = cache
    num_steps, batch_size, H = h.shape
    delta = POOL.take("rnn.delta", (num_steps, batch_size, H), h.dtype)
    dh_next = (
        np.zeros((batch_size, H), h.dtype) if dh_final is None else np.array(dh_final, h.dtype)
    )
    _backward_kernel(
        np.ascontiguousarray(dh),
        np.ascontiguousarray(h),
        np.ascontiguousarray(W_hh),
        delta,
        dh_next,
        use_blas(H, batch_size),
    )
    dx, dW_xh, db_h = input_grads(delta, x, W_xh)
    dW_hh = recurrent_grad(delta, h0, h)
    return dx, dh_next, (dW_xh, dW_hh, db_h)
