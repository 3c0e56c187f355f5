"""Music: next-step prediction on piano rolls of Bach's chorales (music21's corpus).

Each chorale becomes a piano roll sampled at every quarter note: (T, 88) with 1 where a key
(MIDI 21..108, the piano's range) sounds at that beat. The model reads step t and predicts
step t + 1 with an independent sigmoid per key; the score is the negative log-likelihood per
time step (natural log, summed over the 88 keys, averaged over steps), as in
Boulanger-Lewandowski et al. (2012) and Chung et al. (2014), whose JSB Chorales figures are
printed beside ours (see docs/apps.md for how the data differ).

Parsing the 433 files takes minutes, so the rolls are cached in a compressed ``.npz`` (in
``$RNNLAB_CACHE`` or ``~/.cache/rnnlab``); the corpus's encodings are music21's to
distribute, not ours, so the cache is built on the user's machine rather than shipped.
"""

from __future__ import annotations

import io as stdio
import itertools
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .. import io
from ..data import as_rng
from ._common import fit_with_adam, require

__all__ = [
    "CHUNG_2014_JSB_TEST_NLL",
    "KEYS",
    "LOWEST_KEY",
    "frame_nll",
    "load_chorales",
    "piano_roll",
    "sample_roll",
    "sigmoid_nll",
    "split_chorales",
    "write_midi",
]

LOWEST_KEY = 21  # A0
KEYS = 88
#: Chung et al. (2014), Table 2, JSB Chorales test NLL per step, ~20k-parameter models
#: (tanh units, GRU, LSTM).
CHUNG_2014_JSB_TEST_NLL = {"rnn": 9.10, "gru": 8.54, "lstm": 8.67}
CACHE_VERSION = 1


def cache_dir() -> Path:
    """Where extracted data are cached: ``$RNNLAB_CACHE`` or ``~/.cache/rnnlab``."""
    return Path(os.environ.get("RNNLAB_CACHE") or Path.home() / ".cache" / "rnnlab")


def piano_roll(score: Any) -> np.ndarray:
    """A music21 score -> (T, 88) uint8, a key on at beat t when a note covers [t, t + 1).

    A note from offset a to b (quarter lengths) sounds at the beats ceil(a) .. ceil(b) - 1;
    grace notes (no duration) are dropped.
    """
    steps = math.ceil(float(score.highestTime))
    roll = np.zeros((steps, KEYS), np.uint8)
    for note in score.flatten().notes:
        start = float(note.offset)
        end = start + float(note.quarterLength)
        for pitch in note.pitches:
            key = int(pitch.midi) - LOWEST_KEY
            if 0 <= key < KEYS:
                roll[math.ceil(start) : math.ceil(end), key] = 1
    return roll


def _parse_all(limit: int | None) -> tuple[list[np.ndarray], list[str]]:
    corpus = require("music21", "the Bach chorales").corpus
    paths = sorted(corpus.getComposer("bach"), key=lambda p: Path(p).name)
    if limit is not None:
        paths = paths[:limit]
    rolls, names = [], []
    for path in paths:
        roll = piano_roll(corpus.parse(path))
        if roll.shape[0] >= 2 and roll.any():
            rolls.append(roll)
            names.append(Path(path).name)
    return rolls, names


def load_chorales(limit: int | None = None, *, cache: bool = True) -> tuple[list, list[str]]:
    """Piano rolls of music21's Bach chorales, sorted by file name.

    Parameters
    ----------
    limit : parse only the first ``limit`` files (tests); None takes all 433.
    cache : read and write the extracted rolls in :func:`cache_dir`.

    Returns
    -------
    rolls : list of (T_i, 88) uint8 arrays, names : their file names (e.g. "bwv1.6.mxl").
    """
    music21 = require("music21", "the Bach chorales")
    tag = "all" if limit is None else f"first{int(limit)}"
    path = cache_dir() / f"bach_chorales_v{CACHE_VERSION}_m21-{music21.__version__}_{tag}.npz"
    if cache and path.is_file():
        with np.load(path, allow_pickle=False) as data:
            flat, offsets, names = data["rolls"], data["offsets"], data["names"]
        rolls = [flat[a:b] for a, b in itertools.pairwise(offsets)]
        return rolls, [str(n) for n in names]
    rolls, names = _parse_all(limit)
    if cache:
        offsets = np.cumsum([0] + [len(r) for r in rolls])
        buffer = stdio.BytesIO()
        np.savez_compressed(
            buffer, rolls=np.concatenate(rolls), offsets=offsets, names=np.array(names)
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        io.atomic_write_bytes(path, buffer.getvalue())
    return rolls, names


def split_chorales(rolls: list, names: list[str]) -> tuple[list, list]:
    """(train, test): every fifth chorale in file-name order is a test chorale."""
    train = [r for k, r in enumerate(rolls) if k % 5 != 0]
    test = [r for k, r in enumerate(rolls) if k % 5 == 0]
    return train, test


def windows(rolls: list, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Training pairs (N, length, 88) float32: inputs are steps t, targets steps t + 1.

    Each chorale is cut into non-overlapping windows of ``length`` + 1 steps (its last,
    shorter piece is dropped; shorter chorales give none).
    """
    pieces = [r[s : s + length + 1] for r in rolls for s in range(0, len(r) - length, length)]
    if not pieces:
        raise ValueError(f"rolls: no chorale is longer than the window ({length} steps)")
    data = np.stack(pieces).astype(np.float32)
    return data[:, :-1], data[:, 1:]


def sigmoid_nll(
    logits: ArrayLike, target: ArrayLike, mask: ArrayLike | None = None
) -> tuple[float, np.ndarray]:
    """Negative log-likelihood per step of independent Bernoulli keys, and its gradient.

    loss = mean over steps of sum over keys of -[y log σ(z) + (1 - y) log(1 - σ(z))];
    d loss / dz = (σ(z) - y) / steps. ``mask`` (T, B) or (B, T): steps that count.
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    # log(1 + exp(-|z|)) + max(z, 0) - y z: the stable form of the two log terms
    per_key = np.logaddexp(0.0, -np.abs(z)) + np.maximum(z, 0.0) - y * z
    weight = np.ones(z.shape[:-1]) if mask is None else np.asarray(mask, dtype=np.float64)
    steps = max(float(weight.sum()), 1.0)
    loss = float((per_key.sum(-1) * weight).sum() / steps)
    sigma = 0.5 * (1.0 + np.tanh(0.5 * z))
    grad = (sigma - y) * weight[..., None] / steps
    return loss, grad.astype(np.asarray(logits).dtype)


def frame_nll(model: Any, rolls: list) -> float:
    """NLL per step over whole chorales (each read from its first beat), in eval mode."""
    from ..grad_mode import no_grad

    total, steps = 0.0, 0
    model.eval()
    with no_grad():
        for roll in rolls:
            x = roll[:-1, None, :].astype(model.dtype)  # (T, 1, 88)
            loss, _ = sigmoid_nll(model.forward(x), roll[1:, None, :])
            total += loss * (len(roll) - 1)
            steps += len(roll) - 1
    model.train()
    return total / steps


def sample_roll(
    model: Any, start: ArrayLike, steps: int, *, seed: int | np.random.Generator | None = None
) -> np.ndarray:
    """Continue the (T0, 88) roll ``start`` by ``steps`` beats sampled key by key."""
    rng = as_rng(seed)
    start = np.asarray(start, dtype=model.dtype)
    model.eval()
    logits = model.forward(start[:, None, :])[-1]  # (1, 88)
    state = model.final_state
    out = [start]
    for _ in range(steps):
        p = 0.5 * (1.0 + np.tanh(0.5 * logits.astype(np.float64)))
        beat = (rng.random(p.shape) < p).astype(model.dtype)  # (1, 88)
        out.append(beat)
        logits = model.forward(beat[None], state)[-1]
        state = model.final_state
    model.train()
    return np.concatenate(out).astype(np.uint8)


def write_midi(roll: ArrayLike, path: str | os.PathLike, *, tempo_bpm: int = 80) -> Path:
    """Write a (T, 88) piano roll as a one-track MIDI file, one beat per step."""
    mido = require("mido", "MIDI files")
    roll = np.asarray(roll)
    ticks = 480
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo_bpm), time=0))
    previous = np.zeros(KEYS, dtype=bool)
    wait = 0
    for beat in [*roll.astype(bool), np.zeros(KEYS, dtype=bool)]:
        for key in np.flatnonzero(previous & ~beat):
            track.append(mido.Message("note_off", note=int(key) + LOWEST_KEY, time=wait))
            wait = 0
        for key in np.flatnonzero(beat & ~previous):
            track.append(
                mido.Message("note_on", note=int(key) + LOWEST_KEY, velocity=72, time=wait)
            )
            wait = 0
        previous = beat
        wait += ticks
    # the loop's closing empty beat only turns notes off: the file lasts len(roll) beats
    track.append(mido.MetaMessage("end_of_track", time=wait - ticks))
    midi = mido.MidiFile(ticks_per_beat=ticks)
    midi.tracks.append(track)
    buffer = stdio.BytesIO()
    midi.save(file=buffer)
    path = Path(path)
    io.atomic_write_bytes(path, buffer.getvalue())
    return path


#: About 20k parameters per model, as in Chung et al. (2014).
PARAMETER_BUDGET = 20_000


def train_chorales(
    *,
    cell: str | None = None,
    hidden: int | None = None,
    steps: int = 2000,
    lr: float = 1e-2,
    window: int = 32,
    batch_size: int = 32,
    seed: int = 0,
    limit: int | None = None,
    progress: bool = False,
) -> tuple[object, dict]:
    """Train tanh-RNN, GRU and LSTM (or ``cell`` alone) at ~20k parameters each on windows of
    the training chorales; score NLL per step on the whole test chorales.

    Returns (the GRU, or ``cell``'s model; result with every cell's NLL and a sampled roll).
    """
    rolls, names = load_chorales(limit)
    train, test = split_chorales(rolls, names)
    X, Y = windows(train, window)
    cells = ("rnn", "gru", "lstm") if cell is None else (cell,)
    results, models = {}, {}
    for name in cells:
        options = {"steps": steps, "lr": lr, "batch_size": batch_size, "progress": progress}
        models[name], results[name] = _train_cell(name, hidden, X, Y, train, test, seed, options)
    main = "gru" if "gru" in models else cells[0]
    sample = sample_roll(models[main], test[0][:8], 56, seed=seed)
    return models[main], {
        "kind": "music",
        "cell": main,
        "nll": results[main]["nll"],
        "cells": results,
        "baseline_nll": _marginal_nll(train, test),
        "baseline": "each key on with its training frequency, ignoring the past",
        "train_chorales": len(train),
        "test_chorales": len(test),
        "train_windows": len(X),
        "test_steps": int(sum(len(r) - 1 for r in test)),
        "loss_curve": results[main]["loss_curve"],
        "sample_roll": sample.tolist(),
    }


def _train_cell(
    cell: str, hidden: int | None, X: np.ndarray, Y: np.ndarray, train: list, test: list,
    seed: int, options: dict,
) -> tuple[Any, dict]:  # fmt: skip
    """One cell at ~20k parameters (or ``hidden``), trained on the windows, scored whole."""
    from ._common import hidden_for_budget, make_layer, subsample

    size = hidden or hidden_for_budget(cell, KEYS, KEYS, PARAMETER_BUDGET)
    rng = np.random.default_rng([seed, {"rnn": 1, "gru": 2, "lstm": 3}[cell]])
    model = make_layer(cell, KEYS, size, KEYS, seed=rng)
    batch_size = options["batch_size"]
    fitted = fit_with_adam(
        model,
        X,
        Y,
        loss=sigmoid_nll,
        lr=options["lr"],
        epochs=max(1, -(-options["steps"] * batch_size // len(X))),  # about ``steps`` updates
        batch_size=batch_size,
        seed=rng,
        targets="steps",
        progress=options["progress"],
    )
    return model, {
        "nll": frame_nll(model, test),
        "train_nll": frame_nll(model, train),
        "hidden": size,
        "parameters": model.num_parameters(),
        "paper_test_nll": CHUNG_2014_JSB_TEST_NLL[cell],
        "loss_curve": subsample(fitted.step_loss),
    }


def _marginal_nll(train: list, test: list) -> float:
    """NLL per step of independent keys with their training frequencies (no model of time)."""
    p = np.clip(np.concatenate(train).mean(axis=0), 1e-4, 1 - 1e-4)
    frames = np.concatenate([r[1:] for r in test]).astype(np.float64)
    return float(-(frames * np.log(p) + (1 - frames) * np.log(1 - p)).sum(axis=1).mean())


def generate_chorale(
    model: Any, info: dict, path: str | os.PathLike, *, beats: int = 64, seed: int = 0
) -> Path:
    """Sample ``beats`` beats after the 8 opening beats of the test chorale saved in ``info``
    (a checkpoint's task description) and write them, opening included, as MIDI."""
    opening = np.asarray(info["sample_roll"], dtype=np.uint8)[:8]
    return write_midi(sample_roll(model, opening, beats, seed=seed), path)
