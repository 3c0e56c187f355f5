"""Exact gradient norms ∂L/∂h(t) at every step, walked with the reference step backward.

Used by the sweep's jobs (profiles at init and after training) and by section 5
(:mod:`.gradflow`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..cells.gru import gru_step_backward
from ..cells.lstm import lstm_step_backward
from ..cells.rnn import rnn_step_backward

__all__ = ["hidden_gradient_norms", "relative_profile"]


def hidden_gradient_norms(layer: Any, x: np.ndarray, dy_last: np.ndarray) -> np.ndarray:
    """Norms of ∂L/∂h(t) for t = T, T-1, ..., 1 when the loss reads only the last output.

    Parameters
    ----------
    layer : RNNLayer, LSTMLayer or GRULayer with an output head (CPU, NumPy arrays)
    x : (T, B, I) input
    dy_last : (B, O) gradient of the loss with respect to the last output y(T)

    Returns
    -------
    norms : (T,) float64, ``norms[k]`` = mean over the batch of ‖∂L/∂h(T-k)‖₂ (k = distance)
    """
    if layer.output_size is None:
        raise ValueError("layer: expected a layer with an output head (output_size set)")
    layer.forward(x)
    cache = layer._cache
    U = layer._w["U"]
    dh = np.asarray(dy_last, dtype=layer.dtype) @ layer._w["W_hy"]  # (B, H), y = h · W_hyᵀ + b_y
    num_steps = cache.h.shape[0]
    norms = np.empty(num_steps)
    if layer.cell == "lstm":
        dC = np.zeros_like(dh)
    for t in range(num_steps - 1, -1, -1):
        norms[num_steps - 1 - t] = float(np.linalg.norm(dh, axis=-1).mean())
        if layer.cell == "rnn":
            _, dh = rnn_step_backward(dh, cache.h[t], U)
        elif layer.cell == "lstm":
            C_prev = cache.C[t - 1] if t > 0 else cache.C0
            _, dh, dC = lstm_step_backward(dh, dC, cache.gates[t], C_prev, cache.tanh_C[t], U)
        else:
            h_prev = cache.h[t - 1] if t > 0 else cache.h0
            reset_after = getattr(layer, "reset_after", False)
            _, _, dh = gru_step_backward(dh, h_prev, cache.gates[t], cache.extra[t], U, reset_after)
    return norms


def relative_profile(norms: Sequence[float] | np.ndarray) -> np.ndarray:
    """``norms / norms[0]``: the fraction of the gradient left k steps from the loss."""
    norms = np.asarray(norms, dtype=np.float64)
    return norms / norms[0] if norms[0] > 0 else norms
