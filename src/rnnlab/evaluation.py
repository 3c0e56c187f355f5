"""``predict`` and ``evaluate``: a trained model on a samples-first data set.

Both take ``X`` samples-first, (N, T, ...), whatever the model's ``batch_first``, as ``fit``
does; both run the model in eval mode (dropout and zoneout off) under :func:`rnnlab.no_grad`,
and put the model back in the mode it was in. The output rule is ``fit``'s: per-step targets
compare with every step's output, per-sequence targets with the output at each sequence's last
valid step (``lengths - 1``, or the last step).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from .grad_mode import no_grad
from .train_checks import check_data, check_lengths, loss_fn, positive_int, resolve_targets

__all__ = ["evaluate", "predict"]

TARGETS = ("steps", "last")


class ModelIO:
    """How a samples-first data set meets a model: its layout and the outputs targets see."""

    def __init__(self, model: Any, targets: str | None) -> None:
        self.model, self.targets = model, targets
        self.time_axis = 1 if bool(getattr(model, "batch_first", False)) else 0

    def to_model(self, a: np.ndarray, per_step: bool = True) -> np.ndarray:
        """Samples-first batch -> the model's layout."""
        if self.time_axis == 1 or not per_step:
            return a
        return np.ascontiguousarray(np.swapaxes(a, 0, 1))

    def from_model(self, a: np.ndarray) -> np.ndarray:
        """A per-step output in the model's layout -> samples-first."""
        return a if self.time_axis == 1 else np.swapaxes(a, 0, 1)

    def last_index(self, out: np.ndarray, lengths: np.ndarray | None) -> tuple:
        """Index of each sequence's last valid output: step -1, or lengths - 1 when padded."""
        if lengths is None:
            return (-1,) if self.time_axis == 0 else (slice(None), -1)
        rows, steps = np.arange(len(lengths)), np.asarray(lengths) - 1
        return (steps, rows) if self.time_axis == 0 else (rows, steps)

    def valid_steps(self, num_steps: int, lengths: np.ndarray) -> np.ndarray:
        """Boolean mask of the valid steps of a padded batch, in the model's layout."""
        valid = np.arange(num_steps)[:, None] < np.asarray(lengths)[None, :]  # (T, B)
        return valid if self.time_axis == 0 else valid.T

    def forward(self, xb: np.ndarray, state: Any = None, lengths: np.ndarray | None = None):
        """Forward; returns (output, what the targets see, loss keyword arguments)."""
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
        return out, out, {"mask": self.valid_steps(out.shape[self.time_axis], lengths)}


@contextmanager
def inference_mode(model: Any) -> Iterator[None]:
    """Eval mode and no backward cache inside; the model's previous mode restored after."""
    previous = getattr(model, "training", None)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with no_grad():
            yield
    finally:
        if previous is not None and hasattr(model, "train"):
            model.train(previous)


def _check_x(X: Any) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim < 2 or len(X) == 0:
        raise ValueError(
            f"X: expected a samples-first data set (N, T, ...) with N >= 1, got shape {X.shape}"
        )
    return X


def predict(
    model: Any,
    X: Any,
    *,
    lengths: Any = None,
    batch_size: int = 256,
    targets: str = "steps",
) -> np.ndarray:
    """The model's outputs for a samples-first data set, in eval mode, without a backward cache.

    Parameters
    ----------
    model : a layer or a container (anything ``fit`` trains).
    X : (N, T, I) inputs, or (N, T) token ids, samples first (whatever ``model.batch_first``).
    lengths : None or ints (N,) in 1..T for padded sequences.
    batch_size : sequences per forward call.
    targets : "steps" (every step's output, (N, T, O); padded steps are zeros) or "last" (one
        output per sequence, (N, O), at its last valid step: what per-sequence targets of
        ``fit`` were compared with).

    Returns
    -------
    numpy array, samples first, a new array (not a view of the model's caches).
    """
    X = _check_x(X)
    lengths = check_lengths("lengths", lengths, X)
    batch_size = positive_int("batch_size", batch_size)
    if targets not in TARGETS:
        raise ValueError(f"targets: expected 'steps' or 'last', got {targets!r}")
    io = ModelIO(model, targets)
    parts = []
    with inference_mode(model):
        for s in range(0, len(X), batch_size):
            lb = None if lengths is None else lengths[s : s + batch_size]
            out, seen, _ = io.forward(io.to_model(X[s : s + batch_size]), None, lb)
            parts.append(io.from_model(out) if targets == "steps" else seen)
    return np.concatenate([np.asarray(p) for p in parts], axis=0)


def evaluation_pass(
    io: ModelIO,
    loss: Callable[..., tuple[float, Any]],
    data: tuple[np.ndarray, np.ndarray, np.ndarray | None],
    batch_size: int,
    accuracy: bool = False,
) -> dict:
    """Loss (and accuracy) over a data set, batch by batch, weighted by what each batch counts
    (its sequences, or its valid steps for padded per-step targets), so that the result equals
    one pass over the whole set."""
    X, Y, lengths = data
    totals = {"loss": 0.0, "weight": 0.0, "correct": 0.0, "counted": 0.0}
    with inference_mode(io.model):
        for s in range(0, len(X), batch_size):
            lb = None if lengths is None else lengths[s : s + batch_size]
            yb = io.to_model(Y[s : s + batch_size], io.targets == "steps")
            _, seen, options = io.forward(io.to_model(X[s : s + batch_size]), None, lb)
            mask = options.get("mask")
            weight = float(mask.sum()) if mask is not None else float(len(yb))
            totals["loss"] += float(loss(seen, yb, **options)[0]) * weight
            totals["weight"] += weight
            if accuracy:
                hit = np.asarray(seen).argmax(axis=-1) == yb
                totals["correct"] += float(hit[mask].sum() if mask is not None else hit.sum())
                totals["counted"] += float(mask.sum() if mask is not None else hit.size)
    result = {"loss": totals["loss"] / totals["weight"]}
    if accuracy:
        result["accuracy"] = totals["correct"] / totals["counted"]
    return result


def evaluate(
    model: Any,
    X: Any,
    Y: Any,
    *,
    loss: str | Callable[..., tuple[float, Any]] = "mse",
    lengths: Any = None,
    batch_size: int = 256,
    targets: str = "auto",
) -> dict:
    """Loss of ``model`` on a samples-first data set, and accuracy for classification.

    Parameters
    ----------
    model, X, lengths, batch_size : as for :func:`predict`.
    Y : targets as for ``fit``: per step (N, T, ...) or per sequence (N, ...).
    loss : "mse", "cross_entropy" or a callable ``(prediction, target) -> (loss, dprediction)``.
    targets : "auto" (per step when ``Y.shape[1] == T``), "steps" or "last", as for ``fit``.

    Returns
    -------
    dict : ``{"loss": float, "samples": N}`` and, with ``loss="cross_entropy"``, ``"accuracy"``
        (the fraction of counted steps or sequences whose largest logit is the label). The loss
        is the mean over everything counted (valid steps of padded sequences), equal to one
        forward over the whole set.
    """
    X, Y = check_data(X, Y)
    lengths = check_lengths("lengths", lengths, X)
    batch_size = positive_int("batch_size", batch_size)
    io = ModelIO(model, resolve_targets(targets, X, Y, None))
    classify = isinstance(loss, str) and loss == "cross_entropy"
    result = evaluation_pass(io, loss_fn(loss), (X, Y, lengths), batch_size, classify)
    return {**result, "samples": len(X)}
