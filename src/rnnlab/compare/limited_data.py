"""Section 8: limited data — held-out score against the number of training sequences.

The guide: "Limited data: GRU" (fewer parameters, so less to fit from few examples). Every cell
trains on the *same* fixed set of N adding-problem sequences (N from 50 to 5,000), drawn with
replacement into batches for the same number of updates as the sweep, and is scored on the
sweep's held-out set. The score on its own training set is kept too: the gap between the two
is what a small data set costs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ..data import adding_problem
from .config import CompareConfig
from .recommend import LIMITED_DATA
from .sweep import CELL_IDS, evaluation_set, score
from .training import CELL_NAMES, final_loss, make_layer, train_many_to_one
from .verdicts import FAILED, INCONCLUSIVE, MARGIN, NOT_MEASURED, graded, verdict

TASK = "adding"
SECTION_ID = 7  # separates this section's seeds from the sweep's


@dataclass(frozen=True)
class DataJob:
    """One model trained on a fixed set of ``train_size`` sequences."""

    cell: str
    train_size: int
    seed: int
    base_seed: int
    seq_len: int
    hidden_size: int
    steps: int
    batch_size: int
    learning_rate: float

    @property
    def key(self) -> tuple:
        return ("data", self.cell, self.train_size, self.seed)

    @property
    def cost(self) -> float:
        return self.seq_len * self.steps * {"rnn": 1.0, "gru": 2.0, "lstm": 2.5}[self.cell]

    def seed_sequence(self, *purpose: int) -> np.random.SeedSequence:
        return np.random.SeedSequence(
            [self.base_seed, SECTION_ID, self.train_size, self.seed, *purpose]
        )

    def run(self) -> dict:
        start = time.perf_counter()
        # The training set does not depend on the cell: every cell sees the same N sequences.
        X, Y = adding_problem(
            self.train_size,
            self.seq_len,
            seed=np.random.default_rng(self.seed_sequence(0)),
            dtype=np.float32,
        )
        init_rng = np.random.default_rng(self.seed_sequence(1, CELL_IDS[self.cell]))
        layer = make_layer(self.cell, 2, self.hidden_size, 1, seed=init_rng)

        def source(rng):
            pick = rng.integers(0, self.train_size, size=self.batch_size)
            return X[pick], Y[pick]

        history = train_many_to_one(
            layer,
            source,
            updates=self.steps,
            learning_rate=self.learning_rate,
            loss="mse",
            rng=np.random.default_rng(self.seed_sequence(2, CELL_IDS[self.cell])),
        )
        layer.eval()
        x_eval, y_eval = evaluation_set(TASK, self.seq_len, self.base_seed)
        held_out, raw = score(TASK, layer.forward(x_eval)[-1], y_eval)
        seen = X[: min(self.train_size, 512)]
        train_score, _ = score(
            TASK, layer.forward(np.ascontiguousarray(seen.swapaxes(0, 1)))[-1], Y[: len(seen)]
        )
        return {
            **asdict(self),
            "score": held_out,
            "raw_metric": raw,
            "train_score": train_score,
            "final_loss": final_loss(history),
            "seconds": time.perf_counter() - start,
        }


def make_jobs(config: CompareConfig) -> list[DataJob]:
    return [
        DataJob(
            cell=cell,
            train_size=size,
            seed=seed,
            base_seed=config.seed,
            seq_len=config.data_seq_len,
            hidden_size=config.hidden_size,
            steps=config.steps,
            batch_size=config.batch_size,
            learning_rate=config.learning_rate,
        )
        for cell in config.cells
        for size in config.data_sizes
        for seed in range(config.seeds)
    ]


def summarise(results: Sequence[dict]) -> dict:
    """{cell: [{train_size, mean, min, max, train_mean}, ...]} in the order of the sizes."""
    table: dict[str, list[dict]] = {}
    for r in results:
        rows = table.setdefault(r["cell"], [])
        row = next((x for x in rows if x["train_size"] == r["train_size"]), None)
        if row is None:
            row = {"train_size": r["train_size"], "scores": [], "train_scores": []}
            rows.append(row)
        row["scores"].append(r["score"])
        row["train_scores"].append(r["train_score"])
    for rows in table.values():
        rows.sort(key=lambda x: x["train_size"])
        for row in rows:
            row |= {
                "mean": float(np.mean(row["scores"])),
                "min": float(np.min(row["scores"])),
                "max": float(np.max(row["scores"])),
                "train_mean": float(np.mean(row["train_scores"])),
            }
    return table


def run(results: Sequence[dict], config: CompareConfig) -> dict:
    table = summarise(results)
    means = {c: {row["train_size"]: row["mean"] for row in rows} for c, rows in table.items()}
    return {
        "task": TASK,
        "seq_len": config.data_seq_len,
        "sizes": list(config.data_sizes),
        "limited_below": LIMITED_DATA,
        "table": table,
        "verdicts": [limited_data_verdict(means)],
    }


def limited_data_verdict(
    means: dict[str, dict[int, float]], limited_below: int = LIMITED_DATA
) -> dict:
    """ "Limited data: GRU", from mean held-out scores ``means[cell][train_size]``.

    Only sizes below ``limited_below`` count, and among them only those where some cell learned
    the task (best score >= FAILED). Confirmed when the GRU is within MARGIN of the best cell at
    each, partly at some, refuted at none; inconclusive when no size counts.
    """
    claim = "Limited data: GRU"
    sizes = sorted({n for by_size in means.values() for n in by_size if n < limited_below})
    if "gru" not in means or len(means) < 2 or not sizes:
        return verdict(
            claim,
            f"needs the GRU, another cell and sizes < {limited_below}",
            NOT_MEASURED,
            budget_limited=True,
        )
    shown = "; ".join(
        f"N={n}: " + ", ".join(f"{CELL_NAMES[c]} {means[c][n]:.2f}" for c in means) for n in sizes
    )
    informative = [n for n in sizes if max(means[c][n] for c in means) >= FAILED]
    wins = [n for n in informative if means["gru"][n] >= max(means[c][n] for c in means) - MARGIN]
    note = (
        f"GRU within {MARGIN} of the best cell at {len(wins)} of {len(informative)} sizes "
        f"< {limited_below} where some cell learned the task (score >= {FAILED})"
    )
    if not informative:
        return verdict(claim, "held-out score " + shown, INCONCLUSIVE, note, budget_limited=True)
    outcome = graded(len(wins), len(informative))
    return verdict(claim, "held-out score " + shown, outcome, note, budget_limited=True)
