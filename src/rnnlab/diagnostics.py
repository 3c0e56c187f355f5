"""The guide's debugging advice as checks that run during training.

The guide::

    if (loss == NaN)          → exploding gradients: reduce the learning rate, add gradient clipping
    if (loss not decreasing)  → vanishing gradients: try LSTM/GRU, increase hidden size,
                                check the learning rate

:func:`rnnlab.fit` raises :class:`TrainingDivergedError` for the first and warns with
:class:`VanishingGradientWarning` for the second. Advice that is wrong teaches users to ignore
it, so the warning says what it measured (the loss over how many epochs and steps; the gradient
norm reaching the first time step against the last) and which cells it watched, and gives each
its own advice: "try an LSTM or GRU" only to a vanilla RNN whose gradient did vanish; a plateau
whose gradient does reach the early steps is not called vanishing at all.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "VANISHING_RATIO",
    "TrainingDivergedError",
    "VanishingGradientWarning",
    "check_stall",
    "diverged_message",
    "recurrent_cells",
]

_STALL_IMPROVEMENT = 0.01  # "not decreasing": best of the recent epochs within 1% of before
_STALL_FRACTION = 0.5  # "early": the loss is still above half of the first epoch's
#: |dL/dx(1)| / |dL/dx(T)| below this: less than a thousandth of the gradient at the last step
#: reaches the first one, what "vanishing" means here.
VANISHING_RATIO = 1e-3
_NAMES = {"rnn": "vanilla RNN", "lstm": "LSTM", "gru": "GRU"}


class TrainingDivergedError(FloatingPointError):
    """The loss or the gradients became NaN or inf; attributes ``step``, ``epoch``,
    ``loss``, ``grad_norm``."""

    def __init__(
        self, message: str, *, step: int, epoch: int, loss: float, grad_norm: float
    ) -> None:
        super().__init__(message)
        self.step, self.epoch, self.loss, self.grad_norm = step, epoch, loss, grad_norm


class VanishingGradientWarning(RuntimeWarning):
    """The training loss stopped decreasing early; the message reports what was measured (the
    loss trend, the gradient reaching the first time step against the last, the cells) and the
    advice that fits it."""


def diverged_message(
    step: int, epoch: int, what: str, loss_value: float, norm: float, when: str
) -> str:
    return (
        f"training diverged at step {step} (epoch {epoch + 1}): {what}; loss = {loss_value!r}, "
        f"gradient norm = {norm:.4g} (before clipping, {when}). Exploding gradients: reduce the "
        "learning rate and add gradient clipping (fit(clip=...)) or lower its threshold. The "
        "parameters keep their last finite values and no saved file was touched."
    )


def recurrent_cells(model: Any) -> list[str]:
    """The recurrent cells inside ``model`` ("rnn", "lstm", "gru"), in order, each once."""
    found: list[str] = []
    stack, seen = [model], set()
    while stack:
        module = stack.pop(0)
        if id(module) in seen:
            continue
        seen.add(id(module))
        cell = getattr(type(module), "cell", None)
        if isinstance(cell, str) and cell in _NAMES and cell not in found:
            found.append(cell)
        children = getattr(module, "children", None)
        if callable(children):  # depth first: the cells in the order data meets them
            stack[:0] = [child for _, child in children()]
    return found


def _measured(history: Any) -> tuple[str, float | None]:
    """What the last epoch measured of the gradient through time, and the ratio (or None)."""
    first, last = history.grad_first_step[-1], history.grad_last_step[-1]
    if first is None:
        return "the input gradient was not measured (the model's backward returned no dx)", None
    ratio = first / last if last > 0 else math.inf
    return (
        f"gradient norm reaching the first time step |dL/dx(1)| = {first:.3g}, at the last step "
        f"|dL/dx(T)| = {last:.3g} (ratio {ratio:.3g}, mean over the last epoch's steps)"
    ), ratio


def _advice(cells: list[str], ratio: float | None, lr: float) -> str:
    watched = ", ".join(_NAMES[c] for c in cells) if cells else "no recurrent layer found"
    check_lr = f"check the learning rate (lr = {lr:.3g})"
    if ratio is not None and ratio >= VANISHING_RATIO:
        return (
            f"Cells watched: {watched}. The gradient does reach the first time step (ratio >= "
            f"{VANISHING_RATIO:g}), so this is not the vanishing-gradient case: the loss may be "
            "at what these inputs can predict (noisy or random targets, missing information), "
            f"the model may be too small (hidden_size), or {check_lr}."
        )
    if ratio is None:
        lead = f"Cells watched: {watched}. Whether gradients vanish was not measured; "
    else:
        lead = (
            f"Cells watched: {watched}. A ratio below {VANISHING_RATIO:g} means vanishing "
            "gradients: the early steps barely affect the loss; "
        )
    tips = []
    if "rnn" in cells:
        tips.append("try an LSTM or GRU instead of a vanilla RNN")
    # a gated cell carries gradient back through its gates: the gate that keeps the state is
    # the one to look at (the forget gate f of an LSTM, the update gate z of the guide's GRU,
    # h = z h_prev + (1 - z) h~)
    if "lstm" in cells:
        tips.append("check the LSTM's forget gate: start it open (forget_bias=1.0)")
    if "gru" in cells:
        tips.append("check the GRU's update gate: a positive bias b_z keeps more of the state")
    tips += ["increase hidden_size", check_lr]
    return lead + ", ".join(tips) + "."


def check_stall(
    history: Any, stall_epochs: int, lr: float, cells: list[str] | None = None
) -> str | None:
    """The guide's "loss not decreasing" check; returns a warning message or None.

    Parameters
    ----------
    history : the :class:`History` so far (per-epoch ``loss``, ``grad_first_step``...).
    stall_epochs : the epochs without 1% improvement that count as a stall (0: never).
    lr : the learning rate, reported.
    cells : the recurrent cells in the model (:func:`recurrent_cells`); the advice depends on
        them.
    """
    loss = history.loss
    if not stall_epochs or len(loss) <= stall_epochs:
        return None
    before = min(loss[:-stall_epochs])
    recent = min(loss[-stall_epochs:])
    if recent < before * (1 - _STALL_IMPROVEMENT) or loss[-1] <= _STALL_FRACTION * loss[0]:
        return None
    measured, ratio = _measured(history)
    return (
        f"training loss stopped decreasing early: {loss[-1]:.4g} after {len(loss)} epochs "
        f"({history.steps} optimiser steps; first epoch {loss[0]:.4g}, no 1% improvement in the "
        f"last {stall_epochs}: best {recent:.4g} against {before:.4g} before); {measured}. "
        + _advice(list(cells or []), ratio, lr)
    )
