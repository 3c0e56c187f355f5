"""Learning-rate schedules: step decay, cosine annealing, reduce on plateau.

Each wraps an optimiser (anything with an ``lr`` attribute) and sets ``optimizer.lr`` when
stepped, once per epoch. The formulas and their recursive forms are PyTorch's
(``torch.optim.lr_scheduler``), so the same calls give the same learning rates::

    StepLR             lr(e) = lr(e-1) · gamma  when e is a multiple of step_size, else lr(e-1)
    CosineAnnealingLR  lr(e) = η_min + (lr_0 - η_min)(1 + cos(π e / T_max)) / 2
    ReduceLROnPlateau  lr ← max(lr · factor, min_lr) after more than ``patience`` epochs
                       without improving the monitored loss by a relative ``threshold``
"""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = ["CosineAnnealingLR", "ReduceLROnPlateau", "StepLR"]


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def _nonneg_real(name: str, value: Any, high: float | None = None) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value < 0 or (high is not None and value > high):
        limit = f"[0, {high}]" if high is not None else "[0, inf)"
        raise ValueError(f"{name}: expected a finite number in {limit}, got {value!r}")
    return float(value)


class _Schedule:
    def __init__(self, optimizer: Any) -> None:
        if not hasattr(optimizer, "lr"):
            raise TypeError(f"optimizer: expected an optimiser with lr, got {optimizer!r}")
        self.optimizer = optimizer
        self.base_lr = float(optimizer.lr)
        self.last_epoch = 0

    @property
    def lr(self) -> float:
        return self.optimizer.lr

    def state_dict(self) -> dict:
        """JSON-able state (everything but the optimiser)."""
        return {k: v for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state: dict) -> None:
        unknown = set(state) - set(vars(self))
        if unknown:
            raise ValueError(f"state: unknown keys {sorted(unknown)} for {type(self).__name__}")
        vars(self).update(state)


class StepLR(_Schedule):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer: Any, step_size: int, gamma: float = 0.1) -> None:
        super().__init__(optimizer)
        self.step_size = _positive_int("step_size", step_size)
        self.gamma = _nonneg_real("gamma", gamma)

    def step(self, metric: float | None = None) -> None:
        self.last_epoch += 1
        if self.last_epoch % self.step_size == 0:
            self.optimizer.lr = self.optimizer.lr * self.gamma


class CosineAnnealingLR(_Schedule):
    """Cosine from the initial rate down to ``eta_min`` over ``T_max`` epochs (then back up).

    Uses PyTorch's recursive form, so the rates agree with it to rounding.
    """

    def __init__(self, optimizer: Any, T_max: int, eta_min: float = 0.0) -> None:
        super().__init__(optimizer)
        self.T_max = _positive_int("T_max", T_max)
        self.eta_min = _nonneg_real("eta_min", eta_min)

    def step(self, metric: float | None = None) -> None:
        self.last_epoch += 1
        e, T, lr, lo = self.last_epoch, self.T_max, self.optimizer.lr, self.eta_min
        if (e - 1 - T) % (2 * T) == 0:
            # at the bottom of a period the recursive ratio would divide by zero
            new = lr + (self.base_lr - lo) * (1 - math.cos(math.pi / T)) / 2
        else:
            ratio = (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T))
            new = ratio * (lr - lo) + lo
        self.optimizer.lr = new


class ReduceLROnPlateau(_Schedule):
    """Cut the learning rate by ``factor`` when the monitored loss stops improving.

    Parameters follow ``torch.optim.lr_scheduler.ReduceLROnPlateau`` (mode "min", relative
    threshold): an epoch improves when ``loss < best · (1 - threshold)``; after more than
    ``patience`` epochs without improvement lr becomes ``max(lr · factor, min_lr)`` (changes
    smaller than ``eps`` are ignored) and ``cooldown`` epochs pass before counting again.
    """

    def __init__(
        self,
        optimizer: Any,
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
    ) -> None:
        super().__init__(optimizer)
        self.factor = _nonneg_real("factor", factor, high=1.0)
        if self.factor >= 1.0:
            raise ValueError(f"factor: expected a number below 1, got {factor}")
        # int | Integral tests what Integral alone does (int is one) but lets mypy see int.
        if (
            isinstance(patience, bool)
            or not isinstance(patience, int | numbers.Integral)
            or patience < 0
        ):
            raise ValueError(f"patience: expected a non-negative integer, got {patience!r}")
        if (
            isinstance(cooldown, bool)
            or not isinstance(cooldown, int | numbers.Integral)
            or cooldown < 0
        ):
            raise ValueError(f"cooldown: expected a non-negative integer, got {cooldown!r}")
        self.patience, self.cooldown = int(patience), int(cooldown)
        self.threshold = _nonneg_real("threshold", threshold)
        self.min_lr = _nonneg_real("min_lr", min_lr)
        self.eps = _nonneg_real("eps", eps)
        self.best = math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def step(self, metric: float | None = None) -> None:
        if metric is None:
            raise TypeError("metric: ReduceLROnPlateau.step needs the monitored loss")
        current = float(metric)
        self.last_epoch += 1
        if current < self.best * (1.0 - self.threshold):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            old = self.optimizer.lr
            new = max(old * self.factor, self.min_lr)
            if old - new > self.eps:
                self.optimizer.lr = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
