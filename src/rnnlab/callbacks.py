"""What ``fit`` returns and calls back: :class:`History`, the callback hooks, checkpoints."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["History", "SaveCheckpoint", "collect_hooks"]


@dataclass
class History:
    """Per-epoch figures from :func:`fit` (``steps_per_s`` is wall-clock, the rest is exact)."""

    loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    grad_norm: list = field(default_factory=list)  # mean pre-clipping total norm
    grad_first_step: list = field(default_factory=list)  # mean |dL/dx(1)|
    grad_last_step: list = field(default_factory=list)  # mean |dL/dx(T)|
    lr: list = field(default_factory=list)  # the learning rate each epoch ran with
    steps_per_s: list = field(default_factory=list)
    val_step: list = field(default_factory=list)  # optimiser steps done at each validation
    step_loss: list = field(default_factory=list)  # every optimiser step's loss
    step_grad_norm: list = field(default_factory=list)  # every step's pre-clipping norm
    steps: int = 0
    stopped_early: bool = False
    best_epoch: int | None = None

    def as_dict(self) -> dict:
        return dict(vars(self))


class SaveCheckpoint:
    """Callback: :func:`rnnlab.save_checkpoint` after every ``every``-th epoch (atomic)."""

    def __init__(self, path, every=1):
        self.path, self.every = path, int(every)

    def on_epoch_end(self, epoch, logs):
        if (epoch + 1) % self.every == 0:
            from .io import save_checkpoint

            save_checkpoint(
                self.path,
                logs["model"],
                logs["optimizer"],
                step=logs["optimizer"].step_count,
                rng=logs["rng"],
                extra={"epoch": epoch + 1, "loss": logs["loss"]},
            )


def collect_hooks(callbacks):
    """Sort callbacks by hook; a bare callable is an epoch-end callback."""
    hooks = {"on_step_end": [], "on_epoch_end": [], "on_train_end": []}
    for cb in callbacks or ():
        found = False
        for hook, fns in hooks.items():
            if hasattr(cb, hook):
                fns.append(getattr(cb, hook))
                found = True
        if not found:
            if not callable(cb):
                raise TypeError(
                    f"callbacks: expected callables or objects with on_* methods, got {cb!r}"
                )
            hooks["on_epoch_end"].append(cb)
    return hooks
