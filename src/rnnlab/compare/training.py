"""How the comparison trains: one recurrent layer with its output head, through ``rnnlab.fit``.

The sweeps train many tiny models for a fixed number of updates, each on a freshly drawn batch
(or a batch drawn from a fixed training set): ``rnnlab.fit``'s batch-source form, with Adam (the
guide's optimiser), gradient clipping at the guide's 5.0, and the loss read at the last step
(many-to-one). There is no second training loop here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import GRULayer, LSTMLayer, RNNLayer
from ..optim import Adam
from ..train import fit

CELLS = {"rnn": RNNLayer, "lstm": LSTMLayer, "gru": GRULayer}
CELL_NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
#: The losses of the comparison's tasks, by the names the sweeps use.
LOSSES = {"mse": "mse", "xent": "cross_entropy"}

#: The guide's practical tips: Adam, gradient clip 5.0.
GRADIENT_CLIP = 5.0


def make_layer(
    cell: str,
    input_size: int,
    hidden_size: int,
    output_size: int,
    *,
    seed: int | np.random.Generator | None,
    dtype: type = np.float32,
    recurrent_init: str = "orthogonal",
) -> RNNLayer | LSTMLayer | GRULayer:
    """A layer of ``cell`` ("rnn", "lstm", "gru") with an output head, seeded."""
    if cell not in CELLS:
        raise ValueError(f"cell: expected one of {sorted(CELLS)}, got {cell!r}")
    kwargs = {"forget_bias": 1.0} if cell == "lstm" else {}
    return CELLS[cell](
        input_size,
        hidden_size,
        output_size,
        seed=seed,
        dtype=dtype,
        recurrent_init=recurrent_init,
        **kwargs,
    )


def hidden_for_budget(cell: str, input_size: int, output_size: int, budget: int) -> int:
    """The largest hidden size whose parameter count (with head) does not exceed ``budget``.

    Parameters of a cell with G gate blocks: G(I·H + H² + H) + O·H + O.
    """
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[cell]
    a, b, c = gates, gates * (input_size + 1) + output_size, output_size - budget
    hidden = int((-b + np.sqrt(b * b - 4 * a * c)) / (2 * a))
    return max(hidden, 1)


def train_many_to_one(
    layer: RNNLayer | LSTMLayer | GRULayer,
    source: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]],
    *,
    updates: int,
    learning_rate: float,
    loss: str,
    rng: np.random.Generator,
    progress: bool = False,
) -> list[float]:
    """``updates`` Adam updates, one per batch ``source(rng)``, read at the last step.

    Parameters
    ----------
    layer : a layer with an output head
    source : ``source(rng) -> (x, target)``, samples first: x (B, T, I), target (B, O) or (B,)
    updates : number of updates (0: none)
    learning_rate : Adam's step size
    loss : "mse" or "xent" (cross-entropy on integer labels)
    rng : the Generator handed to ``source``; advanced in place
    progress : show fit's progress line

    Returns
    -------
    list of float : the loss of every update
    """
    if loss not in LOSSES:
        raise ValueError(f"loss: expected one of {sorted(LOSSES)}, got {loss!r}")
    if updates == 0:
        return []
    history = fit(
        layer,
        source,
        updates=updates,
        loss=LOSSES[loss],
        optimizer=Adam(layer, lr=learning_rate),
        clip=GRADIENT_CLIP,
        seed=rng,
        targets="last",
        stall_epochs=0,  # the sweeps train cells that stall on purpose; no advice wanted
        progress=progress,
    )
    return [float(v) for v in history.step_loss]
