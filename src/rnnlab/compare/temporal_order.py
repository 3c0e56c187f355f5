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

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from .config import CompareConfig
from .sweep import CELL_IDS
from .training import CELL_NAMES, final_loss, make_layer, train_many_to_one
from .verdicts import FAILED, INCONCLUSIVE, MARGIN, NOT_MEASURED, graded, verdict

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
    seed: int | Sequence[int] | np.random.Generator | None = None,
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
    x: np.ndarray = np.zeros((num_sequences, seq_len, NUM_INPUTS), dtype=dtype)
    np.put_along_axis(x, symbols[..., None], 1.0, axis=-1)
    labels = (which * (2 ** np.arange(num_relevant - 1, -1, -1))).sum(axis=1)
    return x, labels.astype(np.int64)


# ------------------------------------------------------------------ section 9: the comparison
SECTION_ID = 8  # separates this section's seeds from the sweep's
EVAL_SEQUENCES = 512


@dataclass(frozen=True)
class OrderJob:
    """One model trained on fresh temporal-order batches, scored on a shared held-out set."""

    cell: str
    seq_len: int
    seed: int
    base_seed: int
    num_relevant: int
    hidden_size: int
    steps: int
    batch_size: int
    learning_rate: float

    @property
    def key(self) -> tuple:
        return ("order", self.cell, self.seq_len, self.seed)

    @property
    def cost(self) -> float:
        return self.seq_len * self.steps * {"rnn": 1.0, "gru": 2.0, "lstm": 2.5}[self.cell]

    def seed_sequence(self, purpose: int) -> np.random.SeedSequence:
        entropy = [self.base_seed, SECTION_ID, CELL_IDS[self.cell], self.seq_len, self.seed]
        return np.random.SeedSequence([*entropy, purpose])

    def run(self) -> dict:
        start = time.perf_counter()
        classes = num_classes(self.num_relevant)
        layer = make_layer(
            self.cell,
            NUM_INPUTS,
            self.hidden_size,
            classes,
            seed=np.random.default_rng(self.seed_sequence(0)),
        )
        history = train_many_to_one(
            layer,
            lambda rng: temporal_order(
                self.batch_size, self.seq_len, num_relevant=self.num_relevant, seed=rng
            ),
            updates=self.steps,
            learning_rate=self.learning_rate,
            loss="cross_entropy",
            rng=np.random.default_rng(self.seed_sequence(1)),
        )
        layer.eval()
        x_eval, labels = temporal_order(
            EVAL_SEQUENCES,
            self.seq_len,
            num_relevant=self.num_relevant,
            seed=[self.base_seed, SECTION_ID, self.seq_len, 999],  # shared by every cell
        )
        logits = layer.forward(np.ascontiguousarray(x_eval.swapaxes(0, 1)))[-1]
        accuracy = float(np.mean(logits.argmax(axis=-1) == labels))
        chance = 1.0 / classes
        return {
            **asdict(self),
            "score": (accuracy - chance) / (1.0 - chance),
            "raw_metric": accuracy,
            "final_loss": final_loss(history),
            "seconds": time.perf_counter() - start,
        }


def make_jobs(config: CompareConfig) -> list[OrderJob]:
    return [
        OrderJob(
            cell=cell,
            seq_len=length,
            seed=seed,
            base_seed=config.seed,
            num_relevant=config.order_relevant,
            hidden_size=config.hidden_size,
            steps=config.steps,
            batch_size=config.batch_size,
            learning_rate=config.learning_rate,
        )
        for cell in config.cells
        for length in config.order_lens
        for seed in range(config.seeds)
    ]


def summarise(results: Sequence[dict]) -> dict:
    """{cell: [{seq_len, mean, min, max, scores}, ...]} in the order of the lengths."""
    table: dict[str, dict[int, list[float]]] = {}
    for r in results:
        table.setdefault(r["cell"], {}).setdefault(r["seq_len"], []).append(r["score"])
    return {
        cell: [
            {
                "seq_len": n,
                "mean": float(np.mean(s)),
                "min": float(np.min(s)),
                "max": float(np.max(s)),
                "scores": s,
            }
            for n, s in sorted(by_len.items())
        ]
        for cell, by_len in table.items()
    }


def run(results: Sequence[dict], config: CompareConfig) -> dict:
    table = summarise(results)
    means = {c: {row["seq_len"]: row["mean"] for row in rows} for c, rows in table.items()}
    return {
        "num_relevant": config.order_relevant,
        "classes": num_classes(config.order_relevant),
        "lengths": list(config.order_lens),
        "table": table,
        "verdicts": [complex_dependencies_verdict(means)],
    }


def complex_dependencies_verdict(means: dict[str, dict[int, float]]) -> dict:
    """ "Complex dependencies: LSTM", from mean held-out scores ``means[cell][seq_len]``.

    Only lengths where some cell learned the task (best >= FAILED) count. Confirmed when the
    LSTM is within MARGIN of the best cell at each, partly at some, refuted at none;
    inconclusive when no length counts (the budget cannot tell the cells apart).
    """
    claim = "Complex dependencies: LSTM"
    lengths = sorted({n for by_len in means.values() for n in by_len})
    if "lstm" not in means or len(means) < 2 or not lengths:
        return verdict(claim, "needs the LSTM and another cell", NOT_MEASURED, budget_limited=True)
    shown = "; ".join(
        f"T={n}: " + ", ".join(f"{CELL_NAMES[c]} {means[c][n]:.2f}" for c in means) for n in lengths
    )
    informative = [n for n in lengths if max(means[c][n] for c in means) >= FAILED]
    wins = [n for n in informative if means["lstm"][n] >= max(means[c][n] for c in means) - MARGIN]
    note = (
        f"LSTM within {MARGIN} of the best cell at {len(wins)} of {len(informative)} lengths "
        f"where some cell learned the task (score >= {FAILED})"
    )
    measured = "temporal-order score " + shown
    if not informative:
        return verdict(claim, measured, INCONCLUSIVE, note, budget_limited=True)
    return verdict(claim, measured, graded(len(wins), len(informative)), note, budget_limited=True)
