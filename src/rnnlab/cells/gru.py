"""GRU cell (Cho et al. 2014): reference forward and backward, in both published forms.

Guide (``reset_after=False``, the paper's and Keras' ``reset_after=False`` form)::

    z(t) = σ(W_z · [h(t-1), x(t)] + b_z)                update gate
    r(t) = σ(W_r · [h(t-1), x(t)] + b_r)                reset gate
    h̃(t) = tanh(W_h · [r(t) ⊙ h(t-1), x(t)] + b_h)      candidate: reset applied *before* U_h
    h(t) = z(t) ⊙ h(t-1) + (1 - z(t)) ⊙ h̃(t)

``reset_after=True`` is the cuDNN / PyTorch / Keras-default form. It applies the reset gate
*after* the recurrent product and has one extra bias b_hn inside it::

    h̃(t) = tanh(W_h · x(t) + b_h + r(t) ⊙ (U_h · h(t-1) + b_hn))

The two forms are different functions; neither converts exactly into the other.

Gates are stacked in the order z, r, h: W (3H, I), U (3H, H), b (3H,). Computed, reset before:

    (0) P = x · Wᵀ + b                                  all T steps, (T, B, 3H)
    (1) [a_z, a_r] = P_zr(t) + h(t-1) · U_zrᵀ;  z, r = σ(a_z), σ(a_r)
    (2) rh = r ⊙ h(t-1)
    (3) h̃ = tanh(P_h(t) + rh · U_hᵀ)
    (4) h(t) = z ⊙ h(t-1) + (1 - z) ⊙ h̃

and reset after:

    (1) [g_z, g_r, n] = h(t-1) · Uᵀ + [0, 0, b_hn];  z, r = σ(P_z + g_z), σ(P_r + g_r)
    (3) h̃ = tanh(P_h(t) + r ⊙ n)
    (4) h(t) = z ⊙ h(t-1) + (1 - z) ⊙ h̃

Backward, per step: (4) dh̃ = dh ⊙ (1-z), dz = dh ⊙ (h(t-1) - h̃), dh(t-1) = dh ⊙ z;
(3) δ_h = dh̃ ⊙ (1 - h̃²); then, reset before: d(rh) = δ_h · U_h, dr = d(rh) ⊙ h(t-1),
dh(t-1) += d(rh) ⊙ r; reset after: dn = δ_h ⊙ r, dr = δ_h ⊙ n; (1) δ_z = dz ⊙ z(1-z),
δ_r = dr ⊙ r(1-r), dh(t-1) += [δ_z, δ_r, (dn)] · U.

Options (equations in :mod:`rnnlab.cells.carry`): ``lengths`` for padded batches (padded steps
carry h unchanged and output zero) and ``zoneout`` = K, a keep mask (T, B, H) applied to h
after (4): h(t) = K ⊙ h(t-1) + (1 - K) ⊙ h_new.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..backend import xp_of
from .activations import sigmoid
from .carry import add, carry_backward, carry_forward, mask_outputs, step_mask
from .weight_grads import previous_states

GATE_ORDER = ("z", "r", "h")


class GRUCache(NamedTuple):
    """What forward keeps for backward.

    ``extra`` is rh = r ⊙ h(t-1) for reset_after=False (needed for dU_h), and
    n = U_h · h(t-1) + b_hn for reset_after=True (needed for dr).
    """

    x: Any  # (T, B, I)
    h0: Any  # (B, H)
    gates: Any  # (T, B, 3H) activated [z, r, h̃]
    extra: Any  # (T, B, H) rh or n, see above
    h: Any  # (T, B, H)


def gru_step_forward(p_t: Any, h_prev: Any, U: Any, b_hn: Any = None) -> tuple[Any, Any, Any]:
    """One step from the projected input ``p_t`` (B, 3H). Returns (h, gates, extra).

    ``b_hn`` None selects the guide's form (reset before), an array the reset-after form.
    """
    xp = xp_of(p_t)
    H = h_prev.shape[-1]
    gates = xp.empty_like(p_t)
    if b_hn is None:
        gates[:, : 2 * H] = sigmoid(p_t[:, : 2 * H] + h_prev @ U[: 2 * H].T)  # (1)
        z, r = gates[:, :H], gates[:, H : 2 * H]
        extra = r * h_prev  # (2) rh
        gates[:, 2 * H :] = xp.tanh(p_t[:, 2 * H :] + extra @ U[2 * H :].T)  # (3)
    else:
        g = h_prev @ U.T  # (1)
        gates[:, : 2 * H] = sigmoid(p_t[:, : 2 * H] + g[:, : 2 * H])
        z, r = gates[:, :H], gates[:, H : 2 * H]
        extra = g[:, 2 * H :] + b_hn  # (1) n
        gates[:, 2 * H :] = xp.tanh(p_t[:, 2 * H :] + r * extra)  # (3)
    h_tilde = gates[:, 2 * H :]
    h = h_tilde + z * (h_prev - h_tilde)  # (4) z ⊙ h_prev + (1 - z) ⊙ h̃
    return h, gates, extra


def gru_step_backward(
    dh: Any, h_prev: Any, gates: Any, extra: Any, U: Any, reset_after: bool
) -> tuple[Any, Any, Any]:
    """Undo one step. Returns (δ_x (B, 3H), δ_U (B, 3H), dh(t-1)).

    δ_x is the gradient of the input projection P(t); δ_U that of the recurrent product's
    output. They agree on z and r; on the candidate block, δ_U holds δ_h ⊙ r for reset after and
    is unused (the recurrent product acts on rh) for reset before.
    """
    xp = xp_of(dh)
    H = dh.shape[-1]
    z, r, h_tilde = gates[:, :H], gates[:, H : 2 * H], gates[:, 2 * H :]
    dh_prev = dh * z  # (4) h = z*h_prev + (1-z)*h_tilde
    dz = dh * (h_prev - h_tilde)
    delta_x = xp.empty_like(gates)
    delta_x[:, 2 * H :] = dh * (1.0 - z) * (1.0 - h_tilde * h_tilde)  # (4), (3) h̃ = tanh(.)
    delta_h = delta_x[:, 2 * H :]
    if reset_after:
        delta_U = xp.empty_like(gates)
        delta_U[:, 2 * H :] = delta_h * r  # (3) r ⊙ n
        dr = delta_h * extra
    else:
        delta_U = delta_x
        d_rh = delta_h @ U[2 * H :]  # (3) rh · U_hᵀ
        dr = d_rh * h_prev  # (2) rh = r ⊙ h_prev
        dh_prev = dh_prev + d_rh * r
    delta_x[:, :H] = dz * z * (1.0 - z)  # (1) z = σ(a_z)
    delta_x[:, H : 2 * H] = dr * r * (1.0 - r)  # (1) r = σ(a_r)
    if reset_after:
        delta_U[:, : 2 * H] = delta_x[:, : 2 * H]
        dh_prev = dh_prev + delta_U @ U  # (1) h_prev · Uᵀ
    else:
        dh_prev = dh_prev + delta_x[:, : 2 * H] @ U[: 2 * H]  # (1) h_prev · U_zrᵀ
    return delta_x, delta_U, dh_prev


def gru_forward(
    x: Any,
    h0: Any,
    W: Any,
    U: Any,
    b: Any,
    b_hn: Any = None,
    lengths: Any = None,
    zoneout: Any = None,
) -> tuple[Any, GRUCache]:
    """Run the GRU over a whole sequence.

    Parameters
    ----------
    x : (T, B, I) array
    h0 : (B, H)
    W : (3H, I), U : (3H, H), b : (3H,), gate blocks in the order z, r, h
    b_hn : (H,) or None. None: the guide's form (reset before); an array: reset after.
    lengths : int array (B,) in 1..T, or None (all steps valid)
    zoneout : None or K, keep mask (T, B, H) for h

    Returns
    -------
    h : (T, B, H) (zero at padded steps)
    cache : GRUCache; its ``h`` is the carried state (``cache.h[-1]``: each final state)
    """
    xp = xp_of(x)
    num_steps, batch_size, _ = x.shape
    H = h0.shape[-1]
    P = x @ W.T + b  # (0)
    gates = xp.empty_like(P)
    extra = xp.empty((num_steps, batch_size, H), dtype=P.dtype)
    h = xp.empty_like(extra)
    valid = step_mask(lengths, num_steps, x)  # (T, B, 1) or None
    h_prev = h0
    for t in range(num_steps):
        h_new, gates[t], extra[t] = gru_step_forward(P[t], h_prev, U, b_hn)
        if valid is not None or zoneout is not None:
            v_t = None if valid is None else valid[t]
            h_new = carry_forward(h_new, h_prev, None if zoneout is None else zoneout[t], v_t)
        h[t] = h_prev = h_new
    return mask_outputs(h, valid), GRUCache(x, h0, gates, extra, h)


def gru_backward(
    dh: Any,
    dh_final: Any,
    cache: GRUCache,
    W: Any,
    U: Any,
    reset_after: bool = False,
    lengths: Any = None,
    zoneout: Any = None,
) -> tuple[Any, Any, tuple[Any, Any, Any]]:
    """Backpropagation through time. ``lengths`` and ``zoneout``: as given to forward.

    Returns
    -------
    dx : (T, B, I), dh0 : (B, H), grads : (dW, dU, db) or (dW, dU, db, db_hn) for reset after
    """
    xp = xp_of(dh)
    _, h0, gates, extra, h = cache
    num_steps = h.shape[0]
    delta_x = xp.empty_like(gates)
    delta_U = xp.empty_like(gates) if reset_after else delta_x
    valid = step_mask(lengths, num_steps, dh)
    dh = mask_outputs(dh, valid)  # padded outputs are constant zeros
    dh_next = xp.zeros_like(h0) if dh_final is None else dh_final
    for t in range(num_steps - 1, -1, -1):
        h_prev = h[t - 1] if t > 0 else h0
        dh_t, dh_direct = dh[t] + dh_next, None
        if valid is not None or zoneout is not None:
            v_t = None if valid is None else valid[t]
            dh_t, dh_direct = carry_backward(dh_t, None if zoneout is None else zoneout[t], v_t)
        dx_t, dU_t, dh_next = gru_step_backward(dh_t, h_prev, gates[t], extra[t], U, reset_after)
        dh_next = add(dh_next, dh_direct)
        delta_x[t] = dx_t
        if reset_after:
            delta_U[t] = dU_t
    dx, grads = gru_weight_gradients(delta_x, delta_U, cache, W, U, reset_after)
    return dx, dh_next, grads


def gru_weight_gradients(delta_x, delta_U, cache, W, U, reset_after):
    """The once-for-all-steps part of GRU backward: (dx, (dW, dU, db[, db_hn])).

    ``delta_x`` (T, B, 3H) is the gradient of the input projection P, ``delta_U`` that of the
    recurrent product's output (the same array for reset before).
    """
    xp = xp_of(delta_x)
    x, h0, _, extra, h = cache
    H = h.shape[-1]
    h_prev_all = previous_states(h0, h).reshape(-1, H)
    dx_2d = delta_x.reshape(-1, 3 * H)
    dW = dx_2d.T @ x.reshape(-1, x.shape[2])  # (0)
    db = dx_2d.sum(axis=0)
    dx = delta_x @ W
    if reset_after:
        dU_2d = delta_U.reshape(-1, 3 * H)
        dU = dU_2d.T @ h_prev_all  # (1)
        db_hn = dU_2d[:, 2 * H :].sum(axis=0)
        return dx, (dW, dU, db, db_hn)
    dU = xp.empty_like(U)
    dU[: 2 * H] = dx_2d[:, : 2 * H].T @ h_prev_all  # (1) z, r act on h_prev
    dU[2 * H :] = dx_2d[:, 2 * H :].T @ extra.reshape(-1, H)  # (3) candidate acts on rh
    return dx, (dW, dU, db)
