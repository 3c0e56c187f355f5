"""``fit``: the training loop, with the guide's debugging advice as live diagnostics.

Data: samples along axis 0. ``X`` is (N, T, I) (or (N, T) token ids for a model that starts with
an embedding), ``Y`` is either per step, (N, T, O) or (N, T) integer labels, or per sequence,
(N, O) or (N,), compared with the model's output at the last step (many-to-one). ``fit`` hands
the model each batch time-major, (T, B, ...), unless the model has ``batch_first=True``.

One step: forward, loss and its gradient, ``zero_grad``, backward, gradient norm and clipping,
optimiser update. Before the update the loss, the loss gradient and the gradient norm are checked:
anything non-finite raises :class:`TrainingDivergedError`, leaving the parameters at their last
finite values and every file written so far untouched.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .callbacks import History, SaveCheckpoint, collect_hooks
from .diagnostics import (
    TrainingDivergedError,
    VanishingGradientWarning,
    check_stall,
    diverged_message,
)
from .optim import Adam, clip_grad_norm, grad_norm
from .train_checks import (
    check_tbptt,
    check_validation,
    loss_fn,
    make_rng,
    positive_int,
    resolve_targets,
)
from .train_source import ArrayPlan, make_plan

__all__ = ["History", "SaveCheckpoint", "TrainingDivergedError", "VanishingGradientWarning", "fit"]


class _Loop:
    """State of one ``fit`` call; one method per stage so each stays short."""

    def __init__(self, model, loss_fn, optimizer, clip, targets, tbptt, batch_first):
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.clip, self.targets, self.tbptt = clip, targets, tbptt
        self.time_axis = 1 if batch_first else 0
        self.step = 0
        self.epoch = 0
        self.last_norm = float("nan")
        self.requested_targets = "auto"

    def resolve(self, X, Y, lengths):
        """Per-step or per-sequence targets: fixed by the first batch of a batch source, and
        every later batch must agree."""
        if self.targets is None:
            self.targets = resolve_targets(self.requested_targets, X, Y, self.tbptt)
        elif self.targets == "steps" and (Y.ndim < 2 or Y.shape[1] != X.shape[1]):
            raise ValueError(
                f"Y: per-step targets (fixed by the first batch) need shape (N, {X.shape[1]}, "
                f"...), got {Y.shape}"
            )
        if self.tbptt is not None and lengths is not None:
            raise ValueError("tbptt: not supported together with lengths (padded batches)")

    def to_model(self, a, per_step=True):
        """Samples-first batch -> the model's layout."""
        if self.time_axis == 1 or not per_step:
            return a
        return np.ascontiguousarray(np.swapaxes(a, 0, 1))

    def last_index(self, out, lengths):
        """Index of each sequence's last valid output: step -1, or lengths - 1 when padded."""
        if lengths is None:
            return (-1,) if self.time_axis == 0 else (slice(None), -1)
        rows, steps = np.arange(len(lengths)), np.asarray(lengths) - 1
        return (steps, rows) if self.time_axis == 0 else (rows, steps)

    def predict(self, xb, state=None, lengths=None):
        """Forward; returns (output, what the loss sees, loss keyword arguments)."""
        options = {} if lengths is None else {"lengths": lengths}
        if state is None:
            out = self.model.forward(xb, **options)
        else:
            out = self.model.forward(xb, state, **options)
        if self.targets == "last":
            return out, out[self.last_index(out, lengths)], {}
        if lengths is None:
            return out, out, {}
        # per-step targets of a padded batch: only the valid steps count (mean over them)
        num_steps = out.shape[self.time_axis]
        valid = np.arange(num_steps)[:, None] < np.asarray(lengths)[None, :]  # (T, B)
        return out, out, {"mask": valid if self.time_axis == 0 else valid.T}

    def diverged(self, what, loss_value, norm, when="this step"):
        raise TrainingDivergedError(
            diverged_message(self.step, self.epoch, what, loss_value, norm, when),
            step=self.step,
            epoch=self.epoch,
            loss=loss_value,
            grad_norm=norm,
        )

    def train_step(self, xb, yb, state=None, lengths=None):
        """One optimiser step; returns (loss, grad norm, dx step norms or None)."""
        self.step += 1
        # overflow is reported once, as TrainingDivergedError, not as NumPy warnings on the way
        with np.errstate(over="ignore", invalid="ignore"):
            return self._train_step(xb, yb, state, lengths)

    def _train_step(self, xb, yb, state, lengths):
        out, pred, options = self.predict(xb, state, lengths)
        loss_value, dpred = self.loss_fn(pred, yb, **options)
        if not math.isfinite(loss_value) or not np.isfinite(dpred).all():
            self.diverged(
                "the loss or its gradient is not finite",
                loss_value,
                self.last_norm,
                "previous step",
            )
        if self.targets == "last":
            dy = np.zeros_like(out)
            dy[self.last_index(out, lengths)] = dpred
        else:
            dy = dpred
        self.model.zero_grad()
        dx = self.model.backward(dy)
        norm = clip_grad_norm(self.model, self.clip) if self.clip else grad_norm(self.model)
        self.last_norm = norm
        if not math.isfinite(norm):
            self.diverged("a gradient is not finite", loss_value, norm)
        self.optimizer.step()
        return loss_value, norm, self.step_norms(dx, lengths)

    def step_norms(self, dx, lengths=None):
        """(|dL/dx(1)|, |dL/dx(T)|): how much gradient reaches the first and last valid inputs."""
        if not isinstance(dx, np.ndarray) or dx.ndim < 2 or dx.dtype.kind != "f":
            return None
        first = np.take(dx, 0, axis=self.time_axis)
        last = dx[self.last_index(dx, lengths)]
        return float(np.sqrt(np.sum(first * first))), float(np.sqrt(np.sum(last * last)))

    def train_batch(self, xb, yb, lengths=None):
        """A batch, whole or in tbptt chunks; returns a list of (loss, norm, step norms, n)."""
        if self.tbptt is None:
            return [(*self.train_step(xb, yb, None, lengths), 1)]
        num_steps = xb.shape[self.time_axis]
        results, state = [], None
        for start in range(0, num_steps, self.tbptt):
            chunk = slice(start, min(start + self.tbptt, num_steps))
            index = (chunk,) if self.time_axis == 0 else (slice(None), chunk)
            result = self.train_step(xb[index], yb[index], state)
            # the final state starts the next chunk, but no gradient flows back across the cut
            final = self.model.final_state
            state = tuple(s.copy() for s in final) if isinstance(final, tuple) else final.copy()
            results.append((*result, chunk.stop - chunk.start))
        return results

    def evaluate(self, X, Y, lengths, batch_size):
        """Mean loss over (X, Y) in eval mode, batches weighted by their size."""
        set_mode(self.model, False)
        try:
            total = 0.0
            for s in range(0, len(X), batch_size):
                xb = self.to_model(X[s : s + batch_size])
                yb = self.to_model(Y[s : s + batch_size], self.targets == "steps")
                lb = None if lengths is None else lengths[s : s + batch_size]
                _, pred, options = self.predict(xb, None, lb)
                total += self.loss_fn(pred, yb, **options)[0] * len(X[s : s + batch_size])
        finally:
            set_mode(self.model, True)
        return total / len(X)


def set_mode(model: Any, training: bool) -> None:
    """``model.train()`` or ``model.eval()``, for models that have modes."""
    if training and hasattr(model, "train"):
        model.train()
    elif not training and hasattr(model, "eval"):
        model.eval()


def fit(
    model: Any,
    X: Any,
    Y: Any = None,
    *,
    updates: int | None = None,
    validate_every: int | None = None,
    loss: str | Callable[..., tuple[float, Any]] = "mse",
    optimizer: Any = None,
    epochs: int | None = None,
    batch_size: int = 32,
    clip: float | None = 5.0,
    validation: tuple | None = None,
    seed: int | np.random.Generator | None = None,
    callbacks: Sequence[Any] = (),
    early_stopping: int | None = None,
    restore_best: bool = True,
    schedule: Any = None,
    tbptt: int | None = None,
    lengths: Any = None,
    targets: str = "auto",
    shuffle: bool = True,
    stall_epochs: int = 3,
    progress: bool = True,
) -> History:
    """Train ``model`` with mini-batches; returns a :class:`History`.

    Two forms: fixed arrays, ``fit(model, X, Y, epochs=10)``, shuffled into mini-batches each
    epoch; or a batch source, ``fit(model, source, updates=N)``, one optimiser update per batch
    it yields (fresh data every update, as the comparison sweeps train).

    Parameters
    ----------
    model : module with forward, backward, params, grads, zero_grad (a layer or a Sequential).
    X : array (N, T, I) or (N, T) token ids, samples first; or a batch source: a callable
        ``source(rng) -> batch`` (called once per update with fit's numpy Generator) or an
        iterable of batches. A batch is ``(X, Y)`` or ``(X, Y, lengths)``, samples first.
    Y : per-step targets (N, T, O) / labels (N, T), or per-sequence (N, O) / (N,) (last step);
        None with a batch source.
    updates : with a batch source, the number of batches (updates) to train on; an iterable
        with a ``len()`` defaults to all of it.
    validate_every : with a batch source, updates per "epoch": validation, schedule, early
        stopping, the stall check, epoch callbacks and the progress line run after each
        (default ``max(1, updates // 10)``).
    loss : "mse", "cross_entropy" or a callable ``(prediction, target) -> (loss, dprediction)``.
    optimizer : an :mod:`rnnlab.optim` optimiser bound to ``model``; default Adam(lr=1e-3).
    epochs, batch_size : passes over the arrays (default 10); sequences per step (the guide: 32;
        with a batch source, only the validation batches).
    clip : max total gradient norm (the guide: 5.0); None or 0 disables clipping.
    validation : None, (X_val, Y_val) or (X_val, Y_val, lengths_val), evaluated in eval mode
        after each epoch.
    seed : int, numpy Generator or None; drives the shuffling, or is handed to a callable
        source. A Generator is advanced in place, so passing the same one to a later ``fit``
        continues the same random stream.
    callbacks : a list of callables ``f(epoch, logs)`` (called after each epoch) or objects with
        any of ``on_step_end(step, logs)``, ``on_epoch_end(epoch, logs)``,
        ``on_train_end(history)``; an epoch callback returning True stops training.
    early_stopping : None or patience (epochs without improvement of the validation loss, or the
        training loss without validation); with ``restore_best`` the best epoch's weights are put
        back at the end.
    schedule : a schedule from :mod:`rnnlab.schedules`, stepped after each epoch (with the
        monitored loss).
    tbptt : None or a chunk length: truncated BPTT, the final state of a chunk starts the next
        one, no gradient crosses the boundary (one optimiser step per chunk).
    lengths : None or ints (N,) in 1..T: padded sequences, given to ``model.forward(x,
        lengths=...)``. Per-step losses count valid steps only (the mean over them);
        per-sequence targets are compared with each sequence's last valid output.
    targets : "auto" (per-step when ``Y.shape[1] == T``), "steps" or "last".
    shuffle : reshuffle the arrays every epoch (arrays only).
    stall_epochs : epochs without 1% improvement that trigger :class:`VanishingGradientWarning`
        while the loss is above half its first value (0 disables).
    progress : show the loss, validation loss, gradient norm and steps/s each epoch.

    Returns
    -------
    History : per epoch ``loss``, ``val_loss``, ``grad_norm``...; per optimiser step
        ``step_loss`` and ``step_grad_norm``.

    Raises
    ------
    TrainingDivergedError : the loss or a gradient became NaN or inf.
    """
    plan = make_plan(
        X,
        Y,
        updates=updates,
        validate_every=validate_every,
        epochs=epochs,
        batch_size=positive_int("batch_size", batch_size),
        lengths=lengths,
        shuffle=shuffle,
    )
    validation = check_validation(validation)
    if not isinstance(plan, ArrayPlan):
        if targets not in ("auto", "steps", "last"):
            raise ValueError(f"targets: expected 'auto', 'steps' or 'last', got {targets!r}")
        tbptt = check_tbptt(model, tbptt, has_lengths=False)
        resolved = None  # from the first batch
    else:
        tbptt = check_tbptt(model, tbptt, has_lengths=plan.lengths is not None)
        resolved = resolve_targets(targets, plan.X, plan.Y, tbptt)
    rng = make_rng(seed)
    optimizer = Adam(model, lr=1e-3) if optimizer is None else optimizer
    loop = _Loop(
        model,
        loss_fn(loss),
        optimizer,
        clip,
        resolved,
        tbptt,
        bool(getattr(model, "batch_first", False)),
    )
    loop.requested_targets = targets
    hooks = collect_hooks(callbacks)
    history = History()
    best: tuple[float, dict | None] = (math.inf, None)
    set_mode(model, True)
    for epoch in range(plan.epochs):
        loop.epoch = epoch
        _run_epoch(loop, plan, batch_size, rng, progress, history, hooks)
        if validation is not None:
            history.val_loss.append(loop.evaluate(*validation, batch_size))
            history.val_step.append(loop.step)
        history.lr.append(optimizer.lr)
        monitored = history.val_loss[-1] if validation is not None else history.loss[-1]
        message = check_stall(history, stall_epochs, optimizer.lr)
        if message is not None:
            warnings.warn(message, VanishingGradientWarning, stacklevel=2)
            stall_epochs = 0  # once per fit
        if schedule is not None:
            schedule.step(monitored)
        if early_stopping is not None and monitored < best[0]:
            best = (monitored, {k: np.array(p, copy=True) for k, p in model.params.items()})
            history.best_epoch = epoch
        logs = {
            "loss": history.loss[-1],
            "val_loss": history.val_loss[-1] if validation else None,
            "grad_norm": history.grad_norm[-1],
            "lr": optimizer.lr,
            "step": loop.step,
            "model": model,
            "optimizer": optimizer,
            "rng": rng,
            "history": history,
        }
        stop = any([bool(fn(epoch, logs)) for fn in hooks["on_epoch_end"]])
        if early_stopping is not None and epoch - (history.best_epoch or 0) >= early_stopping:
            history.stopped_early = True
            stop = True
        if stop:
            break
    if early_stopping is not None and restore_best and best[1] is not None:
        for name, value in best[1].items():
            model.params[name][...] = value
    for fn in hooks["on_train_end"]:
        fn(history)
    return history


def _run_epoch(loop, plan, batch_size, rng, progress, history, hooks):
    from tqdm.auto import tqdm  # type: ignore[import-untyped]

    totals = {"loss": 0.0, "weight": 0, "norm": 0.0, "first": 0.0, "last": 0.0, "count": 0}
    measured = True
    began, steps_before = time.perf_counter(), loop.step
    bar = tqdm(
        total=plan.num_batches(loop.epoch),
        desc=plan.describe(loop.epoch),
        unit="batch",
        disable=not progress,
        leave=True,
    )
    try:
        for X, Y, lengths in plan.batches(loop.epoch, rng):
            loop.resolve(X, Y, lengths)
            xb = loop.to_model(X)
            yb = loop.to_model(Y, loop.targets == "steps")
            for loss_value, norm, norms, steps in loop.train_batch(xb, yb, lengths):
                weight = len(X) * steps
                totals["loss"] += loss_value * weight
                totals["weight"] += weight
                totals["norm"] += norm
                totals["count"] += 1
                history.step_loss.append(loss_value)
                history.step_grad_norm.append(norm)
                if norms is None:
                    measured = False
                else:
                    totals["first"] += norms[0]
                    totals["last"] += norms[1]
                for fn in hooks["on_step_end"]:
                    fn(loop.step, {"loss": loss_value, "grad_norm": norm})
            rate = (loop.step - steps_before) / max(time.perf_counter() - began, 1e-9)
            bar.set_postfix(
                loss=f"{loss_value:.4g}",
                grad_norm=f"{norm:.3g}",
                steps_per_s=f"{rate:.1f}",
                refresh=False,
            )
            bar.update(1)
    finally:
        bar.close()
    count = totals["count"]
    history.loss.append(totals["loss"] / totals["weight"])
    history.grad_norm.append(totals["norm"] / count)
    history.grad_first_step.append(totals["first"] / count if measured else None)
    history.grad_last_step.append(totals["last"] / count if measured else None)
    history.steps_per_s.append(count / max(time.perf_counter() - began, 1e-9))
    history.steps += count
