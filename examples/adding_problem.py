"""The adding problem (Hochreiter & Schmidhuber 1997): a test of long-range memory.

Each sequence has T steps of two inputs: a random value in [0, 1] and a marker that is 1 at
exactly two steps (one in each half of the sequence) and 0 elsewhere. The target, read at the
last step, is the sum of the two marked values. Always answering the mean, 1.0, gives a mean
squared error of Var(u1 + u2) = 2/12 ≈ 0.167; getting below 0.05 requires carrying the marked
values across up to T steps. The guide's claim: LSTM and GRU can, a vanilla RNN struggles.

    python examples/adding_problem.py                 # LSTM and GRU, T = 50
    python examples/adding_problem.py --quick         # a small run (seconds)
    python examples/adding_problem.py --cells rnn --steps 20
"""

from __future__ import annotations

import argparse
import os
import time

# The per-step matrices are small: one BLAS thread is faster than several fighting for cores
# (measured 8x on a busy 2-core machine). Set before NumPy loads OpenBLAS; an explicit
# environment setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

import rnnlab
from rnnlab import optim

CELLS = {"rnn": rnnlab.RNNLayer, "lstm": rnnlab.LSTMLayer, "gru": rnnlab.GRULayer}


def adding_problem(num_sequences, num_steps, rng):
    """X (N, T, 2) [value, marker], Y (N, 1) the sum of the two marked values."""
    values = rng.uniform(0.0, 1.0, (num_sequences, num_steps))
    markers = np.zeros((num_sequences, num_steps))
    half = num_steps // 2
    rows = np.arange(num_sequences)
    first = rng.integers(0, half, num_sequences)
    second = rng.integers(half, num_steps, num_sequences)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    X = np.stack([values, markers], axis=-1)
    Y = (values[rows, first] + values[rows, second])[:, None]
    return X, Y


def evaluate(model, X, Y):
    model.eval()
    y = model.forward(X.transpose(1, 0, 2))[-1]  # time-major in, last step out
    model.train()
    return float(np.mean((y - Y) ** 2))


def run(cell, args):
    rng = np.random.default_rng(args.seed)
    X, Y = adding_problem(args.train_size, args.steps, rng)
    Xt, Yt = adding_problem(args.test_size, args.steps, rng)
    model = CELLS[cell](2, args.hidden, 1, dtype=np.float32, seed=args.seed)
    opt = optim.Adam(model, lr=args.lr)
    baseline = float(np.mean((Yt - Y.mean()) ** 2))
    print(
        f"{cell.upper()} T={args.steps} hidden={args.hidden}: predicting the mean gives "
        f"test MSE {baseline:.4f}"
    )
    began = time.perf_counter()
    test_mse = None
    for epoch in range(args.epochs):
        h = rnnlab.fit(
            model,
            X,
            Y,
            optimizer=opt,
            epochs=1,
            batch_size=args.batch_size,
            clip=5.0,
            seed=rng,
            progress=args.progress,
            stall_epochs=0,
        )
        test_mse = evaluate(model, Xt, Yt)
        print(
            f"  epoch {epoch + 1:3d}  train MSE {h.loss[-1]:.4f}  test MSE {test_mse:.4f}  "
            f"|grad| {h.grad_norm[-1]:.3g}  {time.perf_counter() - began:6.1f} s"
        )
        if test_mse < args.target:
            break
    seconds = time.perf_counter() - began
    verdict = "reached" if test_mse < args.target else "did NOT reach"
    print(
        f"{cell.upper()}: {verdict} test MSE < {args.target} ({test_mse:.4f}) after "
        f"{epoch + 1} epochs, {opt.step_count} steps, {seconds:.1f} s"
    )
    return test_mse, seconds


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cells", nargs="+", default=["lstm", "gru"], choices=sorted(CELLS))
    p.add_argument("--steps", type=int, default=50, help="sequence length T (default 50)")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--train-size", type=int, default=10_000)
    p.add_argument("--test-size", type=int, default=1_000)
    p.add_argument("--batch-size", type=int, default=32, help="the guide's 32")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam; the guide's 1e-3")
    p.add_argument("--epochs", type=int, default=30, help="at most; stops at the target")
    p.add_argument("--target", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--progress", action="store_true", help="tqdm bar per epoch")
    p.add_argument("--quick", action="store_true", help="T=10, small data: runs in seconds")
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.train_size, args.test_size, args.hidden = 10, 2000, 500, 32
    results = {cell: run(cell, args) for cell in args.cells}
    return results


if __name__ == "__main__":
    main()
