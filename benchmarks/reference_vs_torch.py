"""Time rnnlab's reference layers against PyTorch's nn.RNN / nn.LSTM / nn.GRU on the CPU.

The layers run ``backend="reference"`` (the readable NumPy cells) unless ``--backend`` says
otherwise; ``auto`` picks the Numba kernels.

Run from the repository root::

    PYTHONPATH=src python benchmarks/reference_vs_torch.py [--rounds 25] [--threads N]
        [--backend reference|numba|auto]

Both sides use float32 and the same number of threads (PyTorch's intra-op pool is set to the
thread count of NumPy's BLAS, as threadpoolctl reports it). Both run the same parameters
(``to_torch``) on the same input. Each round times rnnlab once and PyTorch once, alternating
which goes first, after a warm-up, so that both see the same machine load; the figures are
medians over rounds and the ratio is rnnlab / PyTorch (above 1: rnnlab is slower).

"forward" is PyTorch under ``torch.no_grad()`` (its fastest inference path) against rnnlab's
forward, which always keeps what backward needs. "forward+backward" backpropagates a fixed dy
through the outputs on both sides (parameter gradients accumulate on both sides).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from threadpoolctl import threadpool_info, threadpool_limits

from rnnlab import GRULayer, LSTMLayer, RNNLayer
from rnnlab.interop import to_torch

SIZES = [(50, 16, 32, 64), (50, 64, 32, 128)]  # (T, B, I, H)
CELLS = [("RNN", RNNLayer, {}), ("LSTM", LSTMLayer, {}), ("GRU", GRULayer, {"reset_after": True})]


def blas_threads() -> int:
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    return max((p["num_threads"] for p in pools), default=1)


def make_pair(cls, extra, size, backend, seed=0):
    """An rnnlab layer, the equivalent PyTorch module, and inputs/gradients for both."""
    T, B, I, H = size
    layer = cls(I, H, seed=seed, backend=backend, **extra)
    module = to_torch(layer)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    dy = rng.standard_normal((T, B, H)).astype(np.float32)
    return layer, module, x, dy


def rnnlab_steps(layer, x, dy):
    def forward():
        layer.forward(x)

    def forward_backward():
        layer.forward(x)
        layer.backward(dy)

    return forward, forward_backward


def torch_steps(module, x, dy):
    xt, dyt = torch.from_numpy(x), torch.from_numpy(dy)

    def forward():
        with torch.no_grad():
            module(xt)

    def forward_backward():
        module(xt)[0].backward(dyt)

    return forward, forward_backward


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved_medians(ours, theirs, rounds, warmup=3):
    for _ in range(warmup):
        ours(), theirs()
    a, b = [], []
    for k in range(rounds):
        if k % 2 == 0:
            a.append(timed(ours))
            b.append(timed(theirs))
        else:
            b.append(timed(theirs))
            a.append(timed(ours))
    return statistics.median(a), statistics.median(b)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=25, help="timed rounds per case")
    parser.add_argument(
        "--backend",
        default="reference",
        choices=("reference", "numba", "auto"),
        help="rnnlab implementation to time (default: the reference math of rnnlab.cells)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for both sides (default: NumPy's BLAS thread count); 1 gives steadier "
        "figures on a shared, oversubscribed machine",
    )
    args = parser.parse_args(argv)
    if args.threads is not None:
        threadpool_limits(limits=args.threads, user_api="blas")
    threads = blas_threads()
    torch.set_num_threads(threads)
    print(
        f"rnnlab backend {args.backend!r}, numpy {np.__version__}, torch {torch.__version__}, "
        f"float32, {threads} thread(s) "
        f"(NumPy BLAS = torch intra-op), median of {args.rounds} interleaved rounds"
    )
    header = (
        f"{'cell':<5} {'(T,B,I,H)':<16} {'pass':<17} {'rnnlab ms':>10} {'torch ms':>9} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for size in SIZES:
        for name, cls, extra in CELLS:
            layer, module, x, dy = make_pair(cls, extra, size, args.backend)
            ours, theirs = rnnlab_steps(layer, x, dy), torch_steps(module, x, dy)
            for k, what in enumerate(("forward", "forward+backward")):
                a, b = interleaved_medians(ours[k], theirs[k], args.rounds)
                shape = str(size).replace(" ", "")
                print(
                    f"{name:<5} {shape:<16} {what:<17} {1e3 * a:>10.3f} {1e3 * b:>9.3f} "
                    f"{a / b:>6.2f}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
