"""``rnnlab demo``: the guide's sine example run through all three layers.

The guide feeds ``sin(0.1 t)`` one (1, 1) step at a time. Here each layer also learns to
predict the next value of the wave with plain gradient descent on its hand-written gradients,
so the demo shows the forward pass, backpropagation through time and learning in a few seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

import numpy as np

from rnnlab import GRULayer, LSTMLayer, RNNLayer

from ._common import non_negative_int, positive_int

if TYPE_CHECKING:
    from ._common import Subparsers

# The guide's code examples: RNN hidden 32, LSTM hidden 64, GRU hidden 48, input 1, output 1.
GUIDE_LAYERS = [("RNN", RNNLayer, 32), ("LSTM", LSTMLayer, 64), ("GRU", GRULayer, 48)]


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser("demo", help="the guide's sine example through RNN, LSTM and GRU")
    p.add_argument(
        "--steps", type=positive_int, default=300, help="gradient-descent steps (default: 300)"
    )
    p.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed for initialisation (default: 0)"
    )
    p.set_defaults(run=run)


def _progress(text: str) -> None:
    # Progress goes to stderr: stdout keeps only the table, for pipes and tests.
    print(text, file=sys.stderr, flush=True)


def sine_batch(
    num_steps: int = 40, batch_size: int = 16, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Windows of sin(0.1 t) with random phases: inputs x(t) and targets x(t+1), (T, B, 1)."""
    rng = np.random.default_rng(seed)
    start = rng.uniform(0, 2 * np.pi / 0.1, size=batch_size)
    t = start[None, :] + np.arange(num_steps + 1)[:, None]
    wave = np.sin(0.1 * t)[..., None]
    return wave[:-1], wave[1:]


def train_next_step(
    layer: RNNLayer | LSTMLayer | GRULayer, steps: int, learning_rate: float = 0.05, seed: int = 0
) -> tuple[float, float]:
    """Plain gradient descent on the mean squared next-step error; returns (first, last) loss."""
    x, target = sine_batch(seed=seed)
    x, target = x.astype(layer.dtype), target.astype(layer.dtype)
    losses = []
    for _ in range(steps):
        y = layer.forward(x)
        err = y - target
        losses.append(float(np.mean(err**2)))
        layer.zero_grad()
        layer.backward(2.0 * err / err.size)
        norm = np.sqrt(sum(float(np.sum(g**2)) for g in layer.grads.values()))
        scale = min(1.0, 5.0 / max(norm, 1e-12))  # the guide's gradient clip at 5.0
        for name, p in layer.params.items():
            p -= learning_rate * scale * layer.grads[name]
    return losses[0], losses[-1]


def run(args: argparse.Namespace) -> int:
    """Run the guide's example through the three layers and train each on the sine wave."""
    _progress(
        "rnnlab demo: the first run on this machine compiles the Numba kernels of each cell "
        "(once, cached afterwards; up to a minute); later runs take seconds."
    )
    sequence = [np.array([[np.sin(t * 0.1)]]) for t in range(10)]  # the guide's sequence
    print("The guide's example: 10 steps of sin(0.1 t), each a (1, 1) matrix.\n")
    header = (
        f"{'layer':<5} {'hidden':>6} {'params':>7} {'output':>10} {'MSE start':>10} "
        f"{'MSE end':>10} {'seconds':>8}"
    )
    print(header)
    print("-" * len(header))
    for name, cls, hidden in GUIDE_LAYERS:
        _progress(f"  {name} (hidden {hidden}): forward, then {args.steps} training steps...")
        layer = cls(input_size=1, hidden_size=hidden, output_size=1, seed=args.seed)
        start = time.perf_counter()
        output = layer.forward(sequence)
        first_call = time.perf_counter() - start
        if first_call > 1.0:
            _progress(
                f"  {name}: the first forward took {first_call:.1f} s (compiling the kernels)"
            )
        start = time.perf_counter()
        first, last = train_next_step(layer, args.steps, seed=args.seed)
        seconds = time.perf_counter() - start
        print(
            f"{name:<5} {hidden:>6} {layer.num_parameters():>7} {output.shape!s:>10} "
            f"{first:>10.5f} {last:>10.5f} {seconds:>8.2f}"
        )
        if isinstance(layer, LSTMLayer):
            layer.forward(sequence)
            final_cell = layer.get_cell_states()[-1]
            print(f"      LSTM final cell state (get_cell_states()[-1]) shape {final_cell.shape}")
    print(
        "\nMSE: next-step prediction of the sine wave, trained by backpropagation through time "
        "with gradient descent (learning rate 0.05, gradient clip 5.0)."
    )
    return 0
