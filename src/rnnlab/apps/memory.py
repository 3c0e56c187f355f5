"""The long-term-memory tasks as applications: the adding problem and delayed recall (copy).

The same tasks, batches and held-out sets as the comparison's sweep: fresh batches every
update, one output read at the last step, scored on 512 held-out sequences where 0 is the
trivial baseline (predict the mean / guess) and 1 is perfect.
"""

from __future__ import annotations

import numpy as np

from ..data import ADDING_BASELINE_MSE, adding_problem, copy_task
from ._common import fit_with_adam, make_layer, subsample

__all__ = ["COPY_SYMBOLS", "EVAL_SEQUENCES", "TASK_IDS", "score", "task_batch", "train_memory"]

TASK_IDS = {"adding": 1, "copy": 2}
COPY_SYMBOLS = 4
EVAL_SEQUENCES = 512


def task_sizes(task: str) -> tuple[int, int, str]:
    """(input_size, output_size, loss) of a task."""
    if task == "adding":
        return 2, 1, "mse"
    if task == "copy":
        return COPY_SYMBOLS + 1, COPY_SYMBOLS, "cross_entropy"
    raise ValueError(f"task: expected one of {sorted(TASK_IDS)}, got {task!r}")


def task_batch(
    task: str, batch_size: int, seq_len: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A batch (x (B, T, I), targets (B, ...)) of the task, samples first."""
    if task == "adding":
        return adding_problem(batch_size, seq_len, seed=rng, dtype=np.float32)
    return copy_task(batch_size, seq_len, num_symbols=COPY_SYMBOLS, seed=rng, dtype=np.float32)


def evaluation_set(task: str, seq_len: int, base_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The held-out set of a (task, length): the same for every cell and seed."""
    rng = np.random.default_rng([base_seed, TASK_IDS[task], seq_len, 999])
    return task_batch(task, EVAL_SEQUENCES, seq_len, rng)


def score(task: str, y_last: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """Normalised score: 0 = the trivial baseline, 1 = perfect; and the raw MSE or accuracy."""
    if task == "adding":
        mse = float(np.mean((y_last - target) ** 2))
        return 1.0 - mse / ADDING_BASELINE_MSE, mse
    accuracy = float(np.mean(y_last.argmax(axis=-1) == target))
    chance = 1.0 / COPY_SYMBOLS
    return (accuracy - chance) / (1.0 - chance), accuracy


def train_memory(
    task: str,
    *,
    cell: str = "gru",
    hidden: int = 32,
    steps: int = 300,
    lr: float = 1e-2,
    seq_len: int = 20,
    batch_size: int = 32,
    seed: int = 0,
    progress: bool = False,
) -> tuple[object, dict]:
    """Train on fresh batches of ``task`` ("adding" or "copy"); returns (layer, result)."""
    input_size, output_size, loss = task_sizes(task)
    rng = np.random.default_rng(seed)
    layer = make_layer(cell, input_size, hidden, output_size, seed=rng)

    def batches(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return task_batch(task, batch_size, seq_len, rng)

    fitted = fit_with_adam(
        layer,
        batches,
        updates=steps,
        loss=loss,
        lr=lr,
        seed=rng,
        targets="last",
        progress=progress,
    )
    layer.eval()
    x_eval, y_eval = evaluation_set(task, seq_len, seed)
    y_last = layer.forward(np.ascontiguousarray(np.swapaxes(x_eval, 0, 1)))[-1]
    value, raw = score(task, y_last, y_eval)
    shown = y_last[:50, 0] if task == "adding" else y_last[:50].argmax(-1)
    return layer, {
        "kind": "memory",
        "seq_len": seq_len,
        "score": value,
        "raw_metric": raw,
        "loss_curve": subsample(fitted.step_loss),
        "plot": {
            "target": np.asarray(y_eval[:50]).reshape(-1).tolist(),
            "prediction": np.asarray(shown).reshape(-1).tolist(),
        },
    }
