"""The part of backpropagation through time done once for all steps, after the time loop.

With δ(t) the gradient of a cell's stacked pre-activations (T, B, G·H), and the forward's
    (0) P = x · Wᵀ + b        (1) a(t) = P(t) + h(t-1) · Uᵀ
the weight, bias and input gradients are sums over all steps, so each is one matrix product:
    dW = Σ_t δ(t)ᵀ x(t),  dU = Σ_t δ(t)ᵀ h(t-1),  db = Σ_t,b δ(t),  dx = δ · W
Shared by the reference cells and the GPU drivers (whose time loops differ, not this).
"""

from __future__ import annotations

from ..backend import xp_of


def previous_states(h0, h):
    """h(t-1) for every t: [h0, h(1), ..., h(T-1)], (T, B, H)."""
    return xp_of(h).concatenate([h0[None], h[:-1]])


def stacked_weight_gradients(delta, x, h0, h, W):
    """(dx, dW, dU, db) from δ (T, B, G·H) for a cell whose recurrent product acts on h(t-1)."""
    rows = delta.shape[-1]
    delta_2d = delta.reshape(-1, rows)
    dW = delta_2d.T @ x.reshape(-1, x.shape[2])  # (0)
    dU = delta_2d.T @ previous_states(h0, h).reshape(-1, h.shape[-1])  # (1)
    db = delta_2d.sum(axis=0)
    dx = delta @ W
    return dx, dW, dU, db
