"""Speech: speaker identification on Japanese Vowels (Kudo, Toyama & Shimbo 1999).

Nine male speakers utter /ae/; each utterance is 7–29 frames of 12 LPC cepstrum coefficients.
270 training and 370 test utterances, as in the UCI / UEA archives (loaded from sktime, which
ships the UEA copy). A GRU reads the padded frames with ``lengths=`` and classifies the speaker
from its state at each utterance's last frame.

Reference: the UEA multivariate bake-off (Ruiz et al. 2021) reports 0.97–0.99 test accuracy for
its best classifiers and about 0.95 for dimension-dependent DTW; goal: a GRU >= 0.97.
"""

from __future__ import annotations

import numpy as np

from ._classify import Split, accuracy, nearest_centroid, standardize, train_classifier
from ._common import make_layer, require

__all__ = ["GOAL", "REFERENCE", "load_vowels", "train_vowels"]

GOAL = 0.97
REFERENCE = "UEA bake-off best 0.97–0.99, DTW about 0.95 (test accuracy)"
MAX_FRAMES = 29
SPEAKERS = 9


def _load_split(split: str) -> Split:
    datasets = require("sktime.datasets", "the Japanese Vowels data")
    frames, labels = datasets.load_japanese_vowels(split=split, return_type="nested_univ")
    count, features = frames.shape
    X = np.zeros((count, MAX_FRAMES, features), np.float32)
    lengths = np.zeros(count, np.int64)
    for row in range(count):
        columns = [frames.iloc[row, k].to_numpy() for k in range(features)]
        lengths[row] = len(columns[0])
        X[row, : lengths[row]] = np.stack(columns, axis=1)
    return Split(X, np.asarray(labels).astype(np.int64) - 1, lengths)


def load_vowels() -> tuple[Split, Split]:
    """(train, test): X (N, 29, 12) float32 zero-padded, speakers 0..8, lengths 7..29;
    features standardised with the training set's statistics."""
    train, test = standardize(_load_split("train"), _load_split("test"))
    return train, test


def train_vowels(
    *,
    cell: str = "gru",
    hidden: int = 32,
    steps: int = 700,
    lr: float = 1e-2,
    batch_size: int = 16,
    seed: int = 0,
    progress: bool = False,
    data: tuple[Split, Split] | None = None,
) -> tuple[object, dict]:
    """Train a speaker classifier; returns (layer, result) with the test accuracy.

    ``steps`` counts updates (rounded up to whole epochs of 270 / ``batch_size``).
    """
    train, test = load_vowels() if data is None else data
    rng = np.random.default_rng(seed)
    layer = make_layer(cell, train.X.shape[2], hidden, SPEAKERS, seed=rng)
    curve = train_classifier(
        layer, train, steps=steps, lr=lr, batch_size=batch_size, seed=rng, progress=progress
    )
    return layer, {
        "kind": "classifier",
        "accuracy": accuracy(layer, test),
        "baseline_accuracy": nearest_centroid(train, test),
        "baseline": "nearest class centroid of the time-averaged coefficients",
        "goal": GOAL,
        "reference": REFERENCE,
        "train_sequences": len(train.X),
        "test_sequences": len(test.X),
        "loss_curve": curve,
    }
