"""Text generation: a character model of Python's own documentation (``pydoc_data``).

Next-character prediction with one-hot inputs, trained on fresh random windows of the first
90% of the text and scored in bits per character on the last 10% against the unigram entropy
(the best a model that ignores context can do); :func:`generate` samples from it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data import CharVocab, as_rng, char_batches, load_pydoc_text
from ._common import fit_with_adam, make_layer, one_hot, subsample

__all__ = ["generate", "train_text"]


def train_text(
    text: str | None = None,
    *,
    cell: str = "gru",
    hidden: int = 128,
    steps: int = 200,
    seq_len: int = 50,
    batch_size: int = 32,
    lr: float = 5e-3,
    seed: int = 0,
    progress: bool = False,
) -> tuple[object, CharVocab, dict]:
    """Next-character model with one-hot inputs; returns (layer, vocab, result dict).

    ``text`` defaults to Python's help text (:func:`rnnlab.data.load_pydoc_text`).
    """
    text = load_pydoc_text() if text is None else text
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    cut = int(ids.size * 0.9)
    rng = np.random.default_rng(seed)
    layer = make_layer(cell, len(vocab), hidden, len(vocab), seed=rng)

    def batches(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        inputs, targets = char_batches(ids[:cut], seq_len, batch_size, seed=rng)  # (B, T)
        return one_hot(inputs, len(vocab)), targets

    fitted = fit_with_adam(
        layer,
        batches,
        updates=steps,
        loss="cross_entropy",
        lr=lr,
        seed=rng,
        progress=progress,
    )
    layer.eval()
    inputs, targets = char_batches(ids[cut:], seq_len, 64, seed=np.random.default_rng([seed, 3]))
    logits = layer.forward(one_hot(inputs.T, len(vocab)))  # time-major, as the layer runs
    val_loss = _cross_entropy(logits, np.ascontiguousarray(targets.T))
    counts = np.bincount(ids[:cut], minlength=len(vocab)) + 1e-12
    p = counts / counts.sum()
    history = fitted.step_loss
    return (
        layer,
        vocab,
        {
            "kind": "text",
            "val_bits_per_char": val_loss / np.log(2),
            "unigram_bits_per_char": float(-(p * np.log2(p)).sum()),
            "final_train_bits_per_char": float(
                np.mean(history[-max(1, steps // 10) :]) / np.log(2)
            ),
            "loss_curve": subsample(history),
            "vocab_size": len(vocab),
            "chars": int(ids.size),
        },
    )


def _cross_entropy(logits: np.ndarray, targets: np.ndarray) -> float:
    from ..losses import cross_entropy

    return float(cross_entropy(logits, targets)[0])


def generate(
    layer: Any,
    vocab: CharVocab,
    prime: str,
    length: int,
    *,
    temperature: float = 0.8,
    seed: int = 0,
) -> str:
    """Sample ``length`` characters after ``prime`` (which must be in the vocabulary)."""
    if not prime:
        raise ValueError("prime: expected at least one character")
    if temperature <= 0:
        raise ValueError(f"temperature: expected a positive number, got {temperature}")
    rng = as_rng(seed)
    was_training = layer.training
    layer.eval()
    logits = layer.forward(one_hot(vocab.encode(prime)[:, None], len(vocab)))[-1]  # (1, V)
    state = layer.final_state
    out = []
    for _ in range(length):
        z = logits[0].astype(np.float64) / temperature
        p = np.exp(z - z.max())
        p /= p.sum()
        nxt = int(rng.choice(len(vocab), p=p))
        out.append(nxt)
        logits = layer.forward(one_hot(np.array([[nxt]]), len(vocab)), state)[-1]
        state = layer.final_state
    layer.train(was_training)
    return prime + vocab.decode(out)
