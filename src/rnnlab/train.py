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
import numbers
import time
import warnings

import numpy as np

from . import losses
from .callbacks import History, SaveCheckpoint, collect_hooks
from .diagnostics import (
    TrainingDivergedError,
    VanishingGradientWarning,
    check_stall,
    diverged_message,
)
from .optim import Adam, clip_grad_norm, grad_norm

__all__ = ["History", "SaveCheckpoint", "TrainingDivergedError", "VanishingGradientWarning", "fit"]


def _make_rng(seed):
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, numbers.Integral) and not isinstance(seed, bool)):
        return np.random.default_rng(seed)
    raise TypeError(f"seed: expected None, an integer or a numpy Generator, got {seed!r}")


def _loss_fn(loss):
    if loss == "mse":
        return losses.mse
    if loss == "cross_entropy":
        return losses.cross_entropy
    if callable(loss):
        return loss
    raise ValueError(f"loss: expected 'mse', 'cross_entropy' or a callable, got {loss!r}")


def _check_data(X, Y, name="X"):
    X, Y = np.asarray(X), np.asarray(Y)
    if X.ndim < 2:
        raise ValueError(f"{name}: expected (N, T, ...) with samples first, got shape {X.shape}")
    if Y.ndim < 1 or len(Y) != len(X):
        raise ValueError(
            f"{'Y' if name == 'X' else name + '_Y'}: expected {len(X)} samples (len of {name}) "
            f"along axis 0, got shape {Y.shape}"
        )
    if len(X) == 0:
        raise ValueError(f"{name}: expected at least one sample, got shape {X.shape}")
    return X, Y


def _check_lengths(name, lengths, X):
    if lengths is None:
        return None
    L = np.asarray(lengths)
    if L.dtype.kind not in "iu" or L.shape != (len(X),):
        raise ValueError(
            f"{name}: expected {len(X)} integers (one per sample), got {L.dtype} {L.shape}"
        )
    if L.size and (L.min() < 1 or L.max() > X.shape[1]):
        raise ValueError(
            f"{name}: expected values in 1..{X.shape[1]} (T), got {L.min()}..{L.max()}"
        )
    return L.astype(np.int64)


def _check_validation(validation):
    if validation is None:
        return None
    if not isinstance(validation, tuple | list) or len(validation) not in (2, 3):
        raise TypeError("validation: expected None, (X_val, Y_val) or (X_val, Y_val, lengths_val)")
    Xv, Yv = _check_data(validation[0], validation[1], name="validation X")
    lengths = validation[2] if len(validation) == 3 else None
    return Xv, Yv, _check_lengths("validation lengths", lengths, Xv)


def _check_counts(model, epochs, batch_size, tbptt, lengths):
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
            raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    if tbptt is None:
        return
    if isinstance(tbptt, bool) or not isinstance(tbptt, numbers.Integral) or tbptt <= 0:
        raise ValueError(f"tbptt: expected None or a positive integer, got {tbptt!r}")
    if not hasattr(type(model), "final_state"):
        raise TypeError(f"tbptt: {type(model).__name__} has no final_state to carry over")
    if lengths is not None:
        raise ValueError("tbptt: not supported together with lengths (padded batches)")


def _resolve_targets(targets, X, Y, tbptt):
    if targets == "auto":
        targets = "steps" if Y.ndim >= 2 and Y.shape[1] == X.shape[1] else "last"
    if targets not in ("steps", "last"):
        raise ValueError(f"targets: expected 'auto', 'steps' or 'last', got {targets!r}")
    if targets == "steps" and (Y.ndim < 2 or Y.shape[1] != X.shape[1]):
        raise ValueError(f"Y: per-step targets need shape (N, {X.shape[1]}, ...), got {Y.shape}")
    if tbptt is not None and targets != "steps":
        raise ValueError("tbptt: truncated BPTT needs per-step targets Y (N, T, ...)")
    return targets


class _Loop:
    """State of one ``fit`` call; one method per stage so each stays short."""

    def __init__(self, model, loss_fn, optimizer, clip, targets, tbptt, batch_first):
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.clip, self.targets, self.tbptt = clip, targets, tbptt
        self.time_axis = 1 if batch_first else 0
        self.step = 0
        self.epoch = 0
        self.last_norm = float("nan")

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


def set_mode(model, training):
    if training and hasattr(model, "train"):
        model.train()
    elif not training and hasattr(model, "eval"):
        model.eval()


def fit(
    model,
    X,
    Y,
    *,
    loss="mse",
    optimizer=None,
    epochs=10,
    batch_size=32,
    clip=5.0,
    validation=None,
    seed=None,
    callbacks=(),
    early_stopping=None,
    restore_best=True,
    schedule=None,
    tbptt=None,
    lengths=None,
    targets="auto",
    shuffle=True,
    stall_epochs=3,
    progress=True,
):
    """Train ``model`` on (X, Y) with mini-batches; returns a :class:`History`.

    Parameters
    ----------
    model : module with forward, backward, params, grads, zero_grad (a layer or a Sequential).
    X : array (N, T, I) or (N, T) token ids, samples first.
    Y : per-step targets (N, T, O) / labels (N, T), or per-sequence (N, O) / (N,) (last step).
    loss : "mse", "cross_entropy" or a callable ``(prediction, target) -> (loss, dprediction)``.
    optimizer : an :mod:`rnnlab.optim` optimiser bound to ``model``; default Adam(lr=1e-3).
    epochs, batch_size : passes over the data; sequences per step (the guide: 32).
    clip : max total gradient norm (the guide: 5.0); None or 0 disables clipping.
    validation : None, (X_val, Y_val) or (X_val, Y_val, lengths_val), evaluated in eval mode
        after each epoch.
    seed : int, numpy Generator or None; drives the shuffling. A Generator is advanced in place,
        so passing the same one to a later ``fit`` continues the same random stream.
    callbacks : callables ``f(epoch, logs)`` (called after each epoch) or objects with any of
        ``on_step_end(step, logs)``, ``on_epoch_end(epoch, logs)``, ``on_train_end(history)``;
        an epoch callback returning True stops training.
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
    stall_epochs : epochs without 1% improvement that trigger :class:`VanishingGradientWarning`
        while the loss is above half its first value (0 disables).
    progress : show a tqdm bar (loss, gradient norm, steps/s).

    Raises
    ------
    TrainingDivergedError : the loss or a gradient became NaN or inf.
    """
    X, Y = _check_data(X, Y)
    lengths = _check_lengths("lengths", lengths, X)
    validation = _check_validation(validation)
    _check_counts(model, epochs, batch_size, tbptt, lengths)
    targets = _resolve_targets(targets, X, Y, tbptt)
    rng = _make_rng(seed)
    optimizer = Adam(model, lr=1e-3) if optimizer is None else optimizer
    loop = _Loop(
        model,
        _loss_fn(loss),
        optimizer,
        clip,
        targets,
        tbptt,
        bool(getattr(model, "batch_first", False)),
    )
    hooks = collect_hooks(callbacks)
    history, best = History(), (math.inf, None)
    set_mode(model, True)
    for epoch in range(epochs):
        loop.epoch = epoch
        _run_epoch(
            loop, (X, Y, lengths), batch_size, rng, shuffle, progress, epochs, history, hooks
        )
        if validation is not None:
            history.val_loss.append(loop.evaluate(*validation, batch_size))
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
        if early_stopping is not None and epoch - history.best_epoch >= early_stopping:
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


def _run_epoch(loop, data, batch_size, rng, shuffle, progress, epochs, history, hooks):
    from tqdm.auto import tqdm

    X, Y, lengths = data
    order = rng.permutation(len(X)) if shuffle else np.arange(len(X))
    starts = range(0, len(X), batch_size)
    totals = {"loss": 0.0, "weight": 0, "norm": 0.0, "first": 0.0, "last": 0.0, "count": 0}
    measured = True
    began, steps_before = time.perf_counter(), loop.step
    bar = tqdm(
        total=len(starts),
        desc=f"epoch {loop.epoch + 1}/{epochs}",
        unit="batch",
        disable=not progress,
        leave=True,
    )
    try:
        for s in starts:
            idx = order[s : s + batch_size]
            xb = loop.to_model(X[idx])
            yb = loop.to_model(Y[idx], loop.targets == "steps")
            lb = None if lengths is None else lengths[idx]
            for loss_value, norm, norms, steps in loop.train_batch(xb, yb, lb):
                weight = len(idx) * steps
                totals["loss"] += loss_value * weight
                totals["weight"] += weight
                totals["norm"] += norm
                totals["count"] += 1
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
