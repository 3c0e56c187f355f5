"""End-to-end training time: ``rnnlab.fit`` against the equivalent PyTorch loop
(``rnnlab bench --fit``).

The task is the same on both sides: many-to-one regression, X (N, T, I) standard normal
float32, Y (N, 1) the scaled sum of each sequence's first feature; one epoch, mini-batches of
32 in one shuffled order, MSE, Adam (lr 1e-3), gradient norm clipped at 5.

- rnnlab: ``rnnlab.fit(layer, X, Y, epochs=1, batch_size=32, clip=5.0)`` on an
  ``LSTMLayer``/``GRULayer`` (``reset_after=True``, PyTorch's form) with a one-unit output head;
  ``fit`` picks the last step's output, so the head acts on h(T) as in the PyTorch loop.
- PyTorch: ``nn.LSTM``/``nn.GRU`` (``batch_first=True``) and ``nn.Linear(H, 1)`` on the last
  step, ``torch.optim.Adam``, ``clip_grad_norm_(params, 5)``, the idiomatic loop; timed with 1
  and with 2 threads, and the better of the two is the peer (on 2 cores a second thread often
  costs more than it gives).

Warm-up epochs on a slice of the data run first (Numba load, oneDNN primitives); then the
repetitions interleave the three runs and the median epoch time of each is reported.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import numpy as np

from .bench import measurement_orders

FIT_SIZES = [(1024, 50, 8, 128), (2048, 20, 4, 32)]
FIT_CELLS = ("lstm", "gru")
BATCH_SIZE = 32
CLIP = 5.0
LR = 1e-3


def quick_sizes() -> list[tuple[int, int, int, int]]:
    """FIT_SIZES with an eighth of the samples (``rnnlab bench --quick --fit``)."""
    return [(N // 8, T, I, H) for N, T, I, H in FIT_SIZES]


def make_data(size, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """X (N, T, I) float32 and Y (N, 1) float32, samples first."""
    N, T, I, _ = size
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, T, I), dtype=np.float32)
    Y = (X[:, :, 0].sum(axis=1, keepdims=True) / np.sqrt(T)).astype(np.float32)
    return X, Y


def rnnlab_epoch(cell: str, size, X, Y, seed: int = 0) -> float:
    """Seconds for one epoch of ``rnnlab.fit`` on a fresh model."""
    from rnnlab import GRULayer, LSTMLayer, fit

    _, _, I, H = size
    model: LSTMLayer | GRULayer
    if cell == "lstm":
        model = LSTMLayer(I, H, 1, seed=seed)
    else:
        model = GRULayer(I, H, 1, reset_after=True, seed=seed)
    start = time.perf_counter()
    fit(model, X, Y, epochs=1, batch_size=BATCH_SIZE, clip=CLIP, seed=seed, progress=False)
    return time.perf_counter() - start


def torch_epoch(torch, cell: str, size, X, Y, threads: int, seed: int = 0) -> float:
    """Seconds for one epoch of the plain PyTorch loop with ``threads`` threads."""
    _, _, I, H = size
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rnn = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(I, H, batch_first=True)
    head = torch.nn.Linear(H, 1)
    params = [*rnn.parameters(), *head.parameters()]
    optimizer = torch.optim.Adam(params, lr=LR)
    X_t, Y_t = torch.from_numpy(X), torch.from_numpy(Y)
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(X)))
    start = time.perf_counter()
    for s in range(0, len(X), BATCH_SIZE):
        idx = order[s : s + BATCH_SIZE]
        out, _ = rnn(X_t[idx])
        loss = torch.nn.functional.mse_loss(head(out[:, -1]), Y_t[idx])
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP)
        optimizer.step()
    return time.perf_counter() - start


def fit_case(torch: Any, cell: str, size, repeats: int) -> dict:
    """One (cell, size): warm-up, then ``repeats`` interleaved epochs of each side."""
    X, Y = make_data(size)
    sides = ["rnnlab"] + ([] if torch is None else ["torch_1", "torch_2"])

    def epoch(side, X, Y):
        if side == "rnnlab":
            return rnnlab_epoch(cell, size, X, Y)
        return torch_epoch(torch, cell, size, X, Y, int(side[-1]))

    warm = max(BATCH_SIZE, len(X) // 16)
    for side in sides:
        epoch(side, X[:warm], Y[:warm])
    times: dict[str, list[float]] = {side: [] for side in sides}
    for order in measurement_orders(sides, repeats):  # no side always after the same other
        for side in order:
            times[side].append(epoch(side, X, Y))
    row = {"cell": cell, "size": size, "s": {k: statistics.median(v) for k, v in times.items()}}
    if torch is not None:
        row["ratio"] = row["s"]["rnnlab"] / min(row["s"]["torch_1"], row["s"]["torch_2"])
    return row


def run_fit(sizes=FIT_SIZES, cells=FIT_CELLS, repeats: int = 3, use_torch: bool = True) -> dict:
    """Median epoch seconds per (cell, size) for rnnlab and PyTorch (1 and 2 threads)."""
    torch: Any = None
    if use_torch:
        try:
            import torch
        except ImportError:
            torch = None
    load_before = os.getloadavg()
    rows = [fit_case(torch, cell, size, repeats) for size in sizes for cell in cells]
    if torch is not None:
        torch.set_num_threads(os.cpu_count() or 1)
    return {"load_average": {"before": load_before, "after": os.getloadavg()}, "rows": rows}


def format_fit(report: dict) -> str:
    """The table ``rnnlab bench --fit`` prints."""
    load = report["load_average"]
    lines = [
        "rnnlab.fit against the PyTorch loop: one epoch, batch 32, Adam, clip 5 (median s); "
        f"load average {'/'.join(f'{v:.1f}' for v in load['before'])} before, "
        f"{'/'.join(f'{v:.1f}' for v in load['after'])} after",
        "",
        "| cell | (N,T,I,H) | rnnlab s | torch 1 thread s | torch 2 threads s "
        "| ratio (best torch) |",
        "|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        s = r["s"]
        t1, t2 = s.get("torch_1"), s.get("torch_2")
        lines.append(
            f"| {r['cell']} | {tuple(r['size'])} | {s['rnnlab']:.3f} "
            f"| {'-' if t1 is None else f'{t1:.3f}'} | {'-' if t2 is None else f'{t2:.3f}'} "
            f"| {r['ratio']:.2f} |"
            if "ratio" in r
            else f"| {r['cell']} | {tuple(r['size'])} | {s['rnnlab']:.3f} | - | - | - |"
        )
    return "\n".join(lines)
