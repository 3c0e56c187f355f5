"""Synthetic sequence tasks: sine windows, the adding problem and a delayed-recall (copy) task.

Every generator takes an explicit seed (an integer or a numpy Generator) and returns a data set
samples-first, ``(N, T, features)``, the layout ``fit``, ``predict`` and ``evaluate`` take (the
layers themselves are time-major by default; ``fit`` converts). The same seed gives the same
data.
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.typing import DTypeLike

__all__ = ["adding_problem", "as_rng", "copy_task", "sine_windows"]


def as_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """An explicit Generator from ``seed`` (int, Generator or None); never the global state."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, numbers.Integral) and not isinstance(seed, bool)):
        return np.random.default_rng(seed)
    raise TypeError(f"seed: expected None, an integer or a numpy Generator, got {seed!r}")


def _positive(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value}")
    return int(value)


def _samples_first(a: np.ndarray, dtype: DTypeLike) -> np.ndarray:
    """(T, N, ...) as generated -> the data set layout (N, T, ...), contiguous.

    The draws stay in their time-major order, so a seed gives the same numbers as before."""
    return np.ascontiguousarray(np.swapaxes(a, 0, 1), dtype=dtype)


def sine_windows(
    num_windows: int,
    window: int,
    *,
    seed: int | np.random.Generator | None = None,
    step: float = 0.1,
    noise: float = 0.0,
    dtype: DTypeLike = np.float64,
) -> tuple[np.ndarray, np.ndarray]:
    """Windows of sin(step · t) at random phases, with next-step targets.

    The guide's example feeds ``sin(0.1 t)``; the task is to predict x(t+1) from x(1..t).

    Parameters
    ----------
    num_windows : int, the number of windows N
    window : int, steps per window T
    seed : int, Generator or None
    step : float, the angular step between samples (the guide's 0.1)
    noise : float, standard deviation of Gaussian noise added to the inputs only

    Returns
    -------
    x : (N, T, 1) inputs, y : (N, T, 1) targets, y[:, t] = clean wave at t+1
    """
    num_windows = _positive("num_windows", num_windows)
    window = _positive("window", window)
    rng = as_rng(seed)
    start = rng.uniform(0.0, 2 * np.pi / step, size=num_windows)  # (B,)
    t = start[None, :] + np.arange(window + 1)[:, None]  # (T+1, B)
    wave = np.sin(step * t)[..., None]  # (T+1, B, 1)
    x = wave[:-1] + noise * rng.standard_normal(wave[:-1].shape)
    return _samples_first(x, dtype), _samples_first(wave[1:], dtype)


def adding_problem(
    num_sequences: int,
    seq_len: int,
    *,
    seed: int | np.random.Generator | None = None,
    dtype: DTypeLike = np.float64,
) -> tuple[np.ndarray, np.ndarray]:
    """The adding problem (Hochreiter & Schmidhuber 1997, experiment 4).

    Each step carries two inputs: a value drawn uniformly from [0, 1] and a marker. Exactly two
    steps are marked, one in the first half of the sequence and one in the second half; the
    target, read after the last step, is the sum of the two marked values. The first marked value
    must be carried for about T/2 to T steps, which is what makes the task long-term. Predicting
    the mean (1.0) gives a mean squared error of 1/6 (the variance of a sum of two U(0, 1)).

    Returns
    -------
    x : (N, T, 2) [value, marker], y : (N, 1) the sum of the two marked values
    """
    num_sequences = _positive("num_sequences", num_sequences)
    seq_len = _positive("seq_len", seq_len, minimum=2)
    rng = as_rng(seed)
    values = rng.uniform(0.0, 1.0, size=(seq_len, num_sequences))  # (T, B)
    half = seq_len // 2
    first = rng.integers(0, half, size=num_sequences)  # first half
    second = rng.integers(half, seq_len, size=num_sequences)  # second half
    markers = np.zeros_like(values)
    batch = np.arange(num_sequences)
    markers[first, batch] = 1.0
    markers[second, batch] = 1.0
    x = np.stack([values, markers], axis=-1)  # (T, B, 2)
    y = (values[first, batch] + values[second, batch])[:, None]  # (B, 1)
    return _samples_first(x, dtype), y.astype(dtype)


#: Mean squared error of always predicting 1.0 on the adding problem: Var(U1 + U2) = 2/12.
ADDING_BASELINE_MSE = 1.0 / 6.0


def copy_task(
    num_sequences: int,
    seq_len: int,
    *,
    num_symbols: int = 4,
    seed: int | np.random.Generator | None = None,
    dtype: DTypeLike = np.float64,
) -> tuple[np.ndarray, np.ndarray]:
    """Delayed recall: reproduce the first symbol after ``seq_len - 1`` distractor symbols.

    Step 0 shows a symbol (one-hot over ``num_symbols``) with a "remember" flag; every later step
    shows a random distractor symbol from the same alphabet, without the flag. After the last step
    the network must name the first symbol. Chance accuracy is ``1 / num_symbols``; the symbol has
    to survive ``seq_len - 1`` steps of interference.

    Returns
    -------
    x : (N, T, num_symbols + 1) one-hot symbols plus the flag channel, labels : (N,) int64
    """
    num_sequences = _positive("num_sequences", num_sequences)
    seq_len = _positive("seq_len", seq_len)
    num_symbols = _positive("num_symbols", num_symbols, minimum=2)
    rng = as_rng(seed)
    symbols = rng.integers(0, num_symbols, size=(seq_len, num_sequences))  # (T, B)
    x = np.zeros((seq_len, num_sequences, num_symbols + 1), dtype=dtype)
    t_idx, b_idx = np.meshgrid(np.arange(seq_len), np.arange(num_sequences), indexing="ij")
    x[t_idx, b_idx, symbols] = 1.0
    x[0, :, num_symbols] = 1.0  # the "remember this one" flag
    return _samples_first(x, dtype), symbols[0].astype(np.int64)
