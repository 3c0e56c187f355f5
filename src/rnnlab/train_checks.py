"""``fit``'s argument checks: every argument is validated before the first update.

Data sets are samples-first, (N, T, ...). The checks here raise ``ValueError``/``TypeError``
naming the argument, what was expected and what came, so that a mistake costs no training time.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from . import losses

LossFn = Callable[..., tuple[float, Any]]


def make_rng(seed: Any) -> np.random.Generator:
    """``seed`` as a numpy Generator (a Generator is used, and advanced, in place)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, numbers.Integral) and not isinstance(seed, bool)):
        return np.random.default_rng(None if seed is None else int(seed))
    raise TypeError(f"seed: expected None, an integer or a numpy Generator, got {seed!r}")


def loss_fn(loss: Any) -> LossFn:
    """The loss function named by ``loss`` ("mse", "cross_entropy") or the callable itself."""
    if isinstance(loss, str) and loss == "mse":
        return losses.mse
    if isinstance(loss, str) and loss == "cross_entropy":
        return losses.cross_entropy
    if callable(loss):
        return loss
    raise ValueError(f"loss: expected 'mse', 'cross_entropy' or a callable, got {loss!r}")


def check_data(X: Any, Y: Any, name: str = "X", y_name: str = "Y") -> tuple[np.ndarray, np.ndarray]:
    """Samples-first (X, Y): X (N, T, ...), Y with N samples along axis 0."""
    X, Y = np.asarray(X), np.asarray(Y)
    if X.ndim < 2:
        raise ValueError(f"{name}: expected (N, T, ...) with samples first, got shape {X.shape}")
    if Y.ndim < 1 or len(Y) != len(X):
        hint = ""
        if Y.ndim >= 1 and len(Y) == X.shape[1]:
            # the classic slip: time-major X (T, N, ...) with samples-first targets
            hint = (
                f"; {y_name} has as many rows as {name} has time steps ({X.shape[1]}): data sets "
                f"are samples-first, is {name} time-major (T, N, ...)? Swap its first two axes "
                f"(np.swapaxes({name}, 0, 1))"
            )
        raise ValueError(
            f"{y_name}: expected {len(X)} samples (len of {name}) along axis 0, got shape "
            f"{Y.shape}{hint}"
        )
    if len(X) == 0:
        raise ValueError(f"{name}: expected at least one sample, got shape {X.shape}")
    return X, Y


def check_lengths(name: str, lengths: Any, X: np.ndarray) -> np.ndarray | None:
    """None, or ints (N,) in 1..T as int64."""
    if lengths is None:
        return None
    L = np.asarray(lengths)
    if L.dtype.kind not in "iu" or L.shape != (len(X),):
        raise ValueError(
            f"{name}: expected {len(X)} integers (one per sample), got {L.dtype} {L.shape}"
        )
    if L.size and (L.min() < 1 or L.max() > X.shape[1]):
        raise ValueError(
            f"{name}: expected values in 1..{X.shape[1]} (T), got {L.min()}..{L.max()}"
        )
    return L.astype(np.int64)


def check_validation(validation: Any) -> tuple | None:
    """None, or (X_val, Y_val, lengths_val or None), checked."""
    if validation is None:
        return None
    if not isinstance(validation, tuple | list) or len(validation) not in (2, 3):
        raise TypeError("validation: expected None, (X_val, Y_val) or (X_val, Y_val, lengths_val)")
    Xv, Yv = check_data(validation[0], validation[1], name="validation X", y_name="validation Y")
    lengths = validation[2] if len(validation) == 3 else None
    return Xv, Yv, check_lengths("validation lengths", lengths, Xv)


def positive_int(name: str, value: Any) -> int:
    """A positive integer (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def optional_positive_int(name: str, value: Any) -> int | None:
    """None, or a positive integer (not a bool)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name}: expected None or a positive integer, got {value!r}")
    return int(value)


def check_tbptt(model: Any, tbptt: Any, has_lengths: bool) -> int | None:
    tbptt = optional_positive_int("tbptt", tbptt)
    if tbptt is None:
        return None
    if not hasattr(type(model), "final_state"):
        raise TypeError(f"tbptt: {type(model).__name__} has no final_state to carry over")
    if has_lengths:
        raise ValueError("tbptt: not supported together with lengths (padded batches)")
    return tbptt


def resolve_targets(targets: Any, X: np.ndarray, Y: np.ndarray, tbptt: int | None) -> str:
    """ "steps" (one target per time step) or "last" (one per sequence, read at the last step)."""
    if targets == "auto":
        targets = "steps" if Y.ndim >= 2 and Y.shape[1] == X.shape[1] else "last"
    if targets not in ("steps", "last"):
        raise ValueError(f"targets: expected 'auto', 'steps' or 'last', got {targets!r}")
    if targets == "steps" and (Y.ndim < 2 or Y.shape[1] != X.shape[1]):
        raise ValueError(f"Y: per-step targets need shape (N, {X.shape[1]}, ...), got {Y.shape}")
    if tbptt is not None and targets != "steps":
        raise ValueError("tbptt: truncated BPTT needs per-step targets Y (N, T, ...)")
    return targets


def check_batch(batch: Any, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """One batch from a batch source: (X, Y) or (X, Y, lengths), samples-first."""
    where = f"source batch {index}"
    if not isinstance(batch, tuple | list) or len(batch) not in (2, 3):
        raise TypeError(
            f"{where}: expected a tuple (X, Y) or (X, Y, lengths) of samples-first arrays, "
            f"got {type(batch).__name__}"
        )
    X, Y = check_data(batch[0], batch[1], name=f"{where} X", y_name=f"{where} Y")
    lengths = batch[2] if len(batch) == 3 else None
    return X, Y, check_lengths(f"{where} lengths", lengths, X)
