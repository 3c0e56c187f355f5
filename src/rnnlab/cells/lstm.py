"""LSTM cell (Hochreiter & Schmidhuber 1997, with forget gate): reference forward and backward.

Guide, with [h(t-1), x(t)] the concatenation of previous state and input::

    f(t) = σ(W_f · [h(t-1), x(t)] + b_f)                forget gate
    i(t) = σ(W_i · [h(t-1), x(t)] + b_i)                input gate
    C̃(t) = tanh(W_c · [h(t-1), x(t)] + b_c)             candidate
    C(t) = f(t) ⊙ C(t-1) + i(t) ⊙ C̃(t)                 cell state
    o(t) = σ(W_o · [h(t-1), x(t)] + b_o)                output gate
    h(t) = o(t) ⊙ tanh(C(t))

Each guide matrix is split into its input and recurrent halves,
``W_f · [h(t-1), x(t)] = W_f · x(t) + U_f · h(t-1)`` with W_f (H, I) and U_f (H, H). The four
gates are stacked in the order f, i, c, o: W (4H, I), U (4H, H), b (4H,), so that one matrix
product serves all gates. What the code computes:

    (0) P = x · Wᵀ + b                                  all T steps at once, (T, B, 4H)
    (1) a(t) = P(t) + h(t-1) · Uᵀ                       (B, 4H) = [a_f, a_i, a_c, a_o]
    (2) f, i, o = σ(a_f), σ(a_i), σ(a_o);  C̃ = tanh(a_c)
    (3) C(t) = f ⊙ C(t-1) + i ⊙ C̃
    (4) h(t) = o ⊙ tanh(C(t))

Backward of one step, given dh and dC reaching step t:

    (4) do = dh ⊙ tanh(C);  dC += dh ⊙ o ⊙ (1 - tanh²(C))
    (3) df = dC ⊙ C(t-1);  di = dC ⊙ C̃;  dC̃ = dC ⊙ i;  dC(t-1) = dC ⊙ f
    (2) δ = [df ⊙ f(1-f), di ⊙ i(1-i), dC̃ ⊙ (1-C̃²), do ⊙ o(1-o)]
    (1) dh(t-1) = δ · U
    (0) dW = Σ_t δ(t)ᵀ x(t),  dU = Σ_t δ(t)ᵀ h(t-1),  db = Σ δ,  dx = δ · W

The guide's "memory highway": dC(t-1) = dC(t) ⊙ f(t), no weight matrix in the way.

Options (equations in :mod:`rnnlab.cells.carry`): ``lengths`` for padded batches (padded steps
carry h and C unchanged and output zero) and ``zoneout = (K_h, K_C)`` keep masks, applied to h
and C after (3) and (4) as in Krueger et al. 2016: the h of (4) uses tanh of the *new* cell
state, before zoneout mixes in C(t-1).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..backend import xp_of
from .activations import sigmoid
from .carry import add, carry_backward, carry_forward, mask_outputs, step_mask
from .weight_grads import stacked_weight_gradients

GATE_ORDER = ("f", "i", "c", "o")


class LSTMCache(NamedTuple):
    """What forward keeps for backward."""

    x: Any  # (T, B, I)
    h0: Any  # (B, H)
    C0: Any  # (B, H)
    gates: Any  # (T, B, 4H) activated gates [f, i, C̃, o]
    C: Any  # (T, B, H) cell states
    tanh_C: Any  # (T, B, H)
    h: Any  # (T, B, H)


def split_gates(gates):
    """Views (f, i, C̃, o) of stacked gates (B, 4H)."""
    H = gates.shape[-1] // 4
    return gates[:, :H], gates[:, H : 2 * H], gates[:, 2 * H : 3 * H], gates[:, 3 * H :]


def activate_gates(a):
    """(2) f, i, o = σ(a_f), σ(a_i), σ(a_o); C̃ = tanh(a_c), stacked like ``a`` (B, 4H)."""
    xp = xp_of(a)
    H = a.shape[-1] // 4
    gates = xp.empty_like(a)
    gates[:, : 2 * H] = sigmoid(a[:, : 2 * H])  # f, i
    gates[:, 2 * H : 3 * H] = xp.tanh(a[:, 2 * H : 3 * H])  # C̃
    gates[:, 3 * H :] = sigmoid(a[:, 3 * H :])  # o
    return gates


def gate_deltas(dC, do, gates, C_prev):
    """Undo (3) and (2): δ (B, 4H) on the pre-activations, given the total dC and do."""
    xp = xp_of(dC)
    H = dC.shape[-1]
    f, i, C_tilde, o = split_gates(gates)
    delta = xp.empty_like(gates)
    delta[:, :H] = dC * C_prev * f * (1.0 - f)  # (3) C = f*C_prev + i*C_tilde, (2) f = σ(a_f)
    delta[:, H : 2 * H] = dC * C_tilde * i * (1.0 - i)  # (3), (2) i = σ(a_i)
    delta[:, 2 * H : 3 * H] = dC * i * (1.0 - C_tilde * C_tilde)  # (3), (2) C̃ = tanh(a_c)
    delta[:, 3 * H :] = do * o * (1.0 - o)  # (2) o = σ(a_o)
    return delta


def lstm_step_forward(p_t: Any, h_prev: Any, C_prev: Any, U: Any) -> tuple[Any, Any, Any, Any]:
    """One step from the projected input ``p_t`` (B, 4H). Returns (h, C, gates, tanh_C)."""
    xp = xp_of(p_t)
    gates = activate_gates(p_t + h_prev @ U.T)  # (1), (2)
    f, i, C_tilde, o = split_gates(gates)
    C = f * C_prev + i * C_tilde  # (3)
    tanh_C = xp.tanh(C)
    h = o * tanh_C  # (4)
    return h, C, gates, tanh_C


def lstm_step_backward(
    dh: Any, dC: Any, gates: Any, C_prev: Any, tanh_C: Any, U: Any
) -> tuple[Any, Any, Any]:
    """Undo one step. ``dh``, ``dC``: total gradients of h(t), C(t).

    Returns (δ(t) (B, 4H), dh(t-1), dC(t-1)).
    """
    f, _, _, o = split_gates(gates)
    do = dh * tanh_C  # (4) h = o * tanh(C)
    dC = dC + dh * o * (1.0 - tanh_C * tanh_C)
    delta = gate_deltas(dC, do, gates, C_prev)  # (3), (2)
    dC_prev = dC * f  # (3)
    dh_prev = delta @ U  # (1) a = P + h_prev · Uᵀ
    return delta, dh_prev, dC_prev


def _zoneout_pair(zoneout):
    """(K_h, K_C) from the ``zoneout`` argument; either may be None."""
    return (None, None) if zoneout is None else tuple(zoneout)


def lstm_forward(
    x: Any,
    h0: Any,
    C0: Any,
    W: Any,
    U: Any,
    b: Any,
    lengths: Any = None,
    zoneout: Any = None,
) -> tuple[Any, LSTMCache]:
    """Run the LSTM over a whole sequence.

    Parameters
    ----------
    x : (T, B, I) array
    h0, C0 : (B, H) arrays, initial hidden and cell state
    W : (4H, I), U : (4H, H), b : (4H,), gate blocks in the order f, i, c, o
    lengths : int array (B,) in 1..T, or None (all steps valid)
    zoneout : None or (K_h, K_C), keep masks (T, B, H) for h and C (either may be None)

    Returns
    -------
    h : (T, B, H) hidden states (zero at padded steps)
    cache : LSTMCache (its ``C`` field holds the cell states); ``h`` and ``C`` hold the carried
        states, so ``cache.h[-1]``, ``cache.C[-1]`` are each sequence's final state
    """
    xp = xp_of(x)
    num_steps, batch_size, _ = x.shape
    H = h0.shape[-1]
    P = x @ W.T + b  # (0) (T, B, 4H)
    gates = xp.empty_like(P)
    C = xp.empty((num_steps, batch_size, H), dtype=P.dtype)
    tanh_C = xp.empty_like(C)
    h = xp.empty_like(C)
    valid = step_mask(lengths, num_steps, x)  # (T, B, 1) or None
    K_h, K_C = _zoneout_pair(zoneout)
    plain = valid is None and zoneout is None
    h_prev, C_prev = h0, C0
    for t in range(num_steps):
        h_new, C_new, gates[t], tanh_C[t] = lstm_step_forward(P[t], h_prev, C_prev, U)
        if not plain:
            v_t = None if valid is None else valid[t]
            h_new = carry_forward(h_new, h_prev, None if K_h is None else K_h[t], v_t)
            C_new = carry_forward(C_new, C_prev, None if K_C is None else K_C[t], v_t)
        h[t], C[t] = h_prev, C_prev = h_new, C_new
    return mask_outputs(h, valid), LSTMCache(x, h0, C0, gates, C, tanh_C, h)


def lstm_backward(
    dh: Any,
    dh_final: Any,
    dC_final: Any,
    cache: LSTMCache,
    W: Any,
    U: Any,
    lengths: Any = None,
    zoneout: Any = None,
) -> tuple[Any, Any, Any, tuple[Any, Any, Any]]:
    """Backpropagation through time.

    Parameters
    ----------
    dh : (T, B, H) gradient with respect to each h(t) from above
    dh_final, dC_final : (B, H) or None, extra gradients on h(T) and C(T)
    cache : LSTMCache
    W, U : weights used in forward
    lengths, zoneout : as given to forward

    Returns
    -------
    dx : (T, B, I), dh0 : (B, H), dC0 : (B, H), grads : (dW, dU, db)
    """
    xp = xp_of(dh)
    x, h0, C0, gates, C, tanh_C, h = cache
    num_steps = h.shape[0]
    valid = step_mask(lengths, num_steps, dh)
    dh = mask_outputs(dh, valid)  # padded outputs are constant zeros
    K_h, K_C = _zoneout_pair(zoneout)
    plain = valid is None and zoneout is None
    delta = xp.empty_like(gates)
    dh_next = xp.zeros_like(h0) if dh_final is None else dh_final
    dC_next = xp.zeros_like(C0) if dC_final is None else dC_final
    for t in range(num_steps - 1, -1, -1):
        C_prev = C[t - 1] if t > 0 else C0
        dh_t = dh[t] + dh_next
        if plain:
            delta[t], dh_next, dC_next = lstm_step_backward(
                dh_t, dC_next, gates[t], C_prev, tanh_C[t], U
            )
            continue
        v_t = None if valid is None else valid[t]
        dh_t, dh_direct = carry_backward(dh_t, None if K_h is None else K_h[t], v_t)
        dC_t, dC_direct = carry_backward(dC_next, None if K_C is None else K_C[t], v_t)
        delta[t], dh_next, dC_next = lstm_step_backward(dh_t, dC_t, gates[t], C_prev, tanh_C[t], U)
        dh_next, dC_next = add(dh_next, dh_direct), add(dC_next, dC_direct)
    dx, dW, dU, db = stacked_weight_gradients(delta, x, h0, h, W)  # (0)
    return dx, dh_next, dC_next, (dW, dU, db)
