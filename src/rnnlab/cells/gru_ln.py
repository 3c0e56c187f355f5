"""GRU with layer normalisation (after Ba, Kiros & Hinton 2016), reference, both GRU forms.

As for the LSTM (:mod:`rnnlab.cells.lstm_ln`), the input projection and the recurrent products
are normalised per gate block (G = 3 blocks z, r, h of H units), with gains ln_x_gain,
ln_h_gain (3H,) starting at 1 and biases ln_x_bias, ln_h_bias (3H,) starting at 0. The GRU has
no cell state, so there is no third norm. Reset before (the guide's form)::

    (0) P = LN_x(x · Wᵀ) + b                                   all T steps, (T, B, 3H)
    (1) [a_z, a_r] = P_zr(t) + LN_h,zr(h(t-1) · U_zrᵀ);  z, r = σ(a_z), σ(a_r)
    (2) rh = r ⊙ h(t-1)
    (3) h̃ = tanh(P_h(t) + LN_h,h(rh · U_hᵀ))
    (4) h(t) = z ⊙ h(t-1) + (1 - z) ⊙ h̃

Reset after (cuDNN/PyTorch form), one norm over the three blocks of h(t-1) · Uᵀ::

    (1) ĝ = LN_h(h(t-1) · Uᵀ);  z, r = σ(P_z + ĝ_z), σ(P_r + ĝ_r);  n = ĝ_h + b_hn
    (3) h̃ = tanh(P_h(t) + r ⊙ n)
    (4) h(t) = z ⊙ h(t-1) + (1 - z) ⊙ h̃

Backward of a step: δ_x is the gradient on P(t) (the pre-activations), δ_g the gradient on the
normalised recurrent product ĝ; they agree except on the candidate block of the reset-after form,
where δ_g,h = δ_h ⊙ r (and dr = δ_h ⊙ n). Each block's LN backward turns δ_g into dg, the gradient
on the raw product, which gives dh(t-1) and dU as in the plain GRU. The per-block Jacobians are
independent, which is what lets the reset-before form normalise z, r and h in two pieces.

``lengths`` and ``zoneout`` work as in :mod:`rnnlab.cells.gru` (see :mod:`rnnlab.cells.carry`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..backend import xp_of
from .activations import sigmoid
from .carry import add, carry_backward, carry_forward, mask_outputs, step_mask
from .layer_norm import (
    LayerNormCache,
    block_slice,
    layer_norm_backward,
    layer_norm_forward,
    layer_norm_param_grads,
)

LN_PARAM_NAMES = ("ln_x_gain", "ln_x_bias", "ln_h_gain", "ln_h_bias")


class GRULNCache(NamedTuple):
    """What forward keeps for backward; the first five fields mean what GRUCache's do."""

    x: Any  # (T, B, I)
    h0: Any  # (B, H)
    gates: Any  # (T, B, 3H) activated [z, r, h̃]
    extra: Any  # (T, B, H) rh (reset before) or n (reset after)
    h: Any  # (T, B, H) carried hidden states
    norm_x: LayerNormCache  # of (0): (T, B, 3H), (T, B, 3, 1)
    norm_h: LayerNormCache  # of the recurrent products, every step: (T, B, 3H), (T, B, 3, 1)


def gru_ln_step_forward(p_t, h_prev, U, ln, b_hn=None):
    """One step from P(t) (B, 3H). Returns (h, gates, extra, norm_h)."""
    xp = xp_of(p_t)
    gain_h, bias_h = ln[2], ln[3]
    H = h_prev.shape[-1]
    gates = xp.empty_like(p_t)
    if b_hn is None:
        g_zr, norm_zr = layer_norm_forward(  # (1)
            h_prev @ U[: 2 * H].T, gain_h[: 2 * H], bias_h[: 2 * H], 2
        )
        gates[:, : 2 * H] = sigmoid(p_t[:, : 2 * H] + g_zr)
        extra = gates[:, H : 2 * H] * h_prev  # (2) rh
        g_h, norm_hh = layer_norm_forward(extra @ U[2 * H :].T, gain_h[2 * H :], bias_h[2 * H :])
        gates[:, 2 * H :] = xp.tanh(p_t[:, 2 * H :] + g_h)  # (3)
        norm_h = LayerNormCache(
            xp.concatenate([norm_zr.a_hat, norm_hh.a_hat], axis=-1),
            xp.concatenate([norm_zr.inv_std, norm_hh.inv_std], axis=-2),
        )
    else:
        g, norm_h = layer_norm_forward(h_prev @ U.T, gain_h, bias_h, 3)  # (1)
        gates[:, : 2 * H] = sigmoid(p_t[:, : 2 * H] + g[:, : 2 * H])
        extra = g[:, 2 * H :] + b_hn  # (1) n
        gates[:, 2 * H :] = xp.tanh(p_t[:, 2 * H :] + gates[:, H : 2 * H] * extra)  # (3)
    z, h_tilde = gates[:, :H], gates[:, 2 * H :]
    h = h_tilde + z * (h_prev - h_tilde)  # (4) z ⊙ h_prev + (1 - z) ⊙ h̃
    return h, gates, extra, norm_h


def gru_ln_step_backward(dh, h_prev, gates, extra, norm_h, U, ln, reset_after):
    """Undo one step. Returns (δ_x (B, 3H), δ_g (B, 3H), dg (B, 3H), dh(t-1))."""
    xp = xp_of(dh)
    gain_h = ln[2]
    H = dh.shape[-1]
    z, r, h_tilde = gates[:, :H], gates[:, H : 2 * H], gates[:, 2 * H :]
    dh_prev = dh * z  # (4) h = z*h_prev + (1-z)*h_tilde
    dz = dh * (h_prev - h_tilde)
    delta_x, delta_g, dg = xp.empty_like(gates), xp.empty_like(gates), xp.empty_like(gates)
    delta_x[:, 2 * H :] = dh * (1.0 - z) * (1.0 - h_tilde * h_tilde)  # (4), (3) h̃ = tanh(.)
    delta_h = delta_x[:, 2 * H :]
    if reset_after:
        delta_g[:, 2 * H :] = delta_h * r  # (3) r ⊙ n
        dr = delta_h * extra
    else:
        delta_g[:, 2 * H :] = delta_h
        dg[:, 2 * H :] = layer_norm_backward(  # (3) LN_h,h
            delta_h, block_slice(norm_h, 2, 3), gain_h[2 * H :]
        )[0]
        d_rh = dg[:, 2 * H :] @ U[2 * H :]  # (3) rh · U_hᵀ
        dr = d_rh * h_prev  # (2) rh = r ⊙ h_prev
        dh_prev = dh_prev + d_rh * r
    delta_x[:, :H] = dz * z * (1.0 - z)  # (1) z = σ(a_z)
    delta_x[:, H : 2 * H] = dr * r * (1.0 - r)  # (1) r = σ(a_r)
    delta_g[:, : 2 * H] = delta_x[:, : 2 * H]
    if reset_after:
        dg[...] = layer_norm_backward(delta_g, norm_h, gain_h, 3)[0]  # (1) LN_h
        dh_prev = dh_prev + dg @ U  # (1) h_prev · Uᵀ
    else:
        dg[:, : 2 * H] = layer_norm_backward(  # (1) LN_h,zr
            delta_g[:, : 2 * H], block_slice(norm_h, 0, 2), gain_h[: 2 * H], 2
        )[0]
        dh_prev = dh_prev + dg[:, : 2 * H] @ U[: 2 * H]  # (1) h_prev · U_zrᵀ
    return delta_x, delta_g, dg, dh_prev


def gru_ln_forward(
    x: Any,
    h0: Any,
    W: Any,
    U: Any,
    b: Any,
    b_hn: Any,
    ln: tuple[Any, ...],
    lengths: Any = None,
    zoneout: Any = None,
) -> tuple[Any, GRULNCache]:
    """Run the layer-normalised GRU over a whole sequence.

    Parameters
    ----------
    x : (T, B, I); h0 : (B, H)
    W : (3H, I), U : (3H, H), b : (3H,), gate blocks in the order z, r, h
    b_hn : (H,) or None. None: reset before (the guide's form); an array: reset after.
    ln : tuple (ln_x_gain, ln_x_bias, ln_h_gain, ln_h_bias), each (3H,)
    lengths : int array (B,) in 1..T, or None
    zoneout : None or K, keep mask (T, B, H) for h

    Returns
    -------
    h : (T, B, H) (zero at padded steps)
    cache : GRULNCache (carried states in ``h``)
    """
    xp = xp_of(x)
    num_steps, batch_size, _ = x.shape
    H = h0.shape[-1]
    P, norm_x = layer_norm_forward(x @ W.T, ln[0], ln[1], 3)  # (0)
    P = P + b
    gates, g_hat = xp.empty_like(P), xp.empty_like(P)
    g_inv_std = xp.empty((num_steps, batch_size, 3, 1), P.dtype)
    extra = xp.empty((num_steps, batch_size, H), dtype=P.dtype)
    h = xp.empty_like(extra)
    valid = step_mask(lengths, num_steps, x)  # (T, B, 1) or None
    h_prev = h0
    for t in range(num_steps):
        h_new, gates[t], extra[t], (g_hat[t], g_inv_std[t]) = gru_ln_step_forward(
            P[t], h_prev, U, ln, b_hn
        )
        v_t = None if valid is None else valid[t]
        h[t] = h_prev = carry_forward(h_new, h_prev, None if zoneout is None else zoneout[t], v_t)
    cache = GRULNCache(x, h0, gates, extra, h, norm_x, LayerNormCache(g_hat, g_inv_std))
    return mask_outputs(h, valid), cache


def gru_ln_backward(
    dh: Any,
    dh_final: Any,
    cache: GRULNCache,
    W: Any,
    U: Any,
    ln: tuple[Any, ...],
    reset_after: bool = False,
    lengths: Any = None,
    zoneout: Any = None,
) -> tuple[Any, Any, tuple[Any, ...]]:
    """Backpropagation through time for :func:`gru_ln_forward`.

    Returns
    -------
    dx : (T, B, I), dh0 : (B, H),
    grads : (dW, dU, db, [db_hn,] d_ln_x_gain, d_ln_x_bias, d_ln_h_gain, d_ln_h_bias), with
        db_hn only for reset after
    """
    xp = xp_of(dh)
    x, h0, gates, extra, h, norm_x, norm_h = cache
    num_steps = h.shape[0]
    H = h.shape[-1]
    valid = step_mask(lengths, num_steps, dh)
    dh = mask_outputs(dh, valid)  # padded outputs are constant zeros
    delta_x, delta_g, dg = xp.empty_like(gates), xp.empty_like(gates), xp.empty_like(gates)
    dh_next = xp.zeros_like(h0) if dh_final is None else dh_final
    for t in range(num_steps - 1, -1, -1):
        h_prev = h[t - 1] if t > 0 else h0
        v_t = None if valid is None else valid[t]
        dh_t, dh_direct = carry_backward(
            dh[t] + dh_next, None if zoneout is None else zoneout[t], v_t
        )
        norm_h_t = LayerNormCache(norm_h.a_hat[t], norm_h.inv_std[t])
        delta_x[t], delta_g[t], dg[t], dh_next = gru_ln_step_backward(
            dh_t, h_prev, gates[t], extra[t], norm_h_t, U, ln, reset_after
        )
        dh_next = add(dh_next, dh_direct)
    h_prev_all = xp.concatenate([h0[None], h[:-1]]).reshape(-1, H)
    dg_2d = dg.reshape(-1, 3 * H)
    if reset_after:
        dU = dg_2d.T @ h_prev_all  # (1)
    else:
        dU = xp.empty_like(U)
        dU[: 2 * H] = dg_2d[:, : 2 * H].T @ h_prev_all  # (1) z, r act on h_prev
        dU[2 * H :] = dg_2d[:, 2 * H :].T @ extra.reshape(-1, H)  # (3) candidate acts on rh
    dgain_h, dbias_h = layer_norm_param_grads(delta_g, norm_h.a_hat)
    db = delta_x.reshape(-1, 3 * H).sum(axis=0)  # (0)
    dP_hat, dgain_x, dbias_x = layer_norm_backward(delta_x, norm_x, ln[0], 3)  # (0) LN_x
    dW = dP_hat.reshape(-1, 3 * H).T @ x.reshape(-1, x.shape[2])
    dx = dP_hat @ W
    norm_grads = (dgain_x, dbias_x, dgain_h, dbias_h)
    if reset_after:
        db_hn = delta_g[:, :, 2 * H :].reshape(-1, H).sum(axis=0)  # (1) n = ĝ_h + b_hn
        return dx, dh_next, (dW, dU, db, db_hn, *norm_grads)
    return dx, dh_next, (dW, dU, db, *norm_grads)
