"""``fit``: the training loop, with the guide's debugging advice as live diagnostics.

Data: samples along axis 0. ``X`` is (N, T, I) (or (N, T) token ids for a model that starts with
an embedding), ``Y`` is either per step, (N, T, O) or (N, T) integer labels, or per sequence,
(N, O) or (N,), compared with the model's output at the last step (many-to-one). ``fit`` hands
the model each batch time-major, (T, B, ...), unless the model has ``batch_first=True``.

Or a batch source: ``fit(model, source, updates=N)`` draws N batches, samples first, from a
callable ``source(rng)`` or an iterable, one optimiser update each (see :mod:`.train_source`).
Every argument is checked before the first step (:mod:`.train_checks`); the model is left in
eval mode.

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
    recurrent_cells,
)
from .evaluation import ModelIO, evaluation_pass
from .optim import Adam, clip_grad_norm, grad_norm
from .progress import EpochProgress
from .train_checks import (
    check_callbacks,
    check_clip,
    check_count,
    check_flag,
    check_model,
    check_optimizer,
    check_schedule,
    check_tbptt,
    check_validation,
    loss_fn,
    make_rng,
    optional_positive_int,
    positive_int,
    resolve_targets,
)
from .train_source import ArrayPlan, SourcePlan, make_plan

__all__ = ["History", "SaveCheckpoint", "TrainingDivergedError", "VanishingGradientWarning", "fit"]


class _Loop(ModelIO):
    """State of one ``fit`` call; one method per stage so each stays short."""

    def __init__(self, model, loss_fn, optimizer, clip, targets, tbptt):
        super().__init__(model, targets)
        self.loss_fn, self.optimizer = loss_fn, optimizer
        self.clip, self.tbptt = clip, tbptt
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
        out, pred, options = self.forward(xb, state, lengths)
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
        ``step_loss`` and ``step_grad_norm``. The model is left in eval mode (dropout and
        zoneout off), also when ``fit`` raises; ``model.train()`` turns training mode back on.

    Raises
    ------
    TrainingDivergedError : the loss or a gradient became NaN or inf.
    """
    check_model(model)
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
    if optimizer is None:
        optimizer = Adam(model, lr=1e-3)
    check_optimizer(model, optimizer)
    check_schedule(schedule, optimizer)
    clip = check_clip(clip)
    patience = optional_positive_int("early_stopping", early_stopping)
    stall_epochs = check_count("stall_epochs", stall_epochs, "0 turns the stall check off")
    hooks = collect_hooks(check_callbacks(callbacks))
    restore_best = check_flag("restore_best", restore_best)
    progress = check_flag("progress", progress)
    loop = _Loop(model, loss_fn(loss), optimizer, clip, resolved, tbptt)
    loop.requested_targets = targets
    run = _Run(plan, validation, batch_size, rng, progress, hooks)
    run.schedule, run.stall_epochs = schedule, stall_epochs
    run.early_stopping, run.restore_best = patience, restore_best
    run.cells = recurrent_cells(model)
    set_mode(model, True)
    try:
        for epoch in range(plan.epochs):
            loop.epoch = epoch
            _run_epoch(loop, run)
            if _end_of_epoch(loop, run):
                break
        if patience is not None and restore_best and run.best[1] is not None:
            for name, value in run.best[1].items():
                model.params[name][...] = value
    finally:
        set_mode(model, False)  # training is over: the model is left in eval mode
    for fn in run.hooks["on_train_end"]:
        fn(run.history)
    return run.history


class _Run:
    """What one ``fit`` call runs with, and what it has recorded so far."""

    def __init__(
        self,
        plan: ArrayPlan | SourcePlan,
        validation: tuple | None,
        batch_size: int,
        rng: np.random.Generator,
        progress: bool,
        hooks: dict,
    ) -> None:
        self.plan, self.validation, self.batch_size = plan, validation, batch_size
        self.rng, self.progress, self.hooks = rng, progress, hooks
        self.history = History()
        self.best: tuple[float, dict | None] = (math.inf, None)
        self.schedule: Any = None
        self.early_stopping: int | None = None
        self.stall_epochs, self.restore_best = 0, True
        self.cells: list[str] = []


def _end_of_epoch(loop: _Loop, run: _Run) -> bool:
    """Validation, diagnostics, schedule, early stopping, callbacks; True stops training."""
    history, epoch, optimizer = run.history, loop.epoch, loop.optimizer
    history.lr.append(optimizer.lr)
    monitored = history.val_loss[-1] if run.validation is not None else history.loss[-1]
    message = check_stall(history, run.stall_epochs, optimizer.lr, run.cells)
    if message is not None:
        warnings.warn(message, VanishingGradientWarning, stacklevel=3)
        run.stall_epochs = 0  # once per fit
    if run.schedule is not None:
        run.schedule.step(monitored)
    if run.early_stopping is not None and monitored < run.best[0]:
        params = {k: np.array(p, copy=True) for k, p in loop.model.params.items()}
        run.best = (monitored, params)
        history.best_epoch = epoch
    logs = {
        "loss": history.loss[-1],
        "val_loss": history.val_loss[-1] if run.validation is not None else None,
        "grad_norm": history.grad_norm[-1],
        "lr": optimizer.lr,
        "step": loop.step,
        "model": loop.model,
        "optimizer": optimizer,
        "rng": run.rng,
        "history": history,
    }
    stop = any([bool(fn(epoch, logs)) for fn in run.hooks["on_epoch_end"]])
    patience = run.early_stopping
    if patience is not None and epoch - (history.best_epoch or 0) >= patience:
        history.stopped_early = True
        stop = True
    return stop


def _run_epoch(loop: _Loop, run: _Run) -> None:
    """One epoch: its batches, then validation; the history and the progress line get both."""
    plan, history = run.plan, run.history
    totals: dict[str, float] = dict.fromkeys(
        ("loss", "weight", "norm", "first", "last", "count"), 0.0
    )
    measured = True
    began = time.perf_counter()
    shown = EpochProgress(plan.num_batches(loop.epoch), plan.describe(loop.epoch), run.progress)
    try:
        for X, Y, lengths in plan.batches(loop.epoch, run.rng):
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
                for fn in run.hooks["on_step_end"]:
                    fn(loop.step, {"loss": loss_value, "grad_norm": norm})
            rate = totals["count"] / max(time.perf_counter() - began, 1e-9)
            shown.step(loss=f"{loss_value:.4g}", grad_norm=f"{norm:.3g}", steps_per_s=f"{rate:.1f}")
        count = int(totals["count"])
        history.loss.append(totals["loss"] / totals["weight"])
        history.grad_norm.append(totals["norm"] / count)
        history.grad_first_step.append(totals["first"] / count if measured else None)
        history.grad_last_step.append(totals["last"] / count if measured else None)
        history.steps_per_s.append(count / max(time.perf_counter() - began, 1e-9))
        history.steps += count
        figures = {"loss": f"{history.loss[-1]:.4g}"}
        if run.validation is not None:
            scores = evaluation_pass(loop, loop.loss_fn, run.validation, run.batch_size)
            history.val_loss.append(scores["loss"])
            history.val_step.append(loop.step)
            figures["val_loss"] = f"{scores['loss']:.4g}"
    except BaseException:
        shown.abandon()
        raise
    figures["grad_norm"] = f"{history.grad_norm[-1]:.3g}"
    figures["steps_per_s"] = f"{history.steps_per_s[-1]:.1f}"
    shown.close(**figures)
