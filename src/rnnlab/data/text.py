"""Character-level text: Python's own documentation (``pydoc_data.topics``) and a vocabulary.

``pydoc_data`` ships with CPython (the text ``help("if")`` prints), so the guide's "simple
character prediction" example needs no download.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .synthetic import as_rng

__all__ = ["CharVocab", "char_batches", "load_pydoc_text"]


def load_pydoc_text(max_chars: int | None = None) -> str:
    """The help topics of the running Python, joined in sorted topic order (about 460k chars)."""
    from pydoc_data import topics

    text = "\n\n".join(topics.topics[key] for key in sorted(topics.topics))
    return text if max_chars is None else text[: int(max_chars)]


class CharVocab:
    """Characters <-> integer ids, built from a text (sorted, so the same text gives the same ids).

    Characters not seen at build time encode to an error naming them, never to a silent id.
    """

    def __init__(self, chars: Iterable[str]) -> None:
        chars = list(chars)
        if not chars:
            raise ValueError("chars: expected at least one character, got none")
        if len(set(chars)) != len(chars):
            raise ValueError("chars: expected distinct characters")
        self.chars = chars
        self._index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        missing = sorted({c for c in text if c not in self._index})
        if missing:
            raise ValueError(f"text: characters not in the vocabulary: {missing[:10]!r}")
        return np.fromiter((self._index[c] for c in text), dtype=np.int64, count=len(text))

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.chars[int(i)] for i in ids)

    def get_config(self) -> dict:
        return {"chars": "".join(self.chars)}


def char_batches(
    ids: np.ndarray,
    seq_len: int,
    batch_size: int,
    *,
    seed: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A random batch of windows for next-character prediction.

    Returns
    -------
    inputs : (B, T) int64 ids, targets : (B, T) int64 ids, targets[:, t] = inputs[:, t + 1]
    (samples first, as every data set)
    """
    ids = np.asarray(ids)
    if ids.size < seq_len + 1:
        raise ValueError(f"ids: {ids.size} characters are too short for seq_len {seq_len}")
    rng = as_rng(seed)
    starts = rng.integers(0, ids.size - seq_len, size=batch_size)  # (B,)
    window = ids[starts[:, None] + np.arange(seq_len + 1)[None, :]]  # (B, T+1)
    return window[:, :-1], window[:, 1:]
