"""Losses that return their gradient: ``loss, dy = mse(y, target)``.

Both are means, like PyTorch's default ``reduction="mean"``, and both take an optional boolean
``mask`` that selects which entries count: the loss is then the mean over the selected entries
only, exactly ``torch.nn.functional.mse_loss(y[mask], target[mask])`` (and likewise for cross
entropy), and unselected entries get a zero gradient. A mask with one dimension fewer than ``y``
(shape ``y.shape[:-1]``) selects whole feature vectors: with y (T, B, O) a (T, B) mask marks the
valid steps of a padded batch.

Predictions are not checked for NaN or inf: a diverged network's non-finite output turns into a
non-finite loss, which :func:`rnnlab.fit` reports as :class:`rnnlab.train.TrainingDivergedError`
with the step and gradient norm. Targets, labels, masks and weights are checked.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .backend import xp_of
from .validation import finite_as

__all__ = ["cross_entropy", "mse"]


def _float_array(name, value, xp):
    arr = xp.asarray(value)
    if arr.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating-point array, got dtype {arr.dtype}")
    return arr


def _check_mask(mask, shape, xp, what):
    """Boolean mask of ``shape`` or ``shape[:-1]``; returns it broadcast to ``shape``."""
    m = xp.asarray(mask)
    if m.dtype != bool:
        raise TypeError(f"mask: expected a boolean array, got dtype {m.dtype}")
    if tuple(m.shape) == tuple(shape):
        full = m
    elif len(shape) > 0 and tuple(m.shape) == tuple(shape[:-1]):
        full = xp.broadcast_to(m[..., None], shape)
    else:
        raise ValueError(
            f"mask: expected shape {tuple(shape)} or {tuple(shape[:-1])} ({what}), "
            f"got {tuple(m.shape)}"
        )
    if not bool(full.any()):
        raise ValueError("mask: selects no entries; the mean over nothing is undefined")
    return full


def mse(y: Any, target: Any, mask: Any = None) -> tuple[float, Any]:
    """Mean squared error and its gradient.

    Parameters
    ----------
    y : float array, any shape (e.g. (T, B, O)).
    target : float array of the same shape.
    mask : optional bool array of y's shape, or y's shape without the last axis.

    Returns
    -------
    loss : float, mean of (y - target)² over all (or the selected) entries.
    dy : array like y, d loss / d y = 2 (y - target) / n on selected entries, 0 elsewhere.
    """
    xp = xp_of(y)
    y = _float_array("y", y, xp)
    target = _float_array("target", target, xp)
    if tuple(target.shape) != tuple(y.shape):
        raise ValueError(
            f"target: expected the shape of y {tuple(y.shape)}, got {tuple(target.shape)}"
        )
    diff = y - finite_as("target", target, y.dtype, xp)
    if mask is None:
        n = diff.size
        if n == 0:
            raise ValueError(f"y: expected at least one entry, got shape {tuple(y.shape)}")
        return float(xp.sum(diff * diff)) / n, (2.0 / n) * diff
    selected = _check_mask(mask, y.shape, xp, "like y or one per feature vector")
    n = int(selected.sum())
    diff = xp.where(selected, diff, 0)
    return float(xp.sum(diff * diff)) / n, (2.0 / n) * diff


def _check_labels(labels, shape, num_classes, xp):
    lab = xp.asarray(labels)
    if lab.dtype.kind not in "iu":
        raise TypeError(
            f"labels: expected integer class indices, got dtype {lab.dtype} "
            "(one-hot targets are not accepted: pass argmax(target, axis=-1))"
        )
    if tuple(lab.shape) != tuple(shape):
        raise ValueError(
            f"labels: expected shape {tuple(shape)} (logits' shape without the class axis), "
            f"got {tuple(lab.shape)}"
        )
    bad = (lab < 0) | (lab >= num_classes)
    if bool(bad.any()):
        where = tuple(int(i) for i in np.argwhere(_host(bad))[0])
        raise ValueError(
            f"labels: expected values in [0, {num_classes}) (num_classes {num_classes}), "
            f"got {int(lab[where])} at index {where}"
        )
    return lab


def _host(a):
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else a


def cross_entropy(
    logits: Any, labels: Any, mask: Any = None, class_weights: Any = None
) -> tuple[float, Any]:
    """Softmax cross-entropy from raw scores and integer labels, with its gradient.

    Parameters
    ----------
    logits : float array (..., C); the last axis holds the class scores.
    labels : integer array (...), values in [0, C).
    mask : optional bool array (...); only selected positions count.
    class_weights : optional float array (C,), non-negative; as ``torch``'s ``weight``.

    Returns
    -------
    loss : float, Σ w[y_n] · (logsumexp(z_n) - z_n[y_n]) / Σ w[y_n] over selected positions n
        (w = 1 without weights: the plain mean).
    dlogits : array like logits, w[y_n] (softmax(z_n) - onehot(y_n)) / Σ w[y_m].

    Notes
    -----
    log-sum-exp subtracts the row maximum first, so large scores never overflow.
    """
    xp = xp_of(logits)
    z = _float_array("logits", logits, xp)
    if z.ndim < 1 or z.shape[-1] == 0:
        raise ValueError(f"logits: expected shape (..., C) with C >= 1, got {tuple(z.shape)}")
    num_classes = z.shape[-1]
    lab = _check_labels(labels, z.shape[:-1], num_classes, xp)
    if class_weights is None:
        weights = xp.ones(lab.shape, z.dtype)
    else:
        w = _float_array("class_weights", class_weights, xp)
        if tuple(w.shape) != (num_classes,):
            raise ValueError(f"class_weights: expected shape ({num_classes},), got {w.shape}")
        if not bool(xp.isfinite(w).all()) or bool((w < 0).any()):
            raise ValueError("class_weights: expected finite non-negative values")
        weights = w.astype(z.dtype)[lab]
    if mask is not None:
        selected = _check_mask(mask, lab.shape, xp, "logits' shape without the class axis")
        weights = xp.where(selected, weights, 0)
    total = float(weights.sum())
    if total <= 0:
        raise ValueError("class_weights: the selected labels have total weight 0")
    z_max = z.max(axis=-1, keepdims=True)
    shifted = z - z_max
    lse = xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))  # (..., 1)
    log_p = shifted - lse  # log softmax
    picked = xp.take_along_axis(log_p, lab[..., None], axis=-1)[..., 0]  # (...)
    loss = float(-(weights * picked).sum()) / total
    dz = xp.exp(log_p)
    onehot_rows = xp.take_along_axis(dz, lab[..., None], axis=-1) - 1
    xp.put_along_axis(dz, lab[..., None], onehot_rows, axis=-1)
    dz *= (weights / total)[..., None]
    return loss, dz
