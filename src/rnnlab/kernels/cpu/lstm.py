"""LSTM: whole-sequence Numba kernels with the reference's signatures and cache.

Same equations, numbering and cache as :mod:`rnnlab.cells.lstm`. One compiled call runs a whole
forward (input projection as one matrix product, then all T steps) and one a whole backward (all
steps, then dW, dU, dx as single matrix products).
"""

from __future__ import annotations

import numpy as np

from ...cells.lstm import LSTMCache
from ...inference import InferenceCache
from .activations import sigmoid, tanh
from .buffers import carve, chunk_steps, lengths_array
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
from .packed import will_pack
from .rows import run_kernel, split_weight_grads
from .vector_width import wide_vectors

GATES = 4  # stacked gate blocks


@njit
def _forward_kernel(x, h0, C0, W, U, b, lengths, gates, C, tanh_C, h, a, blas, packed, lo, hi):
    """Steps (0)-(4) for the batch rows lo:hi, every step: all rows on one thread, or one of
    two blocks (rows.py). ``packed`` = (U, W) packed for MKL, or empty arrays.

    With W packed the input projection (0) runs step by step, just before the step that reads
    it, so that P(t) is still in cache; else all steps' first, as one product. The gates, C and
    tanh C buffers may hold fewer steps than h (a ring of the last ones, for inference, where
    W is packed): step t lives at t mod their length.
    """
    wide_vectors()  # 512-bit loops where the CPU has them (vector_width.py)
    if not packed[1].size:
        project_inputs(x, W, b, gates, blas[1])  # (0) gates hold P until step t activates them
    num_steps, _, H = h.shape
    ring = gates.shape[0]
    U_step = step_operand(U, False, packed[0], blas[0], hi - lo)  # (1)'s operand (matmul.py)
    for t in range(num_steps):
        r = t % ring
        h_prev = h0 if t == 0 else h[t - 1]
        C_prev = C0 if t == 0 else C[(t - 1) % ring]
        if packed[1].size:  # (0) P(t) = x(t) · Wᵀ + b for these rows
            project_step(x[t, lo:hi], packed[1], gates[r, lo:hi], b)
        # (1) h(t-1) · Uᵀ, (rows, 4H)
        recurrent_step(h_prev[lo:hi], U_step, packed[0], a[lo:hi], blas[0])
        for n in range(lo, hi):
            g, a_b, c_prev = gates[r, n], a[n], C_prev[n]
            c_out, tc_out, h_out = C[r, n], tanh_C[r, n], h[t, n]
            # One simple loop per activation: a loop that reads and writes four gate blocks of
            # the same row at once did not vectorise (measured 3-4x slower). Every loop runs
            # over range(n) with the block's offset in the index: Numba cannot prove that an
            # index from range(2H, 3H) is non-negative, keeps its wrap-around branch and the
            # loop stays scalar (measured 5-7x slower at H = 128).
            for j in range(2 * H):
                g[j] = sigmoid(g[j] + a_b[j])  # (2) f, i
            for j in range(H):
                g[2 * H + j] = tanh(g[2 * H + j] + a_b[2 * H + j])  # (2) C̃
            for j in range(H):
                g[3 * H + j] = sigmoid(g[3 * H + j] + a_b[3 * H + j])  # (2) o
            for j in range(H):
                c = g[j] * c_prev[j] + g[H + j] * g[2 * H + j]  # (3) C = f*C_prev + i*C̃
                c_out[j] = c
            for j in range(H):
                tc_out[j] = tanh(c_out[j])
            for j in range(H):
                h_out[j] = g[3 * H + j] * tc_out[j]  # (4) h = o * tanh(C)
            if t >= lengths[n]:  # (M) padded step: h and C carried unchanged
                copy_row(c_out, c_prev)
                copy_row(h_out, h_prev[n])


@njit
def _backward_kernel(
    dh, x, h0, C0, W, U, lengths, gates, C, tanh_C, h, delta, out, blas, packed, lo, hi
):
    """δ for the batch rows lo:hi, every step, last to first (rows.py); then, where the call
    covers the whole batch, the weight and input gradients (a split call's caller adds them).

    dh_next, dC_next hold dh_final, dC_final on entry and dh0, dC0 on exit.
    """
    wide_vectors()  # 512-bit loops where the CPU has them (vector_width.py)
    dx, dh_next, dC_next, dW, dU, db = out
    carried = np.empty_like(dh_next)  # the dh of padded rows, passed straight to h(t-1) (M)
    num_steps, _, H = dh.shape
    one = dh.dtype.type(1.0)  # a float literal would promote float32 arithmetic to float64
    U_step = step_operand(U, True, packed[0], blas[0], hi - lo)  # (1)'s operand (matmul.py)
    for t in range(num_steps - 1, -1, -1):
        C_prev = C0 if t == 0 else C[t - 1]
        for b in range(lo, hi):
            g, d, dh_t, c_prev, tc = gates[t, b], delta[t, b], dh[t, b], C_prev[b], tanh_C[t, b]
            dh_n, dC_n = dh_next[b], dC_next[b]
            if t >= lengths[b]:  # (M) padded: dy ignored, no gradient, dh and dC carried
                zero_row(d)
                copy_row(carried[b], dh_n)
                continue
            # Five simple loops, not one: a loop that reads and writes the four gate blocks of
            # a row at once did not vectorise (measured 2-3x slower at H = 128 ... 256). dC
            # lives in dC_n from the first loop on, and becomes dC(t-1) = dC * f in the last.
            for j in range(H):
                o, dh_total = g[3 * H + j], dh_t[j] + dh_n[j]
                d[3 * H + j] = dh_total * tc[j] * o * (one - o)  # (4) h = o*tanh(C), (2) σ
                dC_n[j] = dC_n[j] + dh_total * o * (one - tc[j] * tc[j])  # (4)
            for j in range(H):
                f = g[j]
                d[j] = dC_n[j] * c_prev[j] * f * (one - f)  # (3), (2) f = σ(a_f)
            for j in range(H):
                i = g[H + j]
                d[H + j] = dC_n[j] * g[2 * H + j] * i * (one - i)  # (3), (2) i = σ(a_i)
            for j in range(H):
                C_tilde = g[2 * H + j]
                d[2 * H + j] = dC_n[j] * g[H + j] * (one - C_tilde * C_tilde)  # (3), C̃ = tanh
            for j in range(H):
                dC_n[j] = dC_n[j] * g[j]  # (3) dC(t-1) = dC * f
        # (1) dh(t-1) = δ · U
        recurrent_step(delta[t, lo:hi], U_step, packed[0], dh_next[lo:hi], blas[0])
        restore_carried(dh_next, carried, lengths, t, lo, hi)
    if lo == 0 and hi == dh.shape[1]:
        input_grads(delta, x, W, dx, dW, db, blas[1])  # (0)
        recurrent_grad(delta, h0, h, dU, blas[1])  # (1)


def lstm_forward(x, h0, C0, W, U, b, lengths=None):
    """Drop-in for :func:`rnnlab.cells.lstm_forward` (same arguments, result and cache)."""
    num_steps, batch_size, _ = x.shape
    H = h0.shape[-1]
    states = (num_steps, batch_size, H)
    gates, C, tanh_C, h, a = carve(
        "lstm.forward",
        [(num_steps, batch_size, 4 * H), states, states, states, (batch_size, 4 * H)],
        x.dtype,
    )
    c = np.ascontiguousarray
    steps = lengths_array(lengths, num_steps, batch_size)
    _run_forward(c(x), c(h0), c(C0), c(W), c(U), c(b), steps, gates, C, tanh_C, h, a)
    y = h if lengths is None else padded_outputs(h, steps)
    return y, LSTMCache(x, h0, C0, gates, C, tanh_C, h)


def lstm_infer(x, h0, C0, W, U, b, lengths=None):
    """:func:`lstm_forward` for ``rnnlab.no_grad``: (h, InferenceCache), no backward cache.

    Only h (the outputs) spans all T steps; the gates, C and tanh C live in buffers of K steps
    (``INFERENCE_CHUNK_BYTES``), reused: a ring that the kernel runs through where it projects
    the inputs step by step (MKL), else chunks of K steps, one kernel call each.
    """
    num_steps, batch_size, _ = x.shape
    H = h0.shape[-1]
    # At least two steps: in a ring of one, C(t) would overwrite C(t-1) while a padded row
    # still has to carry it.
    K = max(2, chunk_steps(num_steps, batch_size * 6 * H * x.itemsize))
    if num_steps <= K:  # one chunk: the training forward's buffers are no larger, and it is
        y, cache = lstm_forward(x, h0, C0, W, U, b, lengths)  # one call with less to set up
        return y, InferenceCache(cache.h[-1:].copy(), cache.C[-1:].copy())
    (h,) = carve("lstm.infer_out", [(num_steps, batch_size, H)], x.dtype)
    gates, C, tanh_C, a = carve(
        "lstm.infer",
        [(K, batch_size, 4 * H), (K, batch_size, H), (K, batch_size, H), (batch_size, 4 * H)],
        x.dtype,
    )
    c = np.ascontiguousarray
    x, W, U, b = c(x), c(W), c(U), c(b)
    h_prev, C_prev = c(h0), c(C0)
    steps = lengths_array(lengths, num_steps, batch_size)
    if will_pack(batch_size, H, use_blas(x.shape, H, GATES)[0]):
        _run_forward(x, h_prev, C_prev, W, U, b, steps, gates, C, tanh_C, h, a)  # the ring
        C_prev = C[(num_steps - 1) % K].copy()
    else:
        for t0 in range(0, num_steps, K):
            n = min(K, num_steps - t0)
            hs = h[t0 : t0 + n]
            s = steps - t0  # lengths in the chunk's own step numbers
            _run_forward(
                x[t0 : t0 + n], h_prev, C_prev, W, U, b, s, gates[:n], C[:n], tanh_C[:n], hs, a
            )
            h_prev, C_prev = hs[n - 1], C[n - 1].copy()  # C's buffer is the next chunk's
    y = h if lengths is None else padded_outputs(h, steps)
    return y, InferenceCache(h[-1:].copy(), C_prev[None])


def _run_forward(x, h0, C0, W, U, b, steps, gates, C, tanh_C, h, a):
    """The forward kernel on contiguous arrays, on one thread or two (rows.py); each block
    projects its own rows' inputs, step by step, on its packed W."""
    H = h.shape[-1]
    run_kernel(
        use_blas(x.shape, H, GATES), x.shape, H, GATES, (U, W), True,
        lambda blas, packed, lo, hi: _forward_kernel(
            x, h0, C0, W, U, b, steps, gates, C, tanh_C, h, a, blas, packed, lo, hi
        ),
    )  # fmt: skip


def lstm_backward(dh, dh_final, dC_final, cache, W, U, lengths=None):
    """Drop-in for :func:`rnnlab.cells.lstm_backward` (same arguments and results)."""
    x, h0, C0, gates, C, tanh_C, h = cache
    num_steps, batch_size, H = h.shape
    (delta,) = carve("lstm.backward", [(num_steps, batch_size, 4 * H)], h.dtype)
    state = (batch_size, H)
    out = carve(
        "",
        [(num_steps, batch_size, x.shape[-1]), state, state, W.shape, U.shape, (4 * H,)],
        h.dtype,
        pooled=False,
    )
    dx, dh0, dC0, dW, dU, db = out
    dh0[...] = 0.0 if dh_final is None else dh_final
    dC0[...] = 0.0 if dC_final is None else dC_final
    c = np.ascontiguousarray
    dh, x, h0, C0, W, U = c(dh), c(x), c(h0), c(C0), c(W), c(U)
    gates, C, tanh_C, h = c(gates), c(C), c(tanh_C), c(h)
    steps = lengths_array(lengths, num_steps, batch_size)
    split = run_kernel(
        use_blas(x.shape, H, GATES, True), x.shape, H, GATES, (U,), False,
        lambda blas, packed, lo, hi: _backward_kernel(
            dh, x, h0, C0, W, U, steps, gates, C, tanh_C, h, delta, tuple(out), blas, packed,
            lo, hi,
        ),
    )  # fmt: skip
    if split:  # the rows' loops are done: the weight gradients, split by steps
        split_weight_grads(delta, x, W, h0, h, dx, (dW, dU, db))
    return dx, dh0, dC0, (dW, dU, db)
