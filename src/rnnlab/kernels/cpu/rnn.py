"""Vanilla RNN: whole-sequence Numba kernels with the reference's signatures and cache.

Same equations and cache as :mod:`rnnlab.cells.rnn`. One compiled call runs a whole forward
(input projection, all T steps) and one a whole backward (all steps, then the weight and input
gradients as single matrix products).
"""

from __future__ import annotations

import numpy as np

from ...cells.rnn import RNNCache
from ...inference import InferenceCache
from .activations import tanh
from .blas_threads import kernel_blas
from .buffers import carve, lengths_array
from .carry import copy_row, padded_outputs, restore_carried, zero_row
from .config import bulk_flops, njit, use_blas
from .matmul import input_grads, project_inputs, recurrent_grad
from .packed import mkl_threads, recurrent_step, step_packing

GATES = 1  # stacked gate blocks


@njit
def _forward_kernel(x, h0, W_xh, W_hh, b_h, lengths, h, blas, packed):
    num_steps, batch_size, H = h.shape
    a = np.empty((batch_size, H), h.dtype)  # step scratch: here, so the cache keeps only h
    project_inputs(x, W_xh, b_h, h, blas[1])  # (0) h holds P until step t overwrites it
    for t in range(num_steps):
        h_prev = h0 if t == 0 else h[t - 1]
        recurrent_step(h_prev, W_hh.T, W_hh, packed[0], a, blas[0])  # (1) h(t-1) · W_hhᵀ
        for b in range(batch_size):
            h_b, a_b = h[t, b], a[b]
            for j in range(H):
                h_b[j] = tanh(h_b[j] + a_b[j])  # (1)
            if t >= lengths[b]:  # (M) padded step: the state is carried unchanged
                copy_row(h_b, h_prev[b])


@njit
def _backward_kernel(dh, x, h0, h, W_xh, W_hh, lengths, delta, out, blas, packed):
    dx, dh_next, dW_xh, dW_hh, db_h = out  # dh_next holds dh_final on entry and dh0 on exit
    num_steps, batch_size, H = h.shape
    one = dh.dtype.type(1.0)  # a float literal would promote float32 arithmetic to float64
    W_hh_T = np.ascontiguousarray(W_hh.T)
    carried = np.empty_like(dh_next)  # (M) dh of padded rows, passed straight to h(t-1)
    for t in range(num_steps - 1, -1, -1):
        for b in range(batch_size):
            d, dh_t, h_t, dh_n = delta[t, b], dh[t, b], h[t, b], dh_next[b]
            if t >= lengths[b]:  # (M) padded: dy ignored, no gradient, dh carried
                zero_row(d)
                copy_row(carried[b], dh_n)
                continue
            for j in range(H):
                d[j] = (dh_t[j] + dh_n[j]) * (one - h_t[j] * h_t[j])  # (1) h = tanh(a)
        recurrent_step(delta[t], W_hh, W_hh_T, packed[0], dh_next, blas[0])  # (1) δ · W_hh
        restore_carried(dh_next, carried, lengths, t, 0, dh_next.shape[0])
    input_grads(delta, x, W_xh, dx, dW_xh, db_h, blas[1])  # (0)
    recurrent_grad(delta, h0, h, dW_hh, blas[1])  # (1)


def rnn_forward(x, h0, W_xh, W_hh, b_h, lengths=None):
    """Drop-in for :func:`rnnlab.cells.rnn_forward` (same arguments, result and cache)."""
    num_steps, batch_size, _ = x.shape
    H = h0.shape[-1]
    (h,) = carve("rnn.forward", [(num_steps, batch_size, H)], x.dtype)
    c = np.ascontiguousarray
    steps, blas = lengths_array(lengths, num_steps, batch_size), use_blas(x.shape, H, GATES)
    packed, threads = step_packing((W_hh,), batch_size, blas, transpose=True)
    with kernel_blas(blas, bulk_flops(x.shape, H, GATES)), mkl_threads(threads):
        _forward_kernel(c(x), c(h0), c(W_xh), c(W_hh), c(b_h), steps, h, blas, packed)
    y = h if lengths is None else padded_outputs(h, steps)
    return y, RNNCache(x, h0, h)


def rnn_infer(x, h0, W_xh, W_hh, b_h, lengths=None):
    """:func:`rnn_forward` for ``rnnlab.no_grad``: (h, InferenceCache). The RNN's training
    forward already keeps nothing beyond its outputs h, so this is it, minus the cache."""
    y, cache = rnn_forward(x, h0, W_xh, W_hh, b_h, lengths)
    return y, InferenceCache(cache.h[-1:].copy(), None)


def rnn_backward(dh, dh_final, cache, W_xh, W_hh, lengths=None):
    """Drop-in for :func:`rnnlab.cells.rnn_backward` (same arguments and results)."""
    x, h0, h = cache
    num_steps, batch_size, H = h.shape
    input_size = x.shape[-1]
    (delta,) = carve("rnn.backward", [(num_steps, batch_size, H)], h.dtype)
    dx, dh0, dW_xh, dW_hh, db_h = carve(
        "",
        [(num_steps, batch_size, input_size), (batch_size, H), W_xh.shape, W_hh.shape, (H,)],
        h.dtype,
        pooled=False,
    )
    dh0[...] = 0.0 if dh_final is None else dh_final
    c = np.ascontiguousarray
    blas = use_blas(x.shape, H, GATES)
    packed, threads = step_packing((W_hh,), batch_size, blas, transpose=False)
    with kernel_blas(blas, bulk_flops(x.shape, H, GATES)), mkl_threads(threads):
        _backward_kernel(
            c(dh), c(x), c(h0), c(h), c(W_xh), c(W_hh),
            lengths_array(lengths, num_steps, batch_size),
            delta, (dx, dh0, dW_xh, dW_hh, db_h), blas, packed,
        )  # fmt: skip
    return dx, dh0, (dW_xh, dW_hh, db_h)
