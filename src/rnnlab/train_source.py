"""Where ``fit``'s batches come from: fixed arrays (epochs of shuffled mini-batches) or a batch
source (a callable or an iterable yielding fresh batches, for a number of updates).

Both are cut into *epochs*: a pass over the arrays, or ``validate_every`` updates of a source.
After each epoch ``fit`` validates, steps the schedule, checks early stopping and the stall
diagnostic and calls the epoch callbacks, the same way for both.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .train_checks import (
    check_batch,
    check_data,
    check_lengths,
    optional_positive_int,
    positive_int,
)

Batch = tuple[np.ndarray, np.ndarray, "np.ndarray | None"]


class ArrayPlan:
    """``epochs`` passes over (X, Y[, lengths]), in mini-batches of ``batch_size``."""

    is_source = False

    def __init__(self, X: Any, Y: Any, lengths: Any, epochs: Any, batch_size: int, shuffle: Any):
        self.X, self.Y = check_data(X, Y)
        self.lengths = check_lengths("lengths", lengths, self.X)
        self.epochs = positive_int("epochs", 10 if epochs is None else epochs)
        if not isinstance(shuffle, bool):
            raise TypeError(f"shuffle: expected True or False, got {shuffle!r}")
        self.batch_size, self.shuffle = batch_size, shuffle

    def describe(self, epoch: int) -> str:
        return f"epoch {epoch + 1}/{self.epochs}"

    def num_batches(self, epoch: int) -> int:
        return math.ceil(len(self.X) / self.batch_size)

    def batches(self, epoch: int, rng: np.random.Generator) -> Iterator[Batch]:
        n = len(self.X)
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        for s in range(0, n, self.batch_size):
            idx = order[s : s + self.batch_size]
            yield self.X[idx], self.Y[idx], None if self.lengths is None else self.lengths[idx]


class SourcePlan:
    """``updates`` batches from ``source``: ``source(rng)`` per update, or the next item of an
    iterable; an epoch is ``validate_every`` of them (the last one may be shorter)."""

    is_source = True

    def __init__(self, source: Any, updates: Any, validate_every: Any):
        self.draw: Callable[[np.random.Generator], Any] | None = None
        self.iterator: Iterator[Any] | None = None
        if callable(source):
            self.draw = source
            if updates is None:
                raise ValueError(
                    "updates: required with a callable batch source (how many batches to draw, "
                    "one optimiser update each), got None"
                )
        else:
            if updates is None and not hasattr(source, "__len__"):
                raise ValueError(
                    "updates: required with an iterable batch source that has no len(), got None"
                )
            if updates is None:
                updates = len(source)
            self.iterator = iter(source)
        self.updates = positive_int("updates", updates)
        every = optional_positive_int("validate_every", validate_every)
        self.every = every if every is not None else max(1, self.updates // 10)
        self.epochs = math.ceil(self.updates / self.every)
        self.drawn = 0

    def describe(self, epoch: int) -> str:
        return f"updates {epoch * self.every + self.num_batches(epoch)}/{self.updates}"

    def num_batches(self, epoch: int) -> int:
        return min(self.every, self.updates - epoch * self.every)

    def _items(self) -> Iterator[Any]:
        assert self.iterator is not None  # set in __init__ whenever draw is not
        return self.iterator

    def batches(self, epoch: int, rng: np.random.Generator) -> Iterator[Batch]:
        for _ in range(self.num_batches(epoch)):
            try:
                # inside this generator a StopIteration would become a bare RuntimeError
                batch = self.draw(rng) if self.draw is not None else next(self._items())
            except StopIteration:
                raise ValueError(
                    f"source: the {'callable' if self.draw else 'iterable'} ended (StopIteration) "
                    f"after {self.drawn} batches, but updates={self.updates} asked for "
                    f"{self.updates}"
                ) from None
            self.drawn += 1
            yield check_batch(batch, self.drawn)


def make_plan(
    X: Any,
    Y: Any,
    *,
    updates: Any,
    validate_every: Any,
    epochs: Any,
    batch_size: int,
    lengths: Any,
    shuffle: Any,
) -> ArrayPlan | SourcePlan:
    """Arrays (``fit(model, X, Y, epochs=...)``) or a batch source (``fit(model, source,
    updates=N)``); arguments that belong to the other form are refused."""
    is_source = Y is None and (callable(X) or not isinstance(X, np.ndarray))
    if not is_source:
        if Y is None:
            raise ValueError(
                "Y: missing; pass targets (fit(model, X, Y)), or a batch source (a callable "
                "source(rng) -> (X, Y) or an iterable of batches) with updates=N"
            )
        for name, value in (("updates", updates), ("validate_every", validate_every)):
            if value is not None:
                raise ValueError(
                    f"{name}: only with a batch source (fit(model, source, updates=N)); with "
                    f"fixed arrays X, Y use epochs=, got {name}={value!r}"
                )
        return ArrayPlan(X, Y, lengths, epochs, batch_size, shuffle)
    if isinstance(X, str | bytes | dict) or not (callable(X) or hasattr(X, "__iter__")):
        raise TypeError(
            "X: expected an array (N, T, ...), a callable source(rng) -> (X, Y[, lengths]) or an "
            f"iterable of such batches, got {type(X).__name__}"
        )
    refused = {
        "epochs": (epochs is not None, "a batch source runs for updates=N, not epochs"),
        "lengths": (lengths is not None, "give them in each batch: (X, Y, lengths)"),
        "shuffle": (shuffle is not True, "a batch source decides its own order"),
    }
    for name, (given, why) in refused.items():
        if given:
            raise ValueError(f"{name}: not used with a batch source ({why})")
    return SourcePlan(X, updates, validate_every)
