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
from .buffers import carve, lengths_array
from .carry import copy_row, padded_outputs, restore_carried, zero_row
from .config import njit, use_blas
from .matmul import (
    input_grads,
    project_inputs,
    project_step,
    recurrent_grad,
    recurrent_step,
    step_operand,
)
from .rows import run_kernel, split_weight_grads
from .vector_width import wide_vectors

GATES = 1  # stacked gate blocks
# The RNN's steps are short (one gate), so its split (rows.py) waits for more work than the
# LSTM's. Two threads against one, interleaved: forward 1.08-1.10x at (100,32,128,256) (419
# MFLOP of per-step products), 0.53x at (200,64,64,256) (1.7 GFLOP); backward 0.90-1.13x at
# (50,64,32,128) (104 MFLOP), 0.64-0.69x at (100,32,128,256).
FORWARD_SPLIT_MIN_FLOPS = 1_000_000_000
BACKWARD_SPLIT_MIN_FLOPS = 400_000_000


@njit
def _forward_kernel(x, h0, W_xh, W_hh, b_h, lengths, h, blas, packed, lo, hi):
    """Step (1) for the batch rows lo:hi, every step: all rows on one thread, or one of two
    blocks (rows.py). ``packed`` = (W_hh, W_xh) packed for MKL, or empty arrays; with W_xh
    packed the input projection runs step by step, as in the LSTM's kernel."""
    wide_vectors()  # 512-bit loops where the CPU has them (vector_width.py)
    if not packed[1].size:
        project_inputs(x, W_xh, b_h, h, blas[1])  # (0) h holds P until step t overwrites it
    num_steps, _, H = h.shape
    a = np.empty((hi - lo, H), h.dtype)  # step scratch: here, so the cache keeps only h
    W_step = step_operand(W_hh, False, packed[0], blas[0], hi - lo)  # (1)'s operand (matmul.py)
    for t in range(num_steps):
        h_prev = h0 if t == 0 else h[t - 1]
        if packed[1].size:  # (0) P(t) = x(t) · W_xhᵀ + b_h for these rows
            project_step(x[t, lo:hi], packed[1], h[t, lo:hi], b_h)
        recurrent_step(h_prev[lo:hi], W_step, packed[0], a, blas[0])  # (1) h(t-1) · W_hhᵀ
        for b in range(lo, hi):
            h_b, a_b = h[t, b], a[b - lo]
            for j in range(H):
                h_b[j] = tanh(h_b[j] + a_b[j])  # (1)
            if t >= lengths[b]:  # (M) padded step: the state is carried unchanged
                copy_row(h_b, h_prev[b])


@njit
def _backward_kernel(dh, x, h0, h, W_xh, W_hh, lengths, delta, out, blas, packed, lo, hi):
    """δ for the batch rows lo:hi, every step, last to first (rows.py); then, where the call
    covers the whole batch, the weight and input gradients (a split call's caller adds them).
    dh_next holds dh_final on entry and dh0 on exit."""
    wide_vectors()  # 512-bit loops where the CPU has them (vector_width.py)
    dx, dh_next, dW_xh, dW_hh, db_h = out
    carried = np.empty_like(dh_next)  # the dh of padded rows, passed straight to h(t-1) (M)
    num_steps, _, H = h.shape
    one = dh.dtype.type(1.0)  # a float literal would promote float32 arithmetic to float64
    W_step = step_operand(W_hh, True, packed[0], blas[0], hi - lo)  # (1)'s operand (matmul.py)
    for t in range(num_steps - 1, -1, -1):
        for b in range(lo, hi):
            d, dh_t, h_t, dh_n = delta[t, b], dh[t, b], h[t, b], dh_next[b]
            if t >= lengths[b]:  # (M) padded: dy ignored, no gradient, dh carried
                zero_row(d)
                copy_row(carried[b], dh_n)
                continue
            for j in range(H):
                d[j] = (dh_t[j] + dh_n[j]) * (one - h_t[j] * h_t[j])  # (1) h = tanh(a)
        # (1) dh(t-1) = δ · W_hh
        recurrent_step(delta[t, lo:hi], W_step, packed[0], dh_next[lo:hi], blas[0])
        restore_carried(dh_next, carried, lengths, t, lo, hi)
    if lo == 0 and hi == dh.shape[1]:
        input_grads(delta, x, W_xh, dx, dW_xh, db_h, blas[1])  # (0)
        recurrent_grad(delta, h0, h, dW_hh, blas[1])  # (1)


def rnn_forward(x, h0, W_xh, W_hh, b_h, lengths=None):
    """Drop-in for :func:`rnnlab.cells.rnn_forward` (same arguments, result and cache)."""
    num_steps, batch_size, _ = x.shape
    H = h0.shape[-1]
    (h,) = carve("rnn.forward", [(num_steps, batch_size, H)], x.dtype)
    c = np.ascontiguousarray
    x, h0, W_xh, W_hh, b_h = c(x), c(h0), c(W_xh), c(W_hh), c(b_h)
    steps = lengths_array(lengths, num_steps, batch_size)
    run_kernel(  # each block projects its own rows' inputs, step by step (lstm.py)
        use_blas(x.shape, H, GATES), x.shape, H, GATES, (W_hh, W_xh), True,
        lambda blas, packed, lo, hi: _forward_kernel(
            x, h0, W_xh, W_hh, b_h, steps, h, blas, packed, lo, hi
        ),
        FORWARD_SPLIT_MIN_FLOPS,
    )  # fmt: skip
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
    out = carve(
        "",
        [(num_steps, batch_size, input_size), (batch_size, H), W_xh.shape, W_hh.shape, (H,)],
        h.dtype,
        pooled=False,
    )
    dx, dh0, dW_xh, dW_hh, db_h = out
    dh0[...] = 0.0 if dh_final is None else dh_final
    c = np.ascontiguousarray
    dh, x, h0, h, W_xh, W_hh = c(dh), c(x), c(h0), c(h), c(W_xh), c(W_hh)
    steps = lengths_array(lengths, num_steps, batch_size)
    split = run_kernel(
        use_blas(x.shape, H, GATES, True), x.shape, H, GATES, (W_hh,), False,
        lambda blas, packed, lo, hi: _backward_kernel(
            dh, x, h0, h, W_xh, W_hh, steps, delta, tuple(out), blas, packed, lo, hi
        ),
        BACKWARD_SPLIT_MIN_FLOPS,
    )  # fmt: skip
    if split:  # the rows' loops are done: the weight gradients, split by steps
        split_weight_grads(delta, x, W_xh, h0, h, dx, (dW_xh, dW_hh, db_h))
    return dx, dh0, (dW_xh, dW_hh, db_h)
