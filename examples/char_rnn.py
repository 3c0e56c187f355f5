"""A character-level language model on text that ships with Python: ``pydoc_data.topics``.

The model reads one-hot characters and its output head gives, at every step, logits over the
vocabulary for the next character (cross-entropy loss). Afterwards it writes new text by
sampling one character at a time, with a temperature: below 1 is more conservative, above 1
more adventurous. The loss is in nats per character; log(vocabulary) is a model knowing nothing.

    python examples/char_rnn.py                  # LSTM, a few minutes on a laptop CPU
    python examples/char_rnn.py --quick          # seconds, gibberish
    python examples/char_rnn.py --cell gru --epochs 5 --save char.safetensors
"""

from __future__ import annotations

import argparse
import math
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: one BLAS thread is faster

import numpy as np

import rnnlab
from rnnlab import optim

CELLS = {"lstm": rnnlab.LSTMLayer, "gru": rnnlab.GRULayer, "rnn": rnnlab.RNNLayer}


def load_text(num_chars):
    """The stdlib's documentation topics, joined in a fixed order."""
    from pydoc_data.topics import topics

    text = "\n".join(topics[key] for key in sorted(topics))
    return text[:num_chars] if num_chars else text


def windows(ids, num_steps):
    """Non-overlapping windows: inputs ids[k : k+T], targets ids[k+1 : k+T+1]."""
    count = (len(ids) - 1) // num_steps
    x = ids[: count * num_steps].reshape(count, num_steps)
    y = ids[1 : count * num_steps + 1].reshape(count, num_steps)
    return x, y


def sample(model, vocab, prime, length, temperature, rng):
    """Generate ``length`` characters after ``prime``, carrying the recurrent state."""
    index = {c: i for i, c in enumerate(vocab)}
    eye = np.eye(len(vocab), dtype=model.dtype)
    model.eval()
    logits = model.forward(eye[[index[c] for c in prime]][:, None, :])[-1, 0]  # (V,)
    state, out = model.final_state, []
    for _ in range(length):
        z = logits / temperature
        p = np.exp(z - z.max())
        k = int(rng.choice(len(vocab), p=p / p.sum()))
        out.append(vocab[k])
        logits = model.forward(eye[k][None, None, :], state)[-1, 0]
        state = model.final_state
    model.train()
    return prime + "".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cell", default="lstm", choices=sorted(CELLS))
    p.add_argument("--hidden", type=int, default=128, help="the guide's 128")
    p.add_argument("--steps", type=int, default=64, help="characters per training sequence")
    p.add_argument("--chars", type=int, default=150_000, help="text used (0: all 465k)")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--sample-length", type=int, default=300, help="characters per sample")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save", default=None, help="write the trained model here (safetensors)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--quick", action="store_true", help="tiny run: 20k characters, 1 epoch")
    args = p.parse_args(argv)
    if args.quick:
        args.chars, args.epochs, args.hidden = 20_000, 1, 64

    text = load_text(args.chars)
    vocab = sorted(set(text))
    lookup = {c: i for i, c in enumerate(vocab)}
    ids = np.fromiter((lookup[c] for c in text), dtype=np.int64, count=len(text))
    x_ids, Y = windows(ids, args.steps)
    X = np.eye(len(vocab), dtype=np.float32)[x_ids]  # (N, T, V) one-hot
    split = max(1, len(X) // 20)  # 5% held out
    rng = np.random.default_rng(args.seed)
    print(
        f"{len(text):,} characters, vocabulary {len(vocab)} "
        f"(uniform guess: {math.log(len(vocab)):.2f} nats/char), {len(X) - split} training "
        f"sequences of {args.steps}"
    )

    model = CELLS[args.cell](len(vocab), args.hidden, len(vocab), dtype=np.float32, seed=args.seed)
    began = time.perf_counter()
    history = rnnlab.fit(
        model,
        X[split:],
        Y[split:],
        loss="cross_entropy",
        optimizer=optim.Adam(model, lr=args.lr),
        epochs=args.epochs,
        batch_size=args.batch_size,
        validation=(X[:split], Y[:split]),
        seed=rng,
        progress=not args.no_progress,
    )
    seconds = time.perf_counter() - began
    for e, (tr, va) in enumerate(zip(history.loss, history.val_loss, strict=True)):
        print(
            f"  epoch {e + 1}: train {tr:.3f}  validation {va:.3f} nats/char "
            f"({va / math.log(2):.2f} bits/char)"
        )
    print(f"{args.cell.upper()} hidden={args.hidden}: {history.steps} steps in {seconds:.0f} s")
    for temperature in (0.5, 1.0):
        text_out = sample(model, vocab, "The ", args.sample_length, temperature, rng)
        print(f"\n--- sample, temperature {temperature} ---\n{text_out}")
    if args.save:
        model.save(args.save)
        print(f"\nsaved to {args.save}")
    return history


if __name__ == "__main__":
    main()
