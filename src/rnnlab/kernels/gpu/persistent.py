"""Persistent-RNN forward kernels (after Diamos et al. 2016): one launch runs all T steps.

The per-step drivers pay, every step, a cuBLAS call and a kernel launch, and re-read U from
global memory; at small hidden sizes and batches (B <= 8) the GPU idles between them. Here one
block per batch row loads U into shared memory once, keeps h(t-1) (and C(t-1) in registers),
and loops over time inside the kernel. Rows of a batch never interact, so the only barrier
needed between steps is the block's own ``syncthreads``; no grid-wide synchronisation.

Layout: thread j owns hidden unit j and computes its G gate pre-activations (G = 1, 4, 3)
as dot products of shared-memory U rows with h(t-1). U is stored transposed in shared memory,
``U_s[k * G·H + row]``, so that threads j, j+1 read adjacent words (no bank conflicts).

Limits: H <= 1024 threads, and G·H² + 2H values must fit the 48 KiB of shared memory a block
gets without opting in (float32: RNN H <= 109, GRU H <= 63, LSTM H <= 55). Outside them the
per-step driver runs instead. Forward only: the cache is the reference's, so the per-step
backward (or the reference's) follows it. The dot products sum in a different order than
cuBLAS, so results equal the reference to rounding, not bit for bit.

Enable with ``RNNLAB_CUDA_PERSISTENT=1`` (read when a layer on "cuda" dispatches).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import cuda
from numba.np import numpy_support

from ...backend import xp_of
from ...cells.gru import GRUCache
from ...cells.lstm import LSTMCache
from ...cells.rnn import RNNCache
from . import gru as stepwise_gru
from . import lstm as stepwise_lstm
from . import rnn as stepwise_rnn
from ._launch import WARP_SIZE, device_functions, kernel_args, stream_for

__all__ = ["fits", "gru_forward", "lstm_forward", "persistent_plan", "rnn_forward"]

SHARED_MEMORY_BYTES = 48 * 1024
MAX_THREADS = 1024


def persistent_plan(num_gates: int, hidden_size: int, batch_size: int, dtype):
    """``(blocks, threads, shared_bytes)`` of the persistent launch, or None when it cannot run."""
    itemsize = np.dtype(dtype).itemsize
    shared_bytes = (num_gates * hidden_size * hidden_size + 2 * hidden_size) * itemsize
    threads = -(-hidden_size // WARP_SIZE) * WARP_SIZE
    if threads > MAX_THREADS or shared_bytes > SHARED_MEMORY_BYTES:
        return None
    return batch_size, threads, shared_bytes


def fits(num_gates: int, hidden_size: int, dtype) -> bool:
    """Whether the persistent kernel can hold U of this size on chip."""
    return persistent_plan(num_gates, hidden_size, 1, dtype) is not None


@functools.cache
def _kernels(dtype_name: str):
    dtype = np.dtype(dtype_name)
    nb_dtype = numpy_support.from_dtype(dtype)
    sigmoid, _ = device_functions(dtype)
    zero = dtype.type(0.0)

    @cuda.jit(device=True)
    def load_shared(U, h0, b, j, num_threads):
        # Shared memory: U transposed (H, G·H), then h(t-1) (H,), then a scratch vector (H,).
        GH, H = U.shape
        smem = cuda.shared.array(0, nb_dtype)
        U_s = smem[: GH * H]
        for idx in range(j, GH * H, num_threads):
            row = idx // H
            k = idx - row * H
            U_s[k * GH + row] = U[row, k]  # coalesced read of U, transposed write
        h_s = smem[GH * H : GH * H + H]
        if j < H:
            h_s[j] = h0[b, j]
        return U_s, h_s, smem[GH * H + H : GH * H + 2 * H]

    @cuda.jit(device=True)
    def dot(U_s, v_s, row, GH, H):
        acc = zero
        for k in range(H):
            acc += U_s[k * GH + row] * v_s[k]
        return acc

    @cuda.jit
    def rnn_kernel(P, U, h0, h):
        b, j, nt = cuda.blockIdx.x, cuda.threadIdx.x, cuda.blockDim.x
        num_steps, _, H = h.shape
        U_s, h_s, _ = load_shared(U, h0, b, j, nt)
        cuda.syncthreads()
        for t in range(num_steps):
            h_new = zero
            if j < H:
                h_new = math.tanh(P[t, b, j] + dot(U_s, h_s, j, H, H))  # (1)
                h[t, b, j] = h_new
            cuda.syncthreads()  # every thread has read h(t-1)
            if j < H:
                h_s[j] = h_new
            cuda.syncthreads()  # h(t) complete before step t+1 reads it

    @cuda.jit
    def lstm_kernel(P, U, h0, C0, gates, C, tanh_C, h):
        b, j, nt = cuda.blockIdx.x, cuda.threadIdx.x, cuda.blockDim.x
        num_steps, _, H = h.shape
        GH = 4 * H
        U_s, h_s, _ = load_shared(U, h0, b, j, nt)
        c = C0[b, j] if j < H else zero  # C(t-1) stays in a register
        cuda.syncthreads()
        for t in range(num_steps):
            h_new = zero
            if j < H:
                f = sigmoid(P[t, b, j] + dot(U_s, h_s, j, GH, H))  # (1), (2)
                i = sigmoid(P[t, b, H + j] + dot(U_s, h_s, H + j, GH, H))
                C_tilde = math.tanh(P[t, b, 2 * H + j] + dot(U_s, h_s, 2 * H + j, GH, H))
                o = sigmoid(P[t, b, 3 * H + j] + dot(U_s, h_s, 3 * H + j, GH, H))
                c = f * c + i * C_tilde  # (3)
                tc = math.tanh(c)
                h_new = o * tc  # (4)
                gates[t, b, j] = f
                gates[t, b, H + j] = i
                gates[t, b, 2 * H + j] = C_tilde
                gates[t, b, 3 * H + j] = o
                C[t, b, j] = c
                tanh_C[t, b, j] = tc
                h[t, b, j] = h_new
            cuda.syncthreads()
            if j < H:
                h_s[j] = h_new
            cuda.syncthreads()

    @cuda.jit
    def gru_kernel(P, U, b_hn, h0, gates, extra, h, reset_after):
        b, j, nt = cuda.blockIdx.x, cuda.threadIdx.x, cuda.blockDim.x
        num_steps, _, H = h.shape
        GH = 3 * H
        U_s, h_s, rh_s = load_shared(U, h0, b, j, nt)
        cuda.syncthreads()
        for t in range(num_steps):
            z = zero
            h_prev = zero
            if j < H:
                h_prev = h_s[j]
                z = sigmoid(P[t, b, j] + dot(U_s, h_s, j, GH, H))  # (1)
                r = sigmoid(P[t, b, H + j] + dot(U_s, h_s, H + j, GH, H))
                gates[t, b, j] = z
                gates[t, b, H + j] = r
                if reset_after:
                    n = dot(U_s, h_s, 2 * H + j, GH, H) + b_hn[j]
                    extra[t, b, j] = n
                    rh_s[j] = P[t, b, 2 * H + j] + r * n  # the candidate's argument
                else:
                    rh_s[j] = r * h_prev  # (2) rh
                    extra[t, b, j] = rh_s[j]
            cuda.syncthreads()  # rh complete; every thread has read h(t-1)
            h_new = zero
            if j < H:
                if reset_after:
                    h_tilde = math.tanh(rh_s[j])  # (3)
                else:
                    h_tilde = math.tanh(P[t, b, 2 * H + j] + dot(U_s, rh_s, 2 * H + j, GH, H))
                gates[t, b, 2 * H + j] = h_tilde
                h_new = h_tilde + z * (h_prev - h_tilde)  # (4)
                h[t, b, j] = h_new
                h_s[j] = h_new  # safe: h(t-1) was last read before the barrier above
            cuda.syncthreads()  # h(t) complete, rh read, before step t+1

    return rnn_kernel, lstm_kernel, gru_kernel


def rnn_forward(x, h0, W_xh, W_hh, b_h):
    """Persistent version of :func:`rnnlab.cells.rnn.rnn_forward` (same arguments and cache)."""
    plan = persistent_plan(1, h0.shape[-1], x.shape[1], x.dtype)
    if plan is None:
        return stepwise_rnn.rnn_forward(x, h0, W_xh, W_hh, b_h)
    xp = xp_of(x)
    blocks, threads, shared_bytes = plan
    P = x @ W_xh.T + b_h  # (0)
    h = xp.empty_like(P)
    rnn_kernel, _, _ = _kernels(x.dtype.name)
    rnn_kernel[blocks, threads, stream_for(xp), shared_bytes](*kernel_args(xp, P, W_hh, h0, h))
    return h, RNNCache(x, h0, h)


def lstm_forward(x, h0, C0, W, U, b):
    """Persistent version of :func:`rnnlab.cells.lstm.lstm_forward` (same arguments and cache)."""
    num_steps, batch_size, _ = x.shape
    H = h0.shape[-1]
    plan = persistent_plan(4, H, batch_size, x.dtype)
    if plan is None:
        return stepwise_lstm.lstm_forward(x, h0, C0, W, U, b)
    xp = xp_of(x)
    blocks, threads, shared_bytes = plan
    P = x @ W.T + b  # (0)
    gates = xp.empty_like(P)
    C = xp.empty((num_steps, batch_size, H), dtype=P.dtype)
    tanh_C, h = xp.empty_like(C), xp.empty_like(C)
    _, lstm_kernel, _ = _kernels(x.dtype.name)
    args = kernel_args(xp, P, U, h0, C0, gates, C, tanh_C, h)
    lstm_kernel[blocks, threads, stream_for(xp), shared_bytes](*args)
    return h, LSTMCache(x, h0, C0, gates, C, tanh_C, h)


def gru_forward(x, h0, W, U, b, b_hn=None):
    """Persistent version of :func:`rnnlab.cells.gru.gru_forward` (same arguments and cache)."""
    num_steps, batch_size, _ = x.shape
    H = h0.shape[-1]
    plan = persistent_plan(3, H, batch_size, x.dtype)
    if plan is None:
        return stepwise_gru.gru_forward(x, h0, W, U, b, b_hn)
    xp = xp_of(x)
    blocks, threads, shared_bytes = plan
    P = x @ W.T + b  # (0)
    gates = xp.empty_like(P)
    extra = xp.empty((num_steps, batch_size, H), dtype=P.dtype)
    h = xp.empty_like(extra)
    reset_after = b_hn is not None
    bias_n = b_hn if reset_after else xp.zeros(H, dtype=P.dtype)  # unused placeholder
    _, _, gru_kernel = _kernels(x.dtype.name)
    args = kernel_args(xp, P, U, bias_n, h0, gates, extra, h)
    gru_kernel[blocks, threads, stream_for(xp), shared_bytes](*args, reset_after)
    return h, GRUCache(x, h0, gates, extra, h)
