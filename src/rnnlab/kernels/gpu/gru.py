"""GRU on the GPU, both forms: cuBLAS products and fused gate kernels per step.

Same signatures and caches as :func:`rnnlab.cells.gru.gru_forward` / ``gru_backward``; step
numbers are the reference's. ``b_hn`` None is the guide's form (reset before U_h), an array the
cuDNN/PyTorch form (reset after).

Reset after needs one product per step, ``g = h(t-1) · Uᵀ`` (B, 3H), then one kernel for all of
(1)-(4). Reset before cannot be one launch: the candidate's product acts on r ⊙ h(t-1), which
needs r first, so each step is product, kernel, product, kernel:

    (1) z, r = σ(P_zr + h(t-1) · U_zrᵀ);  (2) rh = r ⊙ h(t-1)          kernel "gates"
    (3) h̃ = tanh(P_h + rh · U_hᵀ);  (4) h = h̃ + z ⊙ (h(t-1) - h̃)        kernel "candidate"

Backward mirrors this (reset before: kernel, product d(rh) = δ_h · U_h, kernel, product).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import cuda

from ...backend import xp_of
from ...cells.gru import GRUCache, gru_weight_gradients
from ._launch import device_functions, kernel_args, launch_config, stream_for

__all__ = ["gru_backward", "gru_forward"]


@functools.cache
def forward_kernels(dtype_name: str):
    """(gates, candidate, reset_after) step kernels for ``dtype_name``."""
    sigmoid, _ = device_functions(np.dtype(dtype_name))

    @cuda.jit
    def gates_step(P, g_zr, h0, h, gates, extra, t):
        # Reset before, first half. P, gates (T, B, 3H); g_zr (B, 2H) = h(t-1) · U_zrᵀ;
        # writes z, r into gates[t] and rh into extra[t].
        k = cuda.grid(1)
        batch_size, H = h0.shape
        if k < batch_size * H:
            b = k // H
            j = k - b * H
            z = sigmoid(P[t, b, j] + g_zr[b, j])  # (1)
            r = sigmoid(P[t, b, H + j] + g_zr[b, H + j])
            h_prev = h0[b, j] if t == 0 else h[t - 1, b, j]
            gates[t, b, j] = z
            gates[t, b, H + j] = r
            extra[t, b, j] = r * h_prev  # (2) rh

    @cuda.jit
    def candidate_step(P, g_h, h0, h, gates, t):
        # Reset before, second half. g_h (B, H) = rh · U_hᵀ; writes h̃ and h[t].
        k = cuda.grid(1)
        batch_size, H = h0.shape
        if k < batch_size * H:
            b = k // H
            j = k - b * H
            h_tilde = math.tanh(P[t, b, 2 * H + j] + g_h[b, j])  # (3)
            h_prev = h0[b, j] if t == 0 else h[t - 1, b, j]
            gates[t, b, 2 * H + j] = h_tilde
            h[t, b, j] = h_tilde + gates[t, b, j] * (h_prev - h_tilde)  # (4)

    @cuda.jit
    def reset_after_step(P, g, b_hn, h0, h, gates, extra, t):
        # Reset after, whole step. g (B, 3H) = h(t-1) · Uᵀ; writes gates[t], n into extra[t], h[t].
        k = cuda.grid(1)
        batch_size, H = h0.shape
        if k < batch_size * H:
            b = k // H
            j = k - b * H
            z = sigmoid(P[t, b, j] + g[b, j])  # (1)
            r = sigmoid(P[t, b, H + j] + g[b, H + j])
            n = g[b, 2 * H + j] + b_hn[j]
            h_tilde = math.tanh(P[t, b, 2 * H + j] + r * n)  # (3)
            h_prev = h0[b, j] if t == 0 else h[t - 1, b, j]
            gates[t, b, j] = z
            gates[t, b, H + j] = r
            gates[t, b, 2 * H + j] = h_tilde
            extra[t, b, j] = n
            h[t, b, j] = h_tilde + z * (h_prev - h_tilde)  # (4)

    return gates_step, candidate_step, reset_after_step


def gru_forward(x, h0, W, U, b, b_hn=None):
    """GPU version of :func:`rnnlab.cells.gru.gru_forward` (same arguments, same cache)."""
    xp = xp_of(x)
    num_steps, batch_size, _ = x.shape
    H = h0.shape[-1]
    gates_step, candidate_step, reset_after_step = forward_kernels(x.dtype.name)
    P = x @ W.T + b  # (0) (T, B, 3H)
    gates = xp.empty_like(P)
    extra = xp.empty((num_steps, batch_size, H), dtype=P.dtype)
    h = xp.empty_like(extra)
    blocks, threads = launch_config(batch_size * H)
    stream = stream_for(xp)
    h_prev = h0
    if b_hn is not None:
        g = xp.empty((batch_size, 3 * H), dtype=P.dtype)
        launch = reset_after_step[blocks, threads, stream]
        args = kernel_args(xp, P, g, b_hn, h0, h, gates, extra)
        for t in range(num_steps):
            xp.matmul(h_prev, U.T, out=g)  # (1)
            launch(*args, t)
            h_prev = h[t]
        return h, GRUCache(x, h0, gates, extra, h)
    g_zr = xp.empty((batch_size, 2 * H), dtype=P.dtype)
    g_h = xp.empty((batch_size, H), dtype=P.dtype)
    launch_gates = gates_step[blocks, threads, stream]
    launch_candidate = candidate_step[blocks, threads, stream]
    P_d, g_zr_d, g_h_d, h0_d, h_d, gates_d, extra_d = kernel_args(
        xp, P, g_zr, g_h, h0, h, gates, extra
    )
    U_zr, U_h = U[: 2 * H], U[2 * H :]
    for t in range(num_steps):
        xp.matmul(h_prev, U_zr.T, out=g_zr)  # (1)
        launch_gates(P_d, g_zr_d, h0_d, h_d, gates_d, extra_d, t)
        xp.matmul(extra[t], U_h.T, out=g_h)  # (3) rh · U_hᵀ
        launch_candidate(P_d, g_h_d, h0_d, h_d, gates_d, t)
        h_prev = h[t]
    return h, GRUCache(x, h0, gates, extra, h)


@functools.cache
def backward_kernels(dtype_name: str):
    """(candidate, gates, reset_after) backward step kernels for ``dtype_name``."""
    one = np.dtype(dtype_name).type(1.0)

    @cuda.jit
    def candidate_back(dh, dh_next, h0, h, gates, delta_x, dh_prev, t):
        # Reset before, first half: (4) and (3). Writes δ_z, δ_h into delta_x[t] and the
        # direct part dh ⊙ z of dh(t-1) into dh_prev (B, H).
        k = cuda.grid(1)
        batch_size, H = h0.shape
        if k < batch_size * H:
            b = k // H
            j = k - b * H
            z = gates[t, b, j]
            h_tilde = gates[t, b, 2 * H + j]
            h_prev = h0[b, j] if t == 0 else h[t - 1, b, j]
            dh_t = dh[t, b, j] + dh_next[b, j]
            dh_prev[b, j] = dh_t * z  # (4) h = z*h_prev + (1-z)*h_tilde
            dz = dh_t * (h_prev - h_tilde)
            delta_x[t, b, 2 * H + j] = dh_t * (one - z) * (one - h_tilde * h_tilde)  # (3)
            delta_x[t, b, j] = dz * z * (one - z)  # (1) z = σ(a_z)

    @cuda.jit
    def gates_back(d_rh, h0, h, gates, delta_x, dh_prev, t):
        # Reset before, second half: (2) rh = r ⊙ h_prev, given d(rh) = δ_h · U_h (B, H).
        k = cuda.grid(1)
        batch_size, H = h0.shape
        if k < batch_size * H:
            b = k // H
            j = k - b * H
            r = gates[t, b, H + j]
            h_prev = h0[b, j] if t == 0 else h[t - 1, b, j]
            dr = d_rh[b, j] * h_prev  # (2)
            dh_prev[b, j] = dh_prev[b, j] + d_rh[b, j] * r
            delta_x[t, b, H + j] = dr * r * (one - r)  # (1) r = σ(a_r)

    @cuda.jit
    def reset_after_back(dh, dh_next, h0, h, gates, extra, delta_x, delta_U, dh_prev, t):
        # Reset after, whole step: δ_x (gradient of P) and δ_U (of h(t-1) · Uᵀ + [0, 0, b_hn]).
        k = cuda.grid(1)
        batch_size, H = h0.shape
        if k < batch_size * H:
            b = k // H
            j = k - b * H
            z = gates[t, b, j]
            r = gates[t, b, H + j]
            h_tilde = gates[t, b, 2 * H + j]
            h_prev = h0[b, j] if t == 0 else h[t - 1, b, j]
            dh_t = dh[t, b, j] + dh_next[b, j]
            dh_prev[b, j] = dh_t * z  # (4)
            dz = dh_t * (h_prev - h_tilde)
            delta_h = dh_t * (one - z) * (one - h_tilde * h_tilde)  # (3) h̃ = tanh(.)
            dr = delta_h * extra[t, b, j]  # (3) r ⊙ n
            delta_z = dz * z * (one - z)  # (1)
            delta_r = dr * r * (one - r)
            delta_x[t, b, j] = delta_z
            delta_x[t, b, H + j] = delta_r
            delta_x[t, b, 2 * H + j] = delta_h
            delta_U[t, b, j] = delta_z
            delta_U[t, b, H + j] = delta_r
            delta_U[t, b, 2 * H + j] = delta_h * r

    return candidate_back, gates_back, reset_after_back


def gru_backward(dh, dh_final, cache, W, U, reset_after=False):
    """GPU version of :func:`rnnlab.cells.gru.gru_backward` (same arguments, same results)."""
    xp = xp_of(dh)
    _, h0, gates, extra, h = cache
    _, batch_size, H = h.shape
    delta_x = xp.empty_like(gates)
    delta_U = xp.empty_like(gates) if reset_after else delta_x
    dh_next = xp.zeros(h0.shape, h.dtype) if dh_final is None else dh_final.copy()
    dh_prev = xp.empty((batch_size, H), dtype=h.dtype)  # the pointwise part of dh(t-1)
    _run_backward_steps(xp, dh, dh_next, dh_prev, h0, h, gates, extra, delta_x, delta_U, U)
    dx, grads = gru_weight_gradients(delta_x, delta_U, cache, W, U, reset_after)
    return dx, dh_next, grads


def _run_backward_steps(xp, dh, dh_next, dh_prev, h0, h, gates, extra, delta_x, delta_U, U):
    """The time loop of backward; leaves dh(0)'s gradient, dh0, in ``dh_next``."""
    num_steps, batch_size, H = h.shape
    candidate_back, gates_back, reset_after_back = backward_kernels(h.dtype.name)
    blocks, threads = launch_config(batch_size * H)
    stream = stream_for(xp)
    recurrent = xp.empty((batch_size, U.shape[1]), dtype=h.dtype)  # δ · U for one step
    if delta_U is not delta_x:  # reset after
        launch = reset_after_back[blocks, threads, stream]
        args = kernel_args(xp, dh, dh_next, h0, h, gates, extra, delta_x, delta_U, dh_prev)
        for t in range(num_steps - 1, -1, -1):
            launch(*args, t)
            xp.matmul(delta_U[t], U, out=recurrent)  # (1) h_prev · Uᵀ
            xp.add(dh_prev, recurrent, out=dh_next)
        return
    d_rh = xp.empty((batch_size, H), dtype=h.dtype)
    launch_candidate = candidate_back[blocks, threads, stream]
    launch_gates = gates_back[blocks, threads, stream]
    dh_d, dh_next_d, h0_d, h_d, gates_d, delta_x_d, dh_prev_d, d_rh_d = kernel_args(
        xp, dh, dh_next, h0, h, gates, delta_x, dh_prev, d_rh
    )
    U_zr, U_h = U[: 2 * H], U[2 * H :]
    for t in range(num_steps - 1, -1, -1):
        launch_candidate(dh_d, dh_next_d, h0_d, h_d, gates_d, delta_x_d, dh_prev_d, t)
        xp.matmul(delta_x[t, :, 2 * H :], U_h, out=d_rh)  # (3) rh · U_hᵀ
        launch_gates(d_rh_d, h0_d, h_d, gates_d, delta_x_d, dh_prev_d, t)
        xp.matmul(delta_x[t, :, : 2 * H], U_zr, out=recurrent)  # (1) h_prev · U_zrᵀ
        xp.add(dh_prev, recurrent, out=dh_next)
