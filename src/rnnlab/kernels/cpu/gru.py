"""GRU, both forms: whole-sequence Numba kernels with the reference's signatures and cache.

Same equations, numbering and cache as :mod:`rnnlab.cells.gru` (``extra`` is rh = r ⊙ h(t-1)
for reset before, n = U_h · h(t-1) + b_hn for reset after). One compiled call runs a whole
forward and one a whole backward, weight and input gradients included.
"""

from __future__ import annotations

import numpy as np

from ...cells.gru import GRUCache
from ...inference import InferenceCache
from .activations import sigmoid, tanh
from .buffers import carve, chunk_steps, lengths_array
from .carry import copy_row, padded_outputs, zero_row
from .config import njit, use_blas
from .matmul import (
    MKL,
    input_grads,
    matmul_into,
    project_inputs,
    project_step,
    recurrent_grad,
    recurrent_step,
    step_operand,
)
from .packed import will_pack
from .rows import run_kernel, split_by_steps, split_weight_grads
from .vector_width import wide_vectors

GATES = 3  # stacked gate blocks


@njit
def _forward_before(
    x, h0, W, U_zr, U_h, b, lengths, gates, extra, h, a_zr, a_h, blas, packed, lo, hi
):
    """Steps (0)-(4) for the batch rows lo:hi, every step: all rows on one thread, or one of
    two blocks (rows.py). ``packed`` = (U_zr, U_h, W) packed, or empty arrays; W packed and
    a ring of gate buffers as in :func:`_forward_after`."""
    wide_vectors()  # 512-bit loops where the CPU has them (vector_width.py)
    if not packed[2].size:
        project_inputs(x, W, b, gates, blas[1])  # (0) gates hold P until step t activates them
    num_steps, _, H = h.shape
    ring = gates.shape[0]
    U_zr_step = step_operand(U_zr, False, packed[0], blas[0], hi - lo)  # (1) (matmul.py)
    U_h_step = step_operand(U_h, False, packed[1], blas[0], hi - lo)  # (3)
    for t in range(num_steps):
        r = t % ring
        h_prev = h0 if t == 0 else h[t - 1]
        if packed[2].size:  # (0) P(t) = x(t) · Wᵀ + b for these rows
            project_step(x[t, lo:hi], packed[2], gates[r, lo:hi], b)
        # (1) h(t-1) · U_zrᵀ
        recurrent_step(h_prev[lo:hi], U_zr_step, packed[0], a_zr[lo:hi], blas[0])
        for n in range(lo, hi):
            g, a_n, hp, rh = gates[r, n], a_zr[n], h_prev[n], extra[r, n]
            # Simple one-array loops vectorise; a loop mixing gate blocks did not (see lstm.py).
            for j in range(2 * H):
                g[j] = sigmoid(g[j] + a_n[j])  # (1) z, r
            for j in range(H):
                rh[j] = g[H + j] * hp[j]  # (2)
        recurrent_step(extra[r, lo:hi], U_h_step, packed[1], a_h[lo:hi], blas[0])  # (3)
        for n in range(lo, hi):
            g, a_n, hp, h_n = gates[r, n], a_h[n], h_prev[n], h[t, n]
            for j in range(H):
                g[2 * H + j] = tanh(g[2 * H + j] + a_n[j])  # (3) h̃, rh · U_hᵀ in a_h
            for j in range(H):
                h_tilde = g[2 * H + j]
                h_n[j] = h_tilde + g[j] * (hp[j] - h_tilde)  # (4)
            if t >= lengths[n]:  # (M) padded step: h carried unchanged
                copy_row(h_n, hp)


@njit
def _forward_after(x, h0, W, U, b, b_hn, lengths, gates, extra, h, a, blas, packed, lo, hi):
    """Steps (0)-(4) for the batch rows lo:hi, every step: all rows on one thread, or one of
    two blocks (rows.py). ``packed`` = (U, W) packed for MKL, or empty arrays. With W packed
    the input projection runs step by step, as in the LSTM's kernel, and the gates and n
    buffers may be a ring of fewer steps than h (inference): step t at t mod their length."""
    wide_vectors()  # 512-bit loops where the CPU has them (vector_width.py)
    if not packed[1].size:
        project_inputs(x, W, b, gates, blas[1])  # (0) gates hold P until step t activates them
    num_steps, _, H = h.shape
    ring = gates.shape[0]
    U_step = step_operand(U, False, packed[0], blas[0], hi - lo)  # (1)'s operand (matmul.py)
    for t in range(num_steps):
        r = t % ring
        h_prev = h0 if t == 0 else h[t - 1]
        if packed[1].size:  # (0) P(t) = x(t) · Wᵀ + b for these rows
            project_step(x[t, lo:hi], packed[1], gates[r, lo:hi], b)
        # (1) h(t-1) · Uᵀ, (rows, 3H)
        recurrent_step(h_prev[lo:hi], U_step, packed[0], a[lo:hi], blas[0])
        for m in range(lo, hi):
            g, a_m, hp, n_m, h_m = gates[r, m], a[m], h_prev[m], extra[r, m], h[t, m]
            for j in range(2 * H):
                g[j] = sigmoid(g[j] + a_m[j])  # (1) z, r
            for j in range(H):
                n_m[j] = a_m[2 * H + j] + b_hn[j]  # (1) n
            for j in range(H):
                g[2 * H + j] = tanh(g[2 * H + j] + g[H + j] * n_m[j])  # (3) h̃
            for j in range(H):
                h_tilde = g[2 * H + j]
                h_m[j] = h_tilde + g[j] * (hp[j] - h_tilde)  # (4)
            if t >= lengths[m]:  # (M) padded step: h carried unchanged
                copy_row(h_m, hp)


def gru_forward(x, h0, W, U, b, b_hn=None, lengths=None):
    """Drop-in for :func:`rnnlab.cells.gru_forward` (same arguments, result and cache)."""
    num_steps, batch_size, _ = x.shape
    H = h0.shape[-1]
    shapes = [
        (num_steps, batch_size, 3 * H),
        (num_steps, batch_size, H),
        (num_steps, batch_size, H),
    ]
    c = np.ascontiguousarray
    args = (c(x), c(h0), c(W), c(U), c(b))
    steps = lengths_array(lengths, num_steps, batch_size)
    if b_hn is None:
        shapes += [(batch_size, 2 * H), (batch_size, H)]
        gates, extra, h, *scratch = carve("gru.forward_before", shapes, x.dtype)
    else:
        shapes += [(batch_size, 3 * H)]
        gates, extra, h, *scratch = carve("gru.forward_after", shapes, x.dtype)
        b_hn = c(b_hn)
    _run_forward(*args, b_hn, steps, gates, extra, h, scratch)
    y = h if lengths is None else padded_outputs(h, steps)
    return y, GRUCache(x, h0, gates, extra, h)


def gru_infer(x, h0, W, U, b, b_hn=None, lengths=None):
    """:func:`gru_forward` for ``rnnlab.no_grad``: (h, InferenceCache), no backward cache; the
    gates live in buffers of one chunk of steps, reused (see :func:`..lstm.lstm_infer`)."""
    num_steps, batch_size, _ = x.shape
    H = h0.shape[-1]
    K = chunk_steps(num_steps, batch_size * 4 * H * x.itemsize)
    if num_steps <= K:  # one chunk: the training forward, as in lstm_infer
        y, cache = gru_forward(x, h0, W, U, b, b_hn, lengths)
        return y, InferenceCache(cache.h[-1:].copy(), None)
    (h,) = carve("gru.infer_out", [(num_steps, batch_size, H)], x.dtype)
    chunk = [(K, batch_size, 3 * H), (K, batch_size, H)]
    c = np.ascontiguousarray
    x, W, U, b = c(x), c(W), c(U), c(b)
    if b_hn is None:
        gates, extra, *scratch = carve(
            "gru.infer_before", [*chunk, (batch_size, 2 * H), (batch_size, H)], x.dtype
        )
    else:
        b_hn = c(b_hn)
        gates, extra, *scratch = carve("gru.infer_after", [*chunk, (batch_size, 3 * H)], x.dtype)
    h_prev = c(h0)
    steps = lengths_array(lengths, num_steps, batch_size)
    if will_pack(batch_size, H, use_blas(x.shape, H, GATES)[0]):  # the ring, as in lstm_infer
        _run_forward(x, h_prev, W, U, b, b_hn, steps, gates, extra, h, scratch)
    else:
        for t0 in range(0, num_steps, K):
            n = min(K, num_steps - t0)
            xs, hs, s = x[t0 : t0 + n], h[t0 : t0 + n], steps - t0
            _run_forward(xs, h_prev, W, U, b, b_hn, s, gates[:n], extra[:n], hs, scratch)
            h_prev = hs[n - 1]
    y = h if lengths is None else padded_outputs(h, steps)
    return y, InferenceCache(h[-1:].copy(), None)


@njit
def _candidate_bias_grad(delta_U, db_hn):
    """db_hn = Σ_t,b of δ_U's h̃ block (b_hn sits inside r ⊙ (U_h · h(t-1) + b_hn))."""
    num_steps, batch_size, G = delta_U.shape
    H = G // 3
    for j in range(H):
        db_hn[j] = 0.0
    for t in range(num_steps):
        for m in range(batch_size):
            for j in range(H):
                db_hn[j] += delta_U[t, m, 2 * H + j]


@njit
def _backward_after(
    dh, x, h0, W, U, lengths, gates, extra, h, delta_x, delta_U, dh_acc, out, blas, packed,
    lo, hi,
):  # fmt: skip
    """δ_x, δ_U for the batch rows lo:hi, every step, last to first (rows.py); then, where the
    call covers the whole batch, the weight and input gradients (a split call's caller adds
    them). δ_x: gradient of P(t); δ_U: of h(t-1) · Uᵀ + [0, 0, b_hn]; they differ on the h̃
    block. dh_next holds dh_final on entry and dh0 on exit, dh_acc (B, H) is scratch."""
    wide_vectors()  # 512-bit loops where the CPU has them (vector_width.py)
    dx, dh_next, dW, dU, db, db_hn = out
    num_steps, _, H = h.shape
    one = dh.dtype.type(1.0)  # a float literal would promote float32 arithmetic to float64
    U_step = step_operand(U, True, packed[0], blas[0], hi - lo)  # (1)'s operand (matmul.py)
    for t in range(num_steps - 1, -1, -1):
        h_prev = h0 if t == 0 else h[t - 1]
        for m in range(lo, hi):
            g, n, hp, dh_t, dh_n = gates[t, m], extra[t, m], h_prev[m], dh[t, m], dh_next[m]
            d_x, d_U, acc = delta_x[t, m], delta_U[t, m], dh_acc[m]
            if t >= lengths[m]:  # (M) padded: dy ignored, no gradient, dh carried (via acc)
                zero_row(d_x)
                zero_row(d_U)
                copy_row(acc, dh_n)
                continue
            for j in range(H):
                z, r, h_tilde = g[j], g[H + j], g[2 * H + j]
                dh_total = dh_t[j] + dh_n[j]
                acc[j] = dh_total * z  # (4) h = z*h_prev + (1-z)*h̃
                dz = dh_total * (hp[j] - h_tilde)
                delta_h = dh_total * (one - z) * (one - h_tilde * h_tilde)  # (4), (3)
                dr = delta_h * n[j]  # (3) h̃ = tanh(P_h + r ⊙ n)
                d_x[2 * H + j] = delta_h
                d_U[2 * H + j] = delta_h * r
                d_x[j] = d_U[j] = dz * z * (one - z)  # (1) z = σ(a_z)
                d_x[H + j] = d_U[H + j] = dr * r * (one - r)  # (1) r = σ(a_r)
        # (1) dh(t-1) = δ_U · U, plus the direct path through z
        recurrent_step(delta_U[t, lo:hi], U_step, packed[0], dh_next[lo:hi], blas[0])
        for m in range(lo, hi):
            for j in range(H):
                dh_next[m, j] += dh_acc[m, j]
    if lo == 0 and hi == dh.shape[1]:
        input_grads(delta_x, x, W, dx, dW, db, blas[1])  # (0)
        recurrent_grad(delta_U, h0, h, dU, blas[1])  # (1)
        _candidate_bias_grad(delta_U, db_hn)


@njit
def _backward_before(
    dh, x, h0, W, U_zr, U_h, lengths, gates, extra, h, delta_x, delta_zr, delta_h, work, out,
    blas, packed, lo, hi,
):  # fmt: skip
    """δ_x, δ_zr, δ_h for the batch rows lo:hi, every step, last to first (rows.py); then,
    where the call covers the whole batch, the weight and input gradients (a split call's
    caller adds them). δ_zr, δ_h: contiguous copies of δ_x's blocks, for the products with
    U_zr and U_h. dh_next holds dh_final on entry and dh0 on exit; ``work`` = (dh_acc, d_rh),
    (B, H) scratch."""
    wide_vectors()  # 512-bit loops where the CPU has them (vector_width.py)
    dx, dh_next, dW, dU_zr, dU_h, db = out
    dh_acc, d_rh = work
    num_steps, _, H = h.shape
    one = dh.dtype.type(1.0)  # a float literal would promote float32 arithmetic to float64
    U_zr_step = step_operand(U_zr, True, packed[0], blas[0], hi - lo)  # (1) (matmul.py)
    U_h_step = step_operand(U_h, True, packed[1], blas[0], hi - lo)  # (3)
    for t in range(num_steps - 1, -1, -1):
        h_prev = h0 if t == 0 else h[t - 1]
        for m in range(lo, hi):
            g, d_x, dh_t, dh_n = gates[t, m], delta_x[t, m], dh[t, m], dh_next[m]
            hp, acc, d_h = h_prev[m], dh_acc[m], delta_h[t, m]
            if t >= lengths[m]:  # (M) padded: dy ignored, no gradient, dh carried (via acc);
                zero_row(d_x)  # the rest of the step then adds zeros only
                zero_row(d_h)
                copy_row(acc, dh_n)
                continue
            for j in range(H):
                z, h_tilde = g[j], g[2 * H + j]
                dh_total = dh_t[j] + dh_n[j]
                acc[j] = dh_total * z  # (4)
                d_x[j] = dh_total * (hp[j] - h_tilde)  # dz, finished below
                d_h[j] = d_x[2 * H + j] = dh_total * (one - z) * (one - h_tilde * h_tilde)  # (3)
        # (3) d(rh) = δ_h · U_h
        recurrent_step(delta_h[t, lo:hi], U_h_step, packed[1], d_rh[lo:hi], blas[0])
        for m in range(lo, hi):
            g, d_x, hp, drh = gates[t, m], delta_x[t, m], h_prev[m], d_rh[m]
            acc, dzr = dh_acc[m], delta_zr[t, m]
            for j in range(H):
                z, r = g[j], g[H + j]
                dr = drh[j] * hp[j]  # (2) rh = r ⊙ h_prev
                acc[j] = acc[j] + drh[j] * r
                dzr[j] = d_x[j] = d_x[j] * z * (one - z)  # (1) z = σ(a_z)
                dzr[H + j] = d_x[H + j] = dr * r * (one - r)  # (1) r = σ(a_r)
        # (1) dh(t-1) = δ_zr · U_zr, plus the direct paths
        recurrent_step(delta_zr[t, lo:hi], U_zr_step, packed[0], dh_next[lo:hi], blas[0])
        for m in range(lo, hi):
            for j in range(H):
                dh_next[m, j] += dh_acc[m, j]
    if lo == 0 and hi == dh.shape[1]:
        _before_weight_grads(
            delta_x, delta_zr, delta_h, x, W, h0, h, extra, dx, dW, dU_zr, dU_h, db, blas[1]
        )


@njit
def _before_weight_grads(
    delta_x, delta_zr, delta_h, x, W, h_before, h, extra, dx, dW, dU_zr, dU_h, db, blas
):
    """Undo (0)-(3) for the guide form's steps: dx, dW, db from δ_x, dU's z, r rows from δ_zr
    and h(t-1) (h_before at the first step), its candidate rows from δ_h and rh."""
    input_grads(delta_x, x, W, dx, dW, db, blas)  # (0)
    recurrent_grad(delta_zr, h_before, h, dU_zr, blas)  # (1) z, r act on h(t-1)
    rows = delta_h.shape[0] * delta_h.shape[1]
    H = h.shape[2]
    matmul_into(  # (3) the candidate acts on rh
        delta_h.reshape((rows, H)), extra.reshape((rows, H)), dU_h, True, blas
    )


def gru_backward(dh, dh_final, cache, W, U, reset_after=False, lengths=None):
    """Drop-in for :func:`rnnlab.cells.gru_backward` (same arguments and results)."""
    x, h0, gates, extra, h = cache
    num_steps, batch_size, H = h.shape
    dtype = h.dtype
    T, B = num_steps, batch_size
    shapes = [(T, B, x.shape[-1]), (B, H), W.shape, U.shape, (3 * H,)]
    c = np.ascontiguousarray
    steps = lengths_array(lengths, num_steps, batch_size)
    args = (c(dh), c(x), c(h0), c(W), c(U), steps, c(gates), c(extra), c(h))
    dh, x, h0, W, U, _, gates, extra, h = args
    if reset_after:
        dx, dh0, dW, dU, db, db_hn = out = carve("", [*shapes, (H,)], dtype, pooled=False)
        dh0[...] = 0.0 if dh_final is None else dh_final
        scratch = carve("gru.backward_after", [(T, B, 3 * H), (T, B, 3 * H), (B, H)], dtype)
        delta_x, delta_U, dh_acc = scratch
        split = run_kernel(
            use_blas(x.shape, H, GATES, True), x.shape, H, GATES, (U,), False,
            lambda blas, packed, lo, hi: _backward_after(
                *args, *scratch, tuple(out), blas, packed, lo, hi
            ),
        )  # fmt: skip
        if split:  # the rows' loops are done: the weight gradients, split by steps
            split_weight_grads(delta_x, x, W, h0, h, dx, (dW, dU, db), delta_U)
            _candidate_bias_grad(delta_U, db_hn)
        return dx, dh0, (dW, dU, db, db_hn)
    dx, dh0, dW, dU, db = carve("", shapes, dtype, pooled=False)
    dh0[...] = 0.0 if dh_final is None else dh_final
    delta_x, delta_zr, delta_h, dh_acc, d_rh = carve(
        "gru.backward_before",
        [(T, B, 3 * H), (T, B, 2 * H), (T, B, H), (B, H), (B, H)],
        dtype,
    )
    U_zr, U_h = _blocks(U)
    out = (dx, dh0, dW, dU[: 2 * H], dU[2 * H :], db)
    split = run_kernel(
        use_blas(x.shape, H, GATES, True), x.shape, H, GATES, (U_zr, U_h), False,
        lambda blas, packed, lo, hi: _backward_before(
            dh, x, h0, W, U_zr, U_h, steps, gates, extra, h, delta_x, delta_zr, delta_h,
            (dh_acc, d_rh), out, blas, packed, lo, hi,
        ),
    )  # fmt: skip
    if split:  # the rows' loops are done: the weight gradients, split by steps

        def weight_grads(t0, t1, part):  # the one-thread kernel's, through MKL
            dW_part, dU_part, db_part = part
            h_before = h0 if t0 == 0 else h[t0 - 1]
            _before_weight_grads(
                delta_x[t0:t1], delta_zr[t0:t1], delta_h[t0:t1], x[t0:t1], W, h_before,
                h[t0:t1], extra[t0:t1], dx[t0:t1], dW_part, dU_part[: 2 * H], dU_part[2 * H :],
                db_part, MKL,
            )  # fmt: skip

        split_by_steps(T, (dW, dU, db), weight_grads)
    return dx, dh0, (dW, dU, db)


def _blocks(U):
    """The weight blocks of the guide form's per-step products, U_zr and U_h (packed.py)."""
    H = U.shape[1]
    return (U[: 2 * H], U[2 * H :])


def _run_forward(x, h0, W, U, b, b_hn, steps, gates, extra, h, scratch):
    """The forward kernel of either form (``b_hn`` None: the guide's) on contiguous arrays, on
    one thread or two (rows.py); each block projects its own rows' inputs, step by step, on
    its packed W."""
    H = h.shape[-1]
    if b_hn is None:
        U_zr, U_h = _blocks(U)
        run_kernel(
            use_blas(x.shape, H, GATES), x.shape, H, GATES, (U_zr, U_h, W), True,
            lambda blas, packed, lo, hi: _forward_before(
                x, h0, W, U_zr, U_h, b, steps, gates, extra, h, *scratch, blas, packed, lo, hi
            ),
        )  # fmt: skip
    else:
        run_kernel(
            use_blas(x.shape, H, GATES), x.shape, H, GATES, (U, W), True,
            lambda blas, packed, lo, hi: _forward_after(
                x, h0, W, U, b, b_hn, steps, gates, extra, h, *scratch, blas, packed, lo, hi
            ),
        )  # fmt: skip
