"""Next-step prediction of sine waves: the smallest complete rnnlab training run.

Each sequence is sin(ω t + φ) with a random phase φ and frequency ω; the model reads x(t) and
predicts x(t + 1) at every step (many-to-many). After training it also runs *closed loop*: fed
its own predictions, it continues a wave it has only seen the start of.

    python examples/sine.py
    python examples/sine.py --cell lstm --epochs 20 --save sine.safetensors
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: one BLAS thread is faster

import numpy as np  # noqa: E402

import rnnlab  # noqa: E402
from rnnlab import optim  # noqa: E402

CELLS = {"rnn": rnnlab.RNNLayer, "lstm": rnnlab.LSTMLayer, "gru": rnnlab.GRULayer}


def sine_waves(num_sequences, num_steps, rng, dt=0.25):
    """X (N, T, 1) and Y (N, T, 1) = X shifted one step ahead."""
    t = np.arange(num_steps + 1) * dt
    omega = rng.uniform(0.5, 1.5, (num_sequences, 1))
    phase = rng.uniform(0.0, 2 * np.pi, (num_sequences, 1))
    s = np.sin(omega * t + phase)[..., None]
    return s[:, :-1], s[:, 1:]


def closed_loop(model, prefix, num_steps):
    """Read ``prefix`` (T0, 1), then feed each prediction back as the next input."""
    model.eval()
    y = model.forward(prefix[:, None, :])  # (T0, 1, 1)
    state = model.final_state
    out, x = [], y[-1:]
    for _ in range(num_steps):
        y = model.forward(x, state)
        state = model.final_state
        x = y
        out.append(float(y[0, 0, 0]))
    model.train()
    return np.array(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cell", default="gru", choices=sorted(CELLS), help="the guide: start with GRU")
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--train-size", type=int, default=512)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save", default=None, help="write the trained model here (safetensors)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    X, Y = sine_waves(args.train_size, args.steps, rng)
    Xv, Yv = sine_waves(128, args.steps, rng)
    model = CELLS[args.cell](1, args.hidden, 1, dtype=np.float64, seed=args.seed)
    began = time.perf_counter()
    history = rnnlab.fit(model, X, Y, optimizer=optim.Adam(model, lr=args.lr), epochs=args.epochs,
                         validation=(Xv, Yv), seed=rng, progress=not args.no_progress)
    seconds = time.perf_counter() - began
    print(f"{args.cell.upper()} hidden={args.hidden}: validation MSE "
          f"{history.val_loss[0]:.4f} after epoch 1 -> {history.val_loss[-1]:.5f} after "
          f"{len(history.loss)} epochs ({history.steps} steps, {seconds:.1f} s)")

    # closed loop on a fresh wave: 20 steps given, 40 predicted
    t = np.arange(61) * 0.25
    wave = np.sin(1.1 * t + 0.3)[:, None]
    generated = closed_loop(model, wave[:20], 40)
    error = float(np.mean((generated - wave[21:, 0]) ** 2))
    print(f"closed loop, 40 steps fed with its own predictions: MSE {error:.4f} "
          f"(a wave has variance 0.5)")
    if args.save:
        model.save(args.save)
        print(f"saved to {args.save}; reload with rnnlab.load({args.save!r})")
    return history, error


if __name__ == "__main__":
    main()
