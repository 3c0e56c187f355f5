"""Sentiment / text classification on a labelled CSV file that the user provides.

``rnnlab train --task textclass:reviews.csv`` reads a CSV with a header row, a ``text`` and a
``label`` column; words (lower-cased runs of letters, digits and apostrophes) become ids, and
Embedding -> GRU -> Dense reads them and classifies each text from the state after its last
word (many-to-one, padded batches with ``lengths=``). A fixed fifth of the rows (shuffled with
the seed) is held out; the baseline is the most frequent training label.

rnnlab ships no scraped text: :func:`make_corpus` writes a small generated corpus for tests and
examples, where the label depends on a negation ("not good" is negative) — a bag of words
cannot read it, an RNN can.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import numpy as np

from .. import io
from ..layers import GRULayer
from ..models import Dense, Embedding, Sequential
from ._classify import Split, accuracy, train_classifier

__all__ = ["Vocabulary", "classify", "load_text_csv", "make_corpus", "tokenize", "train_textclass"]

PAD, UNKNOWN = 0, 1
MAX_WORDS = 60
WORD = re.compile(r"[a-z0-9']+")


def tokenize(text: str) -> list[str]:
    """Lower-cased words: runs of letters, digits and apostrophes."""
    return WORD.findall(text.lower())


class Vocabulary:
    """Words <-> ids; 0 is padding, 1 stands for words not seen in training."""

    def __init__(self, words: list[str]) -> None:
        self.words = list(words)
        self._ids = {w: i + 2 for i, w in enumerate(self.words)}

    @classmethod
    def from_texts(cls, texts: list[list[str]]) -> Vocabulary:
        return cls(sorted({w for words in texts for w in words}))

    def __len__(self) -> int:
        return len(self.words) + 2

    def encode(self, texts: list[list[str]], max_words: int = MAX_WORDS) -> tuple:
        """(ids (N, T) int64 padded with 0, lengths (N,)); texts are cut at ``max_words``; an
        empty text is one unknown word."""
        steps = min(max_words, max(max(len(words) for words in texts), 1))
        ids = np.full((len(texts), steps), PAD, np.int64)
        lengths = np.ones(len(texts), np.int64)
        for row, words in enumerate(texts):
            words = words[:steps] or ["\0"]
            ids[row, : len(words)] = [self._ids.get(w, UNKNOWN) for w in words]
            lengths[row] = len(words)
        return ids, lengths


def load_text_csv(
    path: str | os.PathLike, text_column: str = "text", label_column: str = "label"
) -> tuple[list[str], list[str]]:
    """(texts, labels) from a CSV file with a header row; errors name the file and the row."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ValueError(
            f"{path}: the file is empty; expected a header row with "
            f"{text_column!r} and {label_column!r}"
        )
    header = [h.strip() for h in rows[0]]
    for name in (text_column, label_column):
        if name not in header:
            raise ValueError(f"{path}: no column named {name!r}; the header (row 1) has {header}")
    t, l = header.index(text_column), header.index(label_column)
    texts, labels = [], []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ValueError(
                f"{path}: row {number} has {len(row)} fields, the header has {len(header)}"
            )
        if not row[l].strip():
            raise ValueError(f"{path}: row {number} has an empty {label_column!r}")
        texts.append(row[t])
        labels.append(row[l].strip())
    if len(set(labels)) < 2 or len(texts) < 10:
        raise ValueError(
            f"{path}: expected at least 10 rows and 2 different labels, got {len(texts)} rows "
            f"and labels {sorted(set(labels))}"
        )
    return texts, labels


def make_corpus(path: str | os.PathLike, count: int = 600, *, seed: int = 0) -> Path:
    """Write a generated sentiment CSV (text, label) of ``count`` reviews to ``path``."""
    rng = np.random.default_rng(seed)
    good = ["good", "great", "lovely", "fine", "excellent", "pleasant"]
    bad = ["bad", "awful", "boring", "poor", "terrible", "dull"]
    things = ["film", "plot", "acting", "music", "ending", "book", "meal", "service"]
    fillers = ["the", "really", "quite", "i", "think", "was", "and", "overall", "so"]
    lines = ["text,label"]
    for _ in range(count):
        positive = bool(rng.integers(2))
        negated = bool(rng.integers(2))
        word = rng.choice(good if positive != negated else bad)
        words = [*rng.choice(fillers, 2), "the", rng.choice(things), "was"]
        words += ["not", word] if negated else [word]
        words += list(rng.choice(fillers, rng.integers(0, 4)))
        lines.append(f"{' '.join(words)},{'positive' if positive else 'negative'}")
    path = Path(path)
    io.atomic_write_bytes(path, ("\n".join(lines) + "\n").encode("utf-8"))
    return path


def _split(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng([seed, 5]).permutation(count)
    cut = count - max(1, count // 5)
    return order[:cut], order[cut:]


def train_textclass(
    path: str | os.PathLike,
    *,
    hidden: int = 32,
    embed: int = 16,
    steps: int = 300,
    lr: float = 1e-2,
    batch_size: int = 32,
    seed: int = 0,
    progress: bool = False,
    text_column: str = "text",
    label_column: str = "label",
) -> tuple[Sequential, dict]:
    """Embedding -> GRU -> Dense on the CSV at ``path``; returns (model, result)."""
    texts, labels = load_text_csv(path, text_column, label_column)
    words = [tokenize(t) for t in texts]
    classes = sorted(set(labels))
    y = np.array([classes.index(label) for label in labels], np.int64)
    train_rows, test_rows = _split(len(texts), seed)
    vocab = Vocabulary.from_texts([words[i] for i in train_rows])
    ids, lengths = vocab.encode(words)
    train = Split(ids[train_rows], y[train_rows], lengths[train_rows])
    test = Split(ids[test_rows], y[test_rows], lengths[test_rows])
    rng = np.random.default_rng(seed)
    model = Sequential(
        Embedding(len(vocab), embed, seed=rng),
        GRULayer(embed, hidden, seed=rng),
        Dense(hidden, len(classes), seed=rng),
    )
    curve = train_classifier(
        model, train, steps=steps, lr=lr, batch_size=batch_size, seed=rng, progress=progress
    )
    majority = np.bincount(train.y, minlength=len(classes)).argmax()
    return model, {
        "kind": "classifier",
        "accuracy": accuracy(model, test),
        "baseline_accuracy": float(np.mean(test.y == majority)),
        "baseline": "the most frequent training label",
        "classes": classes,
        "vocabulary": vocab.words,
        "train_sequences": len(train_rows),
        "test_sequences": len(test_rows),
        "loss_curve": curve,
    }


def classify(model: Sequential, info: dict, texts: list[str]) -> list[str]:
    """Labels for new ``texts`` from a model and the ``info`` :func:`train_textclass` returned."""
    from ._classify import last_outputs

    vocab = Vocabulary(info["vocabulary"])
    ids, lengths = vocab.encode([tokenize(t) for t in texts])
    return [info["classes"][k] for k in last_outputs(model, ids, lengths).argmax(-1)]
