"""LSTM with layer normalisation (Ba, Kiros & Hinton 2016, section 6.7 / appendix), reference.

The paper normalises the input and the recurrent pre-activations separately and the cell state
before its tanh. Here each gate block is normalised on its own (G = 4 blocks of H units, as
TensorFlow's LayerNormBasicLSTMCell does), so the scale of one gate does not leak into another::

    (0) P = LN_x(x · Wᵀ) + b                       all T steps at once, (T, B, 4H)
    (1) a(t) = P(t) + LN_h(h(t-1) · Uᵀ)            (B, 4H) = [a_f, a_i, a_c, a_o]
    (2) f, i, o = σ(a_f), σ(a_i), σ(a_o);  C̃ = tanh(a_c)
    (3) C(t) = f ⊙ C(t-1) + i ⊙ C̃
    (4) h(t) = o ⊙ tanh(LN_C(C(t)))

LN_x, LN_h are per-gate-block layer norms with gains ln_x_gain, ln_h_gain (4H,) and biases
ln_x_bias, ln_h_bias (4H,); LN_C normalises the H cell units with ln_C_gain, ln_C_bias (H,).
Gains start at 1 and biases at 0; b stays (it is redundant with the two LN biases — the sum is
what matters — but keeping it keeps ``forget_bias`` and the plain LSTM's parameters). The
equations of LN itself are in :mod:`rnnlab.cells.layer_norm` (ε = 1e-5 inside the square root).

Backward of one step, given dh and dC reaching step t:

    (4) do = dh ⊙ tanh(LN_C(C));  dĈ = dh ⊙ o ⊙ (1 - tanh²);  dC += LN_C backward of dĈ
    (3), (2) δ = gradient on a(t), exactly as the plain LSTM;  dC(t-1) = dC ⊙ f
    (1) dg = LN_h backward of δ;  dh(t-1) = dg · U;  dU = Σ_t dg(t)ᵀ h(t-1)
    (0) db = Σ δ;  dP̂ = LN_x backward of δ;  dW = Σ dP̂ᵀ x;  dx = dP̂ · W

``lengths`` and ``zoneout`` work as in :mod:`rnnlab.cells.lstm` (see :mod:`rnnlab.cells.carry`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..backend import xp_of
from .carry import add, carry_backward, carry_forward, mask_outputs, step_mask
from .layer_norm import LayerNormCache, layer_norm_backward, layer_norm_forward
from .lstm import activate_gates, gate_deltas, split_gates

# Order of the ``ln`` tuple and of the extra gradients backward returns.
LN_PARAM_NAMES = ("ln_x_gain", "ln_x_bias", "ln_h_gain", "ln_h_bias", "ln_C_gain", "ln_C_bias")


class LSTMLNCache(NamedTuple):
    """What forward keeps for backward; the first seven fields mean what LSTMCache's do."""

    x: Any  # (T, B, I)
    h0: Any  # (B, H)
    C0: Any  # (B, H)
    gates: Any  # (T, B, 4H) activated [f, i, C̃, o]
    C: Any  # (T, B, H) carried cell states
    tanh_C: Any  # (T, B, H) tanh(LN_C(C_new))
    h: Any  # (T, B, H) carried hidden states
    norm_x: LayerNormCache  # of (0): (T, B, 4H), (T, B, 4, 1)
    norm_h: LayerNormCache  # of (1), every step: (T, B, 4H), (T, B, 4, 1)
    norm_C: LayerNormCache  # of (4), every step: (T, B, H), (T, B, 1, 1)


def lstm_ln_step_forward(p_t, h_prev, C_prev, U, ln):
    """One step from P(t) (B, 4H). Returns (h, C, gates, tanh_C, norm_h, norm_C)."""
    xp = xp_of(p_t)
    _, _, gain_h, bias_h, gain_C, bias_C = ln
    g_norm, norm_h = layer_norm_forward(h_prev @ U.T, gain_h, bias_h, 4)  # (1)
    gates = activate_gates(p_t + g_norm)  # (2)
    f, i, C_tilde, o = split_gates(gates)
    C = f * C_prev + i * C_tilde  # (3)
    C_norm, norm_C = layer_norm_forward(C, gain_C, bias_C, 1)  # (4)
    tanh_C = xp.tanh(C_norm)
    h = o * tanh_C
    return h, C, gates, tanh_C, norm_h, norm_C


def lstm_ln_step_backward(dh, dC, gates, C_prev, tanh_C, norm_h, norm_C, U, ln):
    """Undo one step. Returns (δ, dg, dh(t-1), dC(t-1), (dgain_h, dbias_h, dgain_C, dbias_C)).

    δ (B, 4H) is the gradient on a(t), dg (B, 4H) the gradient on h(t-1) · Uᵀ.
    """
    _, _, gain_h, _, gain_C, _ = ln
    f, _, _, o = split_gates(gates)
    do = dh * tanh_C  # (4) h = o * tanh(LN_C(C))
    dC_norm = dh * o * (1.0 - tanh_C * tanh_C)
    dC_ln, dgain_C, dbias_C = layer_norm_backward(dC_norm, norm_C, gain_C, 1)  # (4) LN_C
    dC = dC + dC_ln
    delta = gate_deltas(dC, do, gates, C_prev)  # (3), (2)
    dC_prev = dC * f  # (3)
    dg, dgain_h, dbias_h = layer_norm_backward(delta, norm_h, gain_h, 4)  # (1) LN_h
    dh_prev = dg @ U  # (1) g = h_prev · Uᵀ
    return delta, dg, dh_prev, dC_prev, (dgain_h, dbias_h, dgain_C, dbias_C)


def lstm_ln_forward(
    x: Any,
    h0: Any,
    C0: Any,
    W: Any,
    U: Any,
    b: Any,
    ln: tuple[Any, ...],
    lengths: Any = None,
    zoneout: Any = None,
) -> tuple[Any, LSTMLNCache]:
    """Run the layer-normalised LSTM over a whole sequence.

    Parameters
    ----------
    x : (T, B, I); h0, C0 : (B, H)
    W : (4H, I), U : (4H, H), b : (4H,), gate blocks in the order f, i, c, o
    ln : tuple (ln_x_gain, ln_x_bias, ln_h_gain, ln_h_bias, ln_C_gain, ln_C_bias), shapes
        (4H,) x4 and (H,) x2
    lengths : int array (B,) in 1..T, or None
    zoneout : None or (K_h, K_C), keep masks (T, B, H) (either may be None)

    Returns
    -------
    h : (T, B, H) (zero at padded steps)
    cache : LSTMLNCache (carried states in ``h`` and ``C``)
    """
    xp = xp_of(x)
    num_steps, batch_size, _ = x.shape
    H = h0.shape[-1]
    gain_x, bias_x = ln[0], ln[1]
    P, norm_x = layer_norm_forward(x @ W.T, gain_x, bias_x, 4)  # (0)
    P = P + b
    gates = xp.empty_like(P)
    g_hat, g_inv_std = xp.empty_like(P), xp.empty((num_steps, batch_size, 4, 1), P.dtype)
    C = xp.empty((num_steps, batch_size, H), dtype=P.dtype)
    tanh_C, h, C_hat = xp.empty_like(C), xp.empty_like(C), xp.empty_like(C)
    C_inv_std = xp.empty((num_steps, batch_size, 1, 1), P.dtype)
    valid = step_mask(lengths, num_steps, x)  # (T, B, 1) or None
    K_h, K_C = (None, None) if zoneout is None else tuple(zoneout)
    h_prev, C_prev = h0, C0
    for t in range(num_steps):
        h_new, C_new, gates[t], tanh_C[t], norm_h, norm_C = lstm_ln_step_forward(
            P[t], h_prev, C_prev, U, ln
        )
        g_hat[t], g_inv_std[t] = norm_h
        C_hat[t], C_inv_std[t] = norm_C
        v_t = None if valid is None else valid[t]
        h_new = carry_forward(h_new, h_prev, None if K_h is None else K_h[t], v_t)
        C_new = carry_forward(C_new, C_prev, None if K_C is None else K_C[t], v_t)
        h[t], C[t] = h_prev, C_prev = h_new, C_new
    norm_h_all = LayerNormCache(g_hat, g_inv_std)
    norm_C_all = LayerNormCache(C_hat, C_inv_std)
    cache = LSTMLNCache(x, h0, C0, gates, C, tanh_C, h, norm_x, norm_h_all, norm_C_all)
    return mask_outputs(h, valid), cache


def lstm_ln_backward(
    dh: Any,
    dh_final: Any,
    dC_final: Any,
    cache: LSTMLNCache,
    W: Any,
    U: Any,
    ln: tuple[Any, ...],
    lengths: Any = None,
    zoneout: Any = None,
) -> tuple[Any, Any, Any, tuple[Any, ...]]:
    """Backpropagation through time for :func:`lstm_ln_forward`.

    Returns
    -------
    dx : (T, B, I), dh0 : (B, H), dC0 : (B, H),
    grads : (dW, dU, db, d_ln_x_gain, d_ln_x_bias, d_ln_h_gain, d_ln_h_bias, d_ln_C_gain,
        d_ln_C_bias)
    """
    xp = xp_of(dh)
    x, h0, C0, gates, C, tanh_C, h, norm_x, norm_h, norm_C = cache
    num_steps = h.shape[0]
    H = h.shape[-1]
    valid = step_mask(lengths, num_steps, dh)
    dh = mask_outputs(dh, valid)  # padded outputs are constant zeros
    K_h, K_C = (None, None) if zoneout is None else tuple(zoneout)
    delta, dg = xp.empty_like(gates), xp.empty_like(gates)
    ln_step_grads = [0.0, 0.0, 0.0, 0.0]  # dgain_h, dbias_h, dgain_C, dbias_C
    dh_next = xp.zeros_like(h0) if dh_final is None else dh_final
    dC_next = xp.zeros_like(C0) if dC_final is None else dC_final
    for t in range(num_steps - 1, -1, -1):
        C_prev = C[t - 1] if t > 0 else C0
        v_t = None if valid is None else valid[t]
        dh_t, dh_direct = carry_backward(dh[t] + dh_next, None if K_h is None else K_h[t], v_t)
        dC_t, dC_direct = carry_backward(dC_next, None if K_C is None else K_C[t], v_t)
        norm_h_t = LayerNormCache(norm_h.a_hat[t], norm_h.inv_std[t])
        norm_C_t = LayerNormCache(norm_C.a_hat[t], norm_C.inv_std[t])
        delta[t], dg[t], dh_next, dC_next, step_grads = lstm_ln_step_backward(
            dh_t, dC_t, gates[t], C_prev, tanh_C[t], norm_h_t, norm_C_t, U, ln
        )
        dh_next, dC_next = add(dh_next, dh_direct), add(dC_next, dC_direct)
        ln_step_grads = [acc + g for acc, g in zip(ln_step_grads, step_grads, strict=True)]
    h_prev = xp.concatenate([h0[None], h[:-1]]).reshape(-1, H)
    dU = dg.reshape(-1, 4 * H).T @ h_prev  # (1)
    db = delta.reshape(-1, 4 * H).sum(axis=0)  # (0)
    dP_hat, dgain_x, dbias_x = layer_norm_backward(delta, norm_x, ln[0], 4)  # (0) LN_x
    dW = dP_hat.reshape(-1, 4 * H).T @ x.reshape(-1, x.shape[2])
    dx = dP_hat @ W
    return dx, dh_next, dC_next, (dW, dU, db, dgain_x, dbias_x, *ln_step_grads)
