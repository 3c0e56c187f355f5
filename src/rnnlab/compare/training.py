"""How the comparison trains: one recurrent layer with its output head, through ``rnnlab.fit``.

The sweeps train many tiny models for a fixed number of updates, each on a freshly drawn batch
(or a batch drawn from a fixed training set): ``rnnlab.fit``'s batch-source form, with Adam (the
guide's optimiser), gradient clipping at the guide's 5.0, and the loss read at the last step
(many-to-one). There is no second training loop here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..apps._common import (
    CELL_NAMES,
    CELLS,
    GRADIENT_CLIP,
    fit_with_adam,
    hidden_for_budget,
    make_layer,
)
from ..layers import GRULayer, LSTMLayer, RNNLayer

__all__ = [
    "CELLS",
    "CELL_NAMES",
    "GRADIENT_CLIP",
    "final_loss",
    "hidden_for_budget",
    "make_layer",
    "train_many_to_one",
]

#: The losses of the comparison's tasks (fit's names).
LOSSES = ("mse", "cross_entropy")


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
    loss : "mse" or "cross_entropy" (on integer labels)
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
    history = fit_with_adam(
        layer,
        source,
        updates=updates,
        loss=loss,
        lr=learning_rate,
        seed=rng,
        targets="last",
        stall_epochs=0,  # the sweeps train cells that stall on purpose; no advice wanted
        progress=progress,
    )
    return [float(v) for v in history.step_loss]


def final_loss(history: list[float]) -> float | None:
    """The mean loss of the last tenth of the updates (None when there were none)."""
    return float(np.mean(history[-max(1, len(history) // 10) :])) if history else None
