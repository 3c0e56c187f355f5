"""Section 7: the guide's example applications, trained briefly.

- sine: next-step prediction of sin(0.1 t) (the guide's code example);
- sunspots: next-year prediction of the yearly sunspot number, scored on the last 20% of the
  years against the persistence forecast ("next year = this year");
- text: a character model of Python's own documentation, scored in bits per character against
  the unigram entropy, with a generated sample.

The trainers here are also what ``rnnlab train`` runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .. import losses
from ..data import (
    CharVocab,
    as_rng,
    char_batches,
    load_pydoc_text,
    load_sunspots,
    make_windows,
    sine_windows,
    split_series,
)
from ..optim import clip_grad_norm
from .training import (
    GRADIENT_CLIP,
    make_layer,
    make_optimizer,
    many_to_one_step,
)


def _time_major(*arrays):
    """Data sets are samples-first (N, T, ...); the hand-written loops here feed the layers
    time-major (T, N, ...)."""
    return tuple(np.ascontiguousarray(np.swapaxes(a, 0, 1)) for a in arrays)


def _progress(steps, desc, progress):
    from tqdm.auto import tqdm

    return tqdm(range(steps), desc=desc, disable=not progress, unit="step", leave=False)


def train_sine(cell="gru", hidden=32, steps=300, window=40, seed=0, progress=False):
    """Many-to-many next-step training on random sine windows; returns (layer, result dict)."""
    rng = as_rng(seed)
    layer = make_layer(cell, 1, hidden, 1, seed=rng)
    optimizer = make_optimizer(layer, 1e-2)
    for _ in _progress(steps, "sine", progress):
        x, y = _time_major(*sine_windows(32, window, seed=rng, dtype=np.float32))
        _, dy = losses.mse(layer.forward(x), y)
        layer.zero_grad()
        layer.backward(dy)
        clip_grad_norm(layer.grads, GRADIENT_CLIP)
        optimizer.step()
    x, y = _time_major(
        *sine_windows(128, window, seed=np.random.default_rng([seed, 7]), dtype=np.float32)
    )
    prediction = layer.forward(x)
    skip = 5  # the first steps have almost no context
    rmse = float(np.sqrt(np.mean((prediction[skip:] - y[skip:]) ** 2)))
    persistence = float(np.sqrt(np.mean((x[skip:] - y[skip:]) ** 2)))
    return layer, {
        "rmse": rmse,
        "persistence_rmse": persistence,
        "plot": {"target": y[:, 0, 0].tolist(), "prediction": prediction[:, 0, 0].tolist()},
    }


def train_forecaster(
    series,
    *,
    cell="gru",
    hidden=32,
    window=20,
    steps=300,
    batch_size=32,
    lr=1e-2,
    seed=0,
    fraction=0.8,
    progress=False,
    desc="series",
):
    """Next-value forecaster on a 1-D series, standardised with the training part's statistics.

    The last ``1 - fraction`` of the series is held out (its windows may look back into the
    training years, as a forecaster would). Returns (layer, result dict) with RMSE in the
    series' own units against persistence.
    """
    series = np.asarray(series, dtype=np.float64)
    train, _ = split_series(series, fraction)
    mean, std = float(train.mean()), float(train.std() or 1.0)
    scaled = ((series - mean) / std).astype(np.float32)
    x_all, y_all = make_windows(scaled, window)  # (N, W, 1), (N, 1)
    x_all = _time_major(x_all)[0]  # (W, N, 1): the loop below feeds the layer directly
    cut = train.size - window  # windows whose target lies in the training part
    if cut < 1 or cut >= y_all.shape[0]:
        raise ValueError(
            f"series: {series.size} values leave no training or test windows for window {window}"
        )
    rng = as_rng(seed)
    layer = make_layer(cell, 1, hidden, 1, seed=rng)
    optimizer = make_optimizer(layer, lr)
    history = []
    for _ in _progress(steps, desc, progress):
        pick = rng.integers(0, cut, size=batch_size)
        loss, _ = many_to_one_step(layer, x_all[:, pick], y_all[pick], "mse", optimizer)
        history.append(loss)
    layer.eval()
    prediction = layer.forward(x_all[:, cut:])[-1, :, 0] * std + mean
    target = y_all[cut:, 0] * std + mean
    persistence = x_all[-1, cut:, 0] * std + mean
    return layer, {
        "rmse": float(np.sqrt(np.mean((prediction - target) ** 2))),
        "persistence_rmse": float(np.sqrt(np.mean((persistence - target) ** 2))),
        "mean": mean,
        "std": std,
        "window": window,
        "test_points": int(target.size),
        "final_loss": float(np.mean(history[-max(1, steps // 10) :])),
        "loss_curve": subsample(history),
        "context": [*x_all[:, -1, 0].tolist(), float(y_all[-1, 0])],  # last window + 1, scaled
        "plot": {"target": target.tolist(), "prediction": prediction.tolist()},
    }


def train_sunspots(cell="gru", hidden=32, steps=300, seed=0, progress=False):
    years, values = load_sunspots()
    layer, result = train_forecaster(
        values, cell=cell, hidden=hidden, steps=steps, seed=seed, progress=progress, desc="sunspots"
    )
    result["plot"]["years"] = years[-result["test_points"] :].tolist()
    return layer, result


def subsample(values, points=50):
    """At most ``points`` means of consecutive chunks: a loss curve small enough for JSON."""
    every = max(1, len(values) // points)
    return [float(np.mean(values[i : i + every])) for i in range(0, len(values), every)]


def one_hot(ids, size, dtype=np.float32):
    out = np.zeros((*ids.shape, size), dtype=dtype)
    np.put_along_axis(out, ids[..., None], 1.0, axis=-1)
    return out


def train_text(
    text,
    *,
    cell="gru",
    hidden=128,
    steps=200,
    seq_len=50,
    batch_size=32,
    lr=5e-3,
    seed=0,
    progress=False,
):
    """Next-character model with one-hot inputs; returns (layer, vocab, result dict)."""
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    cut = int(ids.size * 0.9)
    rng = as_rng(seed)
    layer = make_layer(cell, len(vocab), hidden, len(vocab), seed=rng)
    optimizer = make_optimizer(layer, lr)
    history = []
    for _ in _progress(steps, "text", progress):
        inputs, targets = _time_major(*char_batches(ids[:cut], seq_len, batch_size, seed=rng))
        logits = layer.forward(one_hot(inputs, len(vocab)))
        loss, dlogits = losses.cross_entropy(logits, targets)
        layer.zero_grad()
        layer.backward(dlogits)
        clip_grad_norm(layer.grads, GRADIENT_CLIP)
        optimizer.step()
        history.append(loss)
    layer.eval()
    inputs, targets = _time_major(
        *char_batches(ids[cut:], seq_len, 64, seed=np.random.default_rng([seed, 3]))
    )
    val_loss, _ = losses.cross_entropy(layer.forward(one_hot(inputs, len(vocab))), targets)
    counts = np.bincount(ids[:cut], minlength=len(vocab)) + 1e-12
    p = counts / counts.sum()
    return (
        layer,
        vocab,
        {
            "val_bits_per_char": val_loss / np.log(2),
            "unigram_bits_per_char": float(-(p * np.log2(p)).sum()),
            "final_train_bits_per_char": float(
                np.mean(history[-max(1, steps // 10) :]) / np.log(2)
            ),
            "loss_curve": subsample(history),
            "vocab_size": len(vocab),
            "chars": int(ids.size),
        },
    )


def generate(layer, vocab, prime, length, *, temperature=0.8, seed=0):
    """Sample ``length`` characters after ``prime`` (which must be in the vocabulary)."""
    if not prime:
        raise ValueError("prime: expected at least one character")
    if temperature <= 0:
        raise ValueError(f"temperature: expected a positive number, got {temperature}")
    rng = as_rng(seed)
    was_training = layer.training
    layer.eval()
    logits = layer.forward(one_hot(vocab.encode(prime)[:, None], len(vocab)))[-1]  # (1, V)
    state = layer.final_state
    out = []
    for _ in range(length):
        z = logits[0].astype(np.float64) / temperature
        p = np.exp(z - z.max())
        p /= p.sum()
        nxt = int(rng.choice(len(vocab), p=p))
        out.append(nxt)
        logits = layer.forward(one_hot(np.array([[nxt]]), len(vocab)), state)[-1]
        state = layer.final_state
    layer.train(was_training)
    return prime + vocab.decode(out)


@dataclass(frozen=True)
class AppJob:
    """One example application, run as a job of the same pool as the sweep."""

    app: str  # "sine", "sunspots" or "text"
    seed: int
    steps: int
    hidden: int = 32
    sample_chars: int = 0

    @property
    def key(self) -> tuple:
        return ("app", self.app)

    @property
    def cost(self) -> float:
        per_step = {"sine": 40.0, "sunspots": 20.0, "text": 50.0 * 8 * self.hidden / 32}
        return per_step[self.app] * self.steps

    def run(self) -> dict:
        start = time.perf_counter()
        if self.app == "sine":
            _, result = train_sine(hidden=self.hidden, steps=self.steps, seed=self.seed)
        elif self.app == "sunspots":
            _, result = train_sunspots(hidden=self.hidden, steps=self.steps, seed=self.seed)
        else:
            layer, vocab, result = train_text(
                load_pydoc_text(), hidden=self.hidden, steps=self.steps, seed=self.seed
            )
            result["sample"] = generate(layer, vocab, "def ", self.sample_chars, seed=self.seed)
        return {"app": self.app, **result, "seconds": time.perf_counter() - start}


def make_jobs(config) -> list[AppJob]:
    return [
        AppJob("sine", config.seed, config.app_steps),
        AppJob("sunspots", config.seed, config.app_steps),
        AppJob("text", config.seed, config.text_steps, config.text_hidden, config.sample_chars),
    ]


def collect(results) -> dict:
    by_app = {r["app"]: r for r in results}
    return {**by_app, "verdicts": _verdicts(by_app["sine"], by_app["sunspots"], by_app["text"])}


def _verdicts(sine, sunspots, text):
    out = []
    for name, r in (("Sine prediction", sine), ("Sunspots (yearly)", sunspots)):
        better = r["rmse"] < r["persistence_rmse"]
        out.append(
            {
                "claim": f"{name}: a GRU learns the series (time series example)",
                "measured": f"RMSE {r['rmse']:.4g} vs persistence {r['persistence_rmse']:.4g}",
                "verdict": "confirmed" if better else "refuted",
                "note": "confirmed = beats the persistence forecast on held-out data",
            }
        )
    better = text["val_bits_per_char"] < text["unigram_bits_per_char"]
    out.append(
        {
            "claim": "Character-level text generation with a GRU",
            "measured": f"{text['val_bits_per_char']:.2f} bits/char held out vs unigram "
            f"{text['unigram_bits_per_char']:.2f}",
            "verdict": "confirmed" if better else "refuted",
            "note": "confirmed = beats the character-frequency baseline; see the sample",
        }
    )
    return out
