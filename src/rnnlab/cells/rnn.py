"""Vanilla (Elman) RNN cell: reference forward and backward through time.

Guide::

    h(t) = tanh(W_xh · x(t) + W_hh · h(t-1) + b_h)

Shapes: W_xh (H, I), W_hh (H, H), b_h (H,); x (T, B, I); h (T, B, H). Rows are batch
entries, so the code multiplies by transposes: ``x(t) @ W_xh.T``.

What the code computes, in order:

    (0) P = x · W_xhᵀ + b_h                  all T steps in one matrix product, (T, B, H)
    (1) h(t) = tanh(P(t) + h(t-1) · W_hhᵀ)    per step: only the recurrent product remains

Backward (δ = ∂L/∂pre-activation), per step from t = T down to 1:

    (1) δ(t) = dh(t) ⊙ (1 - h(t)²)            dh(t) = gradient from above + from step t+1
        dh(t-1) = δ(t) · W_hh
and once for all steps:
    (0) dW_xh = Σ_t δ(t)ᵀ x(t),  dW_hh = Σ_t δ(t)ᵀ h(t-1),  db_h = Σ_t,b δ(t),  dx = δ · W_xh

With ``lengths`` (a padded batch), padded steps carry h unchanged and output zero; the
equations of that are in :mod:`rnnlab.cells.carry`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..backend import xp_of
from .carry import carry_backward, carry_forward, mask_outputs, step_mask
from .weight_grads import stacked_weight_gradients


class RNNCache(NamedTuple):
    """What forward keeps for backward."""

    x: Any  # (T, B, I) input
    h0: Any  # (B, H) initial state
    h: Any  # (T, B, H) hidden states; tanh'(a) = 1 - h² comes from them


def rnn_step_forward(p_t: Any, h_prev: Any, W_hh: Any) -> Any:
    """One step: ``h(t) = tanh(P(t) + h(t-1) · W_hhᵀ)`` with P(t) the projected input (B, H)."""
    xp = xp_of(p_t)
    return xp.tanh(p_t + h_prev @ W_hh.T)  # (1)


def rnn_step_backward(dh: Any, h: Any, W_hh: Any) -> tuple[Any, Any]:
    """Undo one step. ``dh`` is the total gradient of h(t). Returns (δ(t), dh(t-1))."""
    delta = dh * (1.0 - h * h)  # (1) h = tanh(a)
    dh_prev = delta @ W_hh  # (1) a = P + h_prev · W_hhᵀ
    return delta, dh_prev


def rnn_forward(
    x: Any, h0: Any, W_xh: Any, W_hh: Any, b_h: Any, lengths: Any = None
) -> tuple[Any, RNNCache]:
    """Run the RNN over a whole sequence.

    Parameters
    ----------
    x : (T, B, I) array
    h0 : (B, H) array
    W_xh : (H, I), W_hh : (H, H), b_h : (H,)
    lengths : int array (B,) in 1..T, or None (every sequence runs all T steps)

    Returns
    -------
    h : (T, B, H) hidden state at every step (zero at padded steps)
    cache : RNNCache; its ``h`` is the carried state, so ``cache.h[-1]`` is each sequence's
        state at its own last valid step
    """
    xp = xp_of(x)
    num_steps = x.shape[0]
    valid = step_mask(lengths, num_steps, x)  # (T, B, 1) or None
    P = x @ W_xh.T + b_h  # (0) (T, B, H)
    h = xp.empty_like(P)
    h_prev = h0
    for t in range(num_steps):
        h_new = rnn_step_forward(P[t], h_prev, W_hh)
        if valid is not None:
            h_new = carry_forward(h_new, h_prev, None, valid[t])
        h[t] = h_prev = h_new
    return mask_outputs(h, valid), RNNCache(x, h0, h)


def rnn_backward(
    dh: Any, dh_final: Any, cache: RNNCache, W_xh: Any, W_hh: Any, lengths: Any = None
) -> tuple[Any, Any, tuple[Any, Any, Any]]:
    """Backpropagation through time.

    Parameters
    ----------
    dh : (T, B, H) gradient of the loss with respect to each h(t), from the layers above
    dh_final : (B, H) or None, extra gradient on the final state h(T)
    cache : RNNCache from :func:`rnn_forward`
    W_xh, W_hh : the weights used in forward
    lengths : the ``lengths`` given to forward (None: all T steps valid)

    Returns
    -------
    dx : (T, B, I)
    dh0 : (B, H)
    grads : (dW_xh, dW_hh, db_h)
    """
    xp = xp_of(dh)
    x, h0, h = cache
    num_steps = h.shape[0]
    valid = step_mask(lengths, num_steps, dh)
    dh = mask_outputs(dh, valid)  # padded outputs are constant zeros
    delta = xp.empty_like(h)
    dh_next = xp.zeros_like(h0) if dh_final is None else dh_final
    for t in range(num_steps - 1, -1, -1):
        dh_t = dh[t] + dh_next
        if valid is None:
            delta[t], dh_next = rnn_step_backward(dh_t, h[t], W_hh)
        else:
            dh_new, dh_direct = carry_backward(dh_t, None, valid[t])
            delta[t], dh_next = rnn_step_backward(dh_new, h[t], W_hh)
            dh_next = dh_next + dh_direct
    dx, dW_xh, dW_hh, db_h = stacked_weight_gradients(delta, x, h0, h, W_xh)  # (0)
    return dx, dh_next, (dW_xh, dW_hh, db_h)
