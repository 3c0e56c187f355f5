"""The gradients that need no time loop, one large matrix product each (step (0) and (1))."""

from __future__ import annotations


def input_grads(delta, x, W):
    """(0) P = x · Wᵀ + b: dx = δ · W, dW = Σ_t δ(t)ᵀ x(t), db = Σ_t,b δ(t). δ (T, B, G)."""
    num_steps, batch_size, G = delta.shape
    input_size = x.shape[-1]
    delta_2d = delta.reshape(-1, G)
    dW = delta_2d.T @ x.reshape(-1, input_size)
    db = delta_2d.sum(axis=0)
    dx = (delta_2d @ W).reshape(num_steps, batch_size, input_size)
    return dx, dW, db


def recurrent_grad(delta, h0, h):
    """(1) a(t) = … + h(t-1) · Uᵀ: dU = Σ_t δ(t)ᵀ h(t-1), with h(t-1) = h0 for t = 0.

    Two products instead of concatenating [h0, h(0..T-2)] into a fresh (T, B, H) array.
    """
    num_steps, G = delta.shape[0], delta.shape[-1]
    H = h.shape[-1]
    dU = delta[0].T @ h0
    if num_steps > 1:
        dU += delta[1:].reshape(-1, G).T @ h[:-1].reshape(-1, H)
    return dU
