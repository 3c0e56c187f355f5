"""Independent training jobs — one per (task, cell, length, seed) — and where they run.

A job is a small frozen record; :func:`run_job` trains one model from it and returns plain
numbers. Every random choice in a job comes from a ``SeedSequence`` built from the job's own
fields, and each job runs with one BLAS thread, so the numbers do not depend on which process,
machine or order ran it: a local process pool and a Dask cluster give identical results.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .. import losses
from ..apps import memory
from ..apps.memory import TASK_IDS, score, task_sizes
from ..apps.memory import task_batch as task_samples  # samples first, as fit takes it
from .gradients import hidden_gradient_norms, relative_profile
from .training import final_loss, make_layer, train_many_to_one

TASKS = ("adding", "copy")
CELL_IDS = {"rnn": 1, "lstm": 2, "gru": 3}


@dataclass(frozen=True)
class Job:
    """One training run of the long-term-memory sweep."""

    task: str
    cell: str
    seq_len: int
    seed: int  # the seed index (0, 1, ...) of this (task, cell, length)
    base_seed: int
    hidden_size: int
    steps: int
    batch_size: int
    learning_rate: float

    @property
    def key(self) -> tuple:
        return (self.task, self.cell, self.seq_len, self.seed)

    @property
    def cost(self) -> float:
        """Rough relative run time, to start the slowest jobs first."""
        return self.seq_len * self.steps * {"rnn": 1.0, "gru": 2.0, "lstm": 2.5}[self.cell]

    def run(self) -> dict:
        return _run_job(self)

    def seed_sequence(self, purpose: int) -> np.random.SeedSequence:
        """Seeds from the job's identity; ``purpose`` separates init, data and evaluation."""
        entropy = [self.base_seed, TASK_IDS[self.task], CELL_IDS[self.cell], self.seq_len]
        return np.random.SeedSequence([*entropy, self.seed, purpose])


def task_batch(
    task: str, batch_size: int, seq_len: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A batch in the layers' time-major layout (T, B, I) (the generators are samples-first)."""
    x, y = task_samples(task, batch_size, seq_len, rng)
    return np.ascontiguousarray(np.swapaxes(x, 0, 1)), y


def evaluation_set(task: str, seq_len: int, base_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The held-out set of a (task, length), time-major: the same for every cell and seed."""
    x, y = memory.evaluation_set(task, seq_len, base_seed)
    return np.ascontiguousarray(np.swapaxes(x, 0, 1)), y


def _gradient_profile(layer, task, x, target):
    y_last = layer.forward(x)[-1]
    if task == "adding":
        _, dy_last = losses.mse(y_last, target)
    else:
        _, dy_last = losses.cross_entropy(y_last, target)
    return relative_profile(hidden_gradient_norms(layer, x, dy_last)).tolist()


def load_kernels() -> None:
    """Import the CPU kernels now, and with them the BLAS library they call (SciPy's).

    ``threadpool_limits`` only limits libraries already loaded when it is entered: a BLAS first
    loaded inside it keeps its default thread count (measured: the Numba GRU ran 3.5x slower,
    its threads fighting the other workers for the cores).
    """
    from .. import kernels

    for cell in ("rnn", "lstm", "gru"):
        # ImportError: no Numba here; ValueError: RNNLAB_BACKEND names something else.
        with contextlib.suppress(ImportError, ValueError):
            kernels.select(cell, "auto", "cpu")


def run_job(job: Any) -> dict:
    """Run one job (anything with ``run()``, ``key`` and ``cost``) with one BLAS thread."""
    from threadpoolctl import threadpool_limits

    load_kernels()
    with threadpool_limits(limits=1, user_api="blas"):
        cpu_start = time.process_time()
        result = job.run()
    # CPU seconds of this job alone: on a shared machine its wall time ("seconds") is not.
    return {**result, "cpu_seconds": time.process_time() - cpu_start}


def _run_job(job: Job) -> dict:
    start = time.perf_counter()
    input_size, output_size, loss = task_sizes(job.task)
    init_seed = np.random.default_rng(job.seed_sequence(0))
    data_rng = np.random.default_rng(job.seed_sequence(1))
    layer = make_layer(job.cell, input_size, job.hidden_size, output_size, seed=init_seed)
    x_eval, y_eval = evaluation_set(job.task, job.seq_len, job.base_seed)
    probe = (x_eval[:, :64], y_eval[:64])
    gradflow_init = _gradient_profile(layer, job.task, *probe)
    history = train_many_to_one(
        layer,
        lambda rng: task_samples(job.task, job.batch_size, job.seq_len, rng),
        updates=job.steps,
        learning_rate=job.learning_rate,
        loss=loss,
        rng=data_rng,
    )
    layer.eval()
    job_score, raw = score(job.task, layer.forward(x_eval)[-1], y_eval)
    every = max(1, job.steps // 25)
    return {
        **asdict(job),
        "num_parameters": layer.num_parameters(),
        "score": job_score,
        "raw_metric": raw,
        "final_loss": final_loss(history),
        "loss_curve": [
            float(np.mean(history[i : i + every])) for i in range(0, len(history), every)
        ],
        "gradflow_init": gradflow_init,
        "gradflow_trained": _gradient_profile(layer, job.task, *probe),
        "seconds": time.perf_counter() - start,
    }


def _ordered(jobs):
    """Indices of ``jobs``, slowest first: the long jobs start early and the workers finish
    together. Ties in the order given."""
    return sorted(range(len(jobs)), key=lambda i: (-jobs[i].cost, i))


def run_jobs(
    jobs: Sequence[Any],
    *,
    workers: int | None = None,
    scheduler: Any = None,
    progress: bool = True,
    desc: str = "sweep",
) -> list[dict]:
    """Run ``jobs`` and return their results in the order of ``jobs``.

    A job is anything picklable with ``run() -> dict`` and ``cost`` (relative run time).

    Parameters
    ----------
    workers : int or None, processes of the local pool (None: all cores; 1: in this process)
    scheduler : None (local), a Dask scheduler address ``"tcp://host:8786"`` or a
        ``dask.distributed.Client``
    """
    from tqdm.auto import tqdm

    jobs = list(jobs)
    bar = tqdm(total=len(jobs), desc=desc, disable=not progress, unit="run")
    if scheduler is not None:
        results = _run_dask(jobs, scheduler, bar)
    else:
        results = _run_local(jobs, workers, bar)
    bar.close()
    return [results[i] for i in range(len(jobs))]


def _run_local(jobs, workers, bar) -> dict[int, dict]:
    workers = (os.cpu_count() or 1) if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"workers: expected a positive number of processes, got {workers}")
    results = {}
    if workers == 1 or len(jobs) == 1:
        for i in _ordered(jobs):
            results[i] = run_job(jobs[i])
            bar.update()
        return results
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # no forked BLAS or tqdm threads
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context) as pool:
        futures = {pool.submit(run_job, jobs[i]): i for i in _ordered(jobs)}
        try:
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update()
        except KeyboardInterrupt:
            # Ctrl-C reaches the workers as their current job's error, and they would go on with
            # the jobs queued to them (minutes) before the pool could close: stop them now.
            pool.shutdown(wait=False, cancel_futures=True)
            processes = getattr(pool, "_processes", None) or {}  # private, stable since 3.2
            for process in list(processes.values()):
                process.terminate()
            raise
    return results


def _run_dask(jobs, scheduler, bar) -> dict[int, dict]:
    try:
        from dask.distributed import Client
        from dask.distributed import as_completed as dask_completed
    except ImportError as exc:
        raise RuntimeError(
            "scheduler: running on a Dask cluster needs dask.distributed; install it with "
            f"pip install 'rnnlab[cluster]' ({exc})"
        ) from None
    own_client = not isinstance(scheduler, Client)
    client = Client(scheduler) if own_client else scheduler
    try:
        order = _ordered(jobs)
        futures = client.map(run_job, [jobs[i] for i in order], pure=False)
        index = {future.key: i for future, i in zip(futures, order, strict=True)}
        results = {}
        for future in dask_completed(futures):
            results[index[future.key]] = future.result()
            bar.update()
        return results
    finally:
        if own_client:
            client.close()
