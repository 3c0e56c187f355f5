"""The temporal-order problem (Hochreiter & Schmidhuber 1997, experiments 6a and 6b).

A sequence of random distractor symbols ``a b c d`` opens with ``B`` and closes with ``E``; at
``num_relevant`` (2 or 3) random positions, one in each of fixed windows spread over the
sequence, stands ``X`` or ``Y``. The class is the order of those symbols (XX, XY, YX, YY; or the
8 orders of three): the answer depends on several events far apart *and on how they combine*,
so no single remembered symbol is enough. This is the guide's "complex dependencies" case.

The windows are the paper's, as fractions of the length: experiment 6a (T ≈ 100) puts the two
symbols in steps [10, 20] and [50, 60]; 6b puts three in [10, 20], [33, 43], [66, 76].
"""

from __future__ import annotations

import numpy as np

#: Input alphabet: four distractors, the two relevant symbols, begin and end markers.
SYMBOLS = ("a", "b", "c", "d", "X", "Y", "B", "E")
NUM_INPUTS = len(SYMBOLS)
_X, _B, _E = SYMBOLS.index("X"), SYMBOLS.index("B"), SYMBOLS.index("E")
#: Windows (start, end) as fractions of the length, from the paper's experiments 6a and 6b.
WINDOWS = {2: ((0.10, 0.20), (0.50, 0.60)), 3: ((0.10, 0.20), (0.33, 0.43), (0.66, 0.76))}


def num_classes(num_relevant: int) -> int:
    """2 ** num_relevant orders of X and Y."""
    return 2**num_relevant


def temporal_order(
    num_sequences: int,
    seq_len: int,
    *,
    num_relevant: int = 3,
    seed: int | np.random.Generator | None = None,
    dtype: type = np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Samples of the temporal-order problem.

    Parameters
    ----------
    num_sequences : positive int
    seq_len : int >= 10 (the windows need room between the markers)
    num_relevant : 2 (experiment 6a, 4 classes) or 3 (6b, 8 classes)
    seed : int, Generator or None
    dtype : float dtype of the one-hot inputs

    Returns
    -------
    x : (N, T, 8) one-hot symbols, samples first
    labels : (N,) int64 class in [0, 2 ** num_relevant): the X/Y order read as binary, Y = 1
    """
    if isinstance(num_sequences, bool) or not isinstance(num_sequences, int | np.integer):
        raise TypeError(f"num_sequences: expected a positive int, got {num_sequences!r}")
    if num_sequences < 1:
        raise ValueError(f"num_sequences: expected a positive int, got {num_sequences}")
    if isinstance(seq_len, bool) or not isinstance(seq_len, int | np.integer) or seq_len < 10:
        raise ValueError(f"seq_len: expected an int >= 10, got {seq_len!r}")
    if num_relevant not in WINDOWS:
        raise ValueError(f"num_relevant: expected 2 or 3, got {num_relevant!r}")
    rng = np.random.default_rng(seed)
    symbols = rng.integers(0, 4, size=(num_sequences, seq_len))  # distractors a-d
    symbols[:, 0], symbols[:, -1] = _B, _E
    which = rng.integers(0, 2, size=(num_sequences, num_relevant))  # 0 = X, 1 = Y
    rows = np.arange(num_sequences)
    for k, (start, end) in enumerate(WINDOWS[num_relevant]):
        low = max(1, round(start * seq_len))
        high = min(seq_len - 2, round(end * seq_len))
        positions = rng.integers(low, high + 1, size=num_sequences)
        symbols[rows, positions] = _X + which[:, k]
    x = np.zeros((num_sequences, seq_len, NUM_INPUTS), dtype=dtype)
    np.put_along_axis(x, symbols[..., None], 1.0, axis=-1)
    labels = (which * (2 ** np.arange(num_relevant - 1, -1, -1))).sum(axis=1)
    return x, labels.astype(np.int64)
