"""Small training loops the comparison runs: one recurrent layer with its output head.

The sweeps train many tiny models for a fixed number of updates on freshly generated batches
(``rnnlab.fit`` trains on a fixed data set, so the loop is spelled out here): Adam from
:mod:`rnnlab.optim` (the guide's optimiser), gradient clipping at the guide's 5.0, and the
losses of :mod:`rnnlab.losses` read at the last step (many-to-one).
"""

from __future__ import annotations

import numpy as np

from .. import GRULayer, LSTMLayer, RNNLayer, losses
from ..optim import Adam, clip_grad_norm

CELLS = {"rnn": RNNLayer, "lstm": LSTMLayer, "gru": GRULayer}
CELL_NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}

#: The guide's practical tips: Adam, gradient clip 5.0.
GRADIENT_CLIP = 5.0


def make_layer(cell, input_size, hidden_size, output_size, *, seed, dtype=np.float32):
    """A layer of ``cell`` ("rnn", "lstm", "gru") with an output head, seeded."""
    if cell not in CELLS:
        raise ValueError(f"cell: expected one of {sorted(CELLS)}, got {cell!r}")
    kwargs = {"forget_bias": 1.0} if cell == "lstm" else {}
    return CELLS[cell](input_size, hidden_size, output_size, seed=seed, dtype=dtype, **kwargs)


def hidden_for_budget(cell, input_size, output_size, budget):
    """The largest hidden size whose parameter count (with head) does not exceed ``budget``.

    Parameters of a cell with G gate blocks: G(I·H + H² + H) + O·H + O.
    """
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[cell]
    a, b, c = gates, gates * (input_size + 1) + output_size, output_size - budget
    hidden = int((-b + np.sqrt(b * b - 4 * a * c)) / (2 * a))
    return max(hidden, 1)


def many_to_one_step(layer, x, target, loss, optimizer):
    """One update reading the output at the last step; returns (loss, gradient norm)."""
    y = layer.forward(x)  # (T, B, O)
    if loss == "mse":
        value, dy_last = losses.mse(y[-1], target)
    else:
        value, dy_last = losses.cross_entropy(y[-1], target)
    dy = np.zeros_like(y)
    dy[-1] = dy_last
    layer.zero_grad()
    layer.backward(dy)
    norm = clip_grad_norm(layer.grads, GRADIENT_CLIP)
    optimizer.step()
    return value, norm


def make_optimizer(layer, lr):
    """The guide's optimiser: Adam (rnnlab.optim), bound to ``layer``."""
    return Adam(layer, lr=lr)
