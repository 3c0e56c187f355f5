"""Many-to-one sequence classification, shared by speech, sensor and text applications."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from ..grad_mode import no_grad
from ._common import fit_with_adam, subsample


class Split(NamedTuple):
    """A samples-first data set: X (N, T, ...), labels (N,) ints, lengths (N,) or None."""

    X: np.ndarray
    y: np.ndarray
    lengths: np.ndarray | None = None


def last_outputs(
    model: Any, X: np.ndarray, lengths: ArrayLike | None = None, batch_size: int = 256
) -> np.ndarray:
    """Each sequence's output at its last valid step, (N, O), in eval mode without caches."""
    out = []
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            for s in range(0, len(X), batch_size):
                xb = np.ascontiguousarray(np.swapaxes(X[s : s + batch_size], 0, 1))  # (T, B, ..)
                if lengths is None:
                    out.append(model.forward(xb)[-1])
                else:
                    lb = np.asarray(lengths)[s : s + batch_size]
                    y = model.forward(xb, lengths=lb)
                    out.append(y[lb - 1, np.arange(len(lb))])
    finally:
        model.train(was_training)
    return np.concatenate(out)


def accuracy(model: Any, data: Split) -> float:
    """Fraction of sequences whose largest output is their label."""
    return float(np.mean(last_outputs(model, data.X, data.lengths).argmax(-1) == data.y))


def train_classifier(
    model: Any,
    train: Split,
    *,
    steps: int,
    lr: float,
    batch_size: int,
    seed: int | np.random.Generator,
    progress: bool = False,
) -> list[float]:
    """``fit`` with cross-entropy on the last valid output, for about ``steps`` updates.

    Whole epochs are run (``ceil(steps / batches per epoch)``); returns the loss curve.
    """
    per_epoch = math.ceil(len(train.X) / batch_size)
    fitted = fit_with_adam(
        model,
        train.X,
        train.y,
        loss="cross_entropy",
        lr=lr,
        epochs=max(1, math.ceil(steps / per_epoch)),
        batch_size=batch_size,
        lengths=train.lengths,
        targets="last",
        seed=seed,
        progress=progress,
    )
    return subsample(fitted.step_loss)


def nearest_centroid(train: Split, test: Split) -> float:
    """Baseline: the class whose mean time-averaged feature vector is nearest (no recurrence)."""

    def summary(data: Split) -> np.ndarray:
        if data.lengths is None:
            return data.X.mean(axis=1)
        return data.X.sum(axis=1) / np.asarray(data.lengths)[:, None]

    features, test_features = summary(train), summary(test)
    classes = np.unique(train.y)
    centroids = np.stack([features[train.y == c].mean(axis=0) for c in classes])
    distance = ((test_features[:, None, :] - centroids[None]) ** 2).sum(-1)
    return float(np.mean(classes[distance.argmin(axis=1)] == test.y))


def standardize(train: Split, *others: Split) -> list[Split]:
    """Scale every feature by the training set's mean and deviation over valid steps; padded
    steps stay zero."""

    def mask(data: Split) -> np.ndarray:
        if data.lengths is None:
            return np.ones((*data.X.shape[:2], 1), bool)
        return np.arange(data.X.shape[1])[None, :, None] < np.asarray(data.lengths)[:, None, None]

    valid = mask(train)
    mean = (train.X * valid).sum((0, 1)) / valid.sum()
    std = np.sqrt((((train.X - mean) * valid) ** 2).sum((0, 1)) / valid.sum()) + 1e-8
    return [
        data._replace(X=(((data.X - mean) / std) * mask(data)).astype(np.float32))
        for data in (train, *others)
    ]
