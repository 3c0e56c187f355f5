"""The guide's debugging advice as checks that run during training.

The guide::

    if (loss == NaN)          → exploding gradients: reduce the learning rate, add gradient clipping
    if (loss not decreasing)  → vanishing gradients: try LSTM/GRU, increase hidden size,
                                check the learning rate

:func:`rnnlab.fit` raises :class:`TrainingDivergedError` for the first and warns with
:class:`VanishingGradientWarning` for the second, reporting what it measured: the step and the
gradient norm; the gradient norm that reached the first time step against the last.
"""

from __future__ import annotations

import math

__all__ = ["TrainingDivergedError", "VanishingGradientWarning", "check_stall", "diverged_message"]

_STALL_IMPROVEMENT = 0.01  # "not decreasing": best of the recent epochs within 1% of before
_STALL_FRACTION = 0.5  # "early": the loss is still above half of the first epoch's


class TrainingDivergedError(FloatingPointError):
    """The loss or the gradients became NaN or inf; attributes ``step``, ``epoch``,
    ``loss``, ``grad_norm``."""

    def __init__(self, message, *, step, epoch, loss, grad_norm):
        super().__init__(message)
        self.step, self.epoch, self.loss, self.grad_norm = step, epoch, loss, grad_norm


class VanishingGradientWarning(RuntimeWarning):
    """The training loss stopped decreasing early; the message reports the gradient norm that
    reached the first time step against the last."""


def diverged_message(step, epoch, what, loss_value, norm, when):
    return (
        f"training diverged at step {step} (epoch {epoch + 1}): {what}; loss = {loss_value!r}, "
        f"gradient norm = {norm:.4g} (before clipping, {when}). Exploding gradients: reduce the "
        "learning rate and add gradient clipping (fit(clip=...)) or lower its threshold. The "
        "parameters keep their last finite values and no saved file was touched."
    )


def check_stall(history, stall_epochs, lr):
    """The guide's "loss not decreasing" check; returns a warning message or None."""
    loss = history.loss
    if not stall_epochs or len(loss) <= stall_epochs:
        return None
    before = min(loss[:-stall_epochs])
    recent = min(loss[-stall_epochs:])
    if recent < before * (1 - _STALL_IMPROVEMENT) or loss[-1] <= _STALL_FRACTION * loss[0]:
        return None
    first, last = history.grad_first_step[-1], history.grad_last_step[-1]
    if first is None:
        measured = "the input gradient was not measured (the model's backward returned no dx)"
    else:
        ratio = first / last if last > 0 else math.inf
        measured = (
            f"gradient norm reaching the first time step |dL/dx(1)| = {first:.3g}, "
            f"at the last step |dL/dx(T)| = {last:.3g} (ratio {ratio:.3g})"
        )
    return (
        f"training loss stopped decreasing early: {loss[-1]:.4g} after {len(loss)} epochs "
        f"(first epoch {loss[0]:.4g}, no 1% improvement in the last {stall_epochs}); {measured}. "
        "A tiny ratio means vanishing gradients: try an LSTM or GRU instead of a vanilla RNN, "
        f"increase hidden_size, and check the learning rate (lr = {lr:.3g})."
    )
