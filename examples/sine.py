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

import numpy as np

import rnnlab
from rnnlab import optim

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
    p.add_argument(
        "--noise",
        type=float,
        default=0.1,
        help="std of noise added to training inputs: makes the closed loop robust",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save", default=None, help="write the trained model here (safetensors)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    X, Y = sine_waves(args.train_size, args.steps, rng)
    # Noisy inputs, clean targets: the model learns to correct small input errors, which is what
    # it meets when it reads its own (slightly wrong) predictions in closed loop.
    X = X + args.noise * rng.normal(size=X.shape)
    Xv, Yv = sine_waves(128, args.steps, rng)
    model = CELLS[args.cell](1, args.hidden, 1, dtype=np.float64, seed=args.seed)
    began = time.perf_counter()
    history = rnnlab.fit(
        model,
        X,
        Y,
        optimizer=optim.Adam(model, lr=args.lr),
        epochs=args.epochs,
        validation=(Xv, Yv),
        seed=rng,
        progress=not args.no_progress,
    )
    seconds = time.perf_counter() - began
    print(
        f"{args.cell.upper()} hidden={args.hidden}: validation MSE "
        f"{history.val_loss[0]:.4f} after epoch 1 -> {history.val_loss[-1]:.5f} after "
        f"{len(history.loss)} epochs ({history.steps} steps, {seconds:.1f} s)"
    )

    # a fresh wave: one-step predictions, then closed loop (20 steps given, 40 predicted)
    t = np.arange(61) * 0.25
    wave = np.sin(1.1 * t + 0.3)[:, None]
    model.eval()
    one_step = model.forward(wave[:60, None, :])[:, 0, 0]
    model.train()
    generated = closed_loop(model, wave[:20], 40)
    target = wave[21:, 0]
    one_step_mse = float(np.mean((one_step - wave[1:, 0]) ** 2))
    loop_10 = float(np.mean((generated[:10] - target[:10]) ** 2))
    error = float(np.mean((generated - target) ** 2))
    print(f"fresh wave, one step ahead: MSE {one_step_mse:.5f}")
    print(
        f"closed loop (fed its own predictions): MSE {loop_10:.4f} over 10 steps, "
        f"{error:.4f} over 40 (a sine has variance 0.5)"
    )
    if args.save:
        model.save(args.save)
        print(f"saved to {args.save}; reload with rnnlab.load({args.save!r})")
    return history, error


if __name__ == "__main__":
    main()
