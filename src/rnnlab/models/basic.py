"""Feed-forward building blocks: Dense, Embedding, Dropout and two activations.

All act on the last axis (Dense, Embedding) or elementwise (Dropout, Tanh, ReLU), so they work
the same on time-major (T, B, F), batch-first (B, T, F) and single-sequence (T, F) arrays.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from .. import guards
from ..backend import times_rows, to_device, xp_of
from ..initializers import input_initializer
from ..params import ParamDict
from ..registry import register
from ..validation import check_dtype, check_size
from .base import Module, check_float_input, check_gradient, make_rng

__all__ = ["Dense", "Dropout", "Embedding", "ReLU", "Tanh"]


@register
class Dense(Module):
    """Affine map on the last axis: y = x · Wᵀ + b.

    Parameters
    ----------
    in_features, out_features : positive int
    dtype : float32 (default) or float64.
    seed : int, numpy Generator or None; makes initialisation reproducible.
    init : "xavier" (default) or "he" for W; b starts at zero.

    Shapes: x (..., in_features) -> y (..., out_features); W (out_features, in_features).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        dtype: DTypeLike = np.float32,
        seed: int | np.random.Generator | None = None,
        init: str = "xavier",
    ) -> None:
        self.in_features = check_size("in_features", in_features)
        self.out_features = check_size("out_features", out_features)
        self.dtype = check_dtype(dtype)
        self.init = init
        initializer = input_initializer(init)
        W = initializer(make_rng(seed), (self.out_features, self.in_features))
        self._params = ParamDict(
            W=np.ascontiguousarray(W, dtype=self.dtype),
            b=np.zeros(self.out_features, self.dtype),
        )
        self._grads = ParamDict({k: np.zeros_like(v) for k, v in self._params.items()})
        self._cache = None

    def get_config(self) -> dict:
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "dtype": self.dtype.name,
            "init": self.init,
        }

    @guards.forward_guard
    def forward(self, x: Any) -> Any:
        """x (..., in_features) -> (..., out_features)."""
        x = guards.own(check_float_input("x", x, self.dtype, self.device, self.in_features), x)
        y = x @ self._params["W"].T + self._params["b"]
        self._cache = x
        return y

    @guards.backward_guard
    def backward(self, dy: Any) -> Any:
        """Accumulate dW, db; return dx (..., in_features)."""
        x = self._require_forward()
        expected = (*x.shape[:-1], self.out_features)
        dy = check_gradient("dy", dy, expected, self.dtype, self.device, "the forward output")
        dy_2d = dy.reshape(-1, self.out_features)  # (N, O), N = every leading position
        self._grads["W"] += dy_2d.T @ x.reshape(-1, self.in_features)
        self._grads["b"] += dy_2d.sum(axis=0)
        return times_rows(dy, self._params["W"])


@register
class Embedding(Module):
    """A lookup table of learned vectors, one row of W per token id: y[...] = W[ids[...]].

    Parameters
    ----------
    num_embeddings : positive int, the vocabulary size (ids are 0 .. num_embeddings-1).
    dim : positive int, the vector size.
    dtype, seed : as for :class:`Dense`. Rows start as N(0, 1) draws, as in PyTorch.

    Shapes: ids (...) integer -> y (..., dim); W (num_embeddings, dim). Backward returns None:
    integer ids have no gradient.
    """

    in_features = "ids"

    def __init__(
        self,
        num_embeddings: int,
        dim: int,
        *,
        dtype: DTypeLike = np.float32,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        self.num_embeddings = check_size("num_embeddings", num_embeddings)
        self.dim = check_size("dim", dim)
        self.out_features = self.dim
        self.dtype = check_dtype(dtype)
        W = make_rng(seed).standard_normal((self.num_embeddings, self.dim))
        self._params = ParamDict(W=W.astype(self.dtype))
        self._grads = ParamDict(W=np.zeros_like(self._params["W"]))
        self._cache = None

    def get_config(self) -> dict:
        return {"num_embeddings": self.num_embeddings, "dim": self.dim, "dtype": self.dtype.name}

    def _check_ids(self, ids):
        xp = self._xp()
        if isinstance(ids, str | bytes):
            raise TypeError(
                f"ids: expected an integer array of token ids, got {type(ids).__name__}"
            )
        arr = xp.asarray(ids)
        if arr.dtype.kind not in "iu":
            raise TypeError(
                f"ids: expected an integer array of token ids, got dtype {arr.dtype}; "
                "convert characters or words to ids first (and do not feed floats)"
            )
        if arr.size == 0:
            raise ValueError(f"ids: expected at least one token id, got shape {tuple(arr.shape)}")
        low, high = int(arr.min()), int(arr.max())
        if low < 0 or high >= self.num_embeddings:
            bad = low if low < 0 else high
            raise ValueError(
                f"ids: expected ids in [0, {self.num_embeddings - 1}] (num_embeddings "
                f"{self.num_embeddings}), got {bad}"
            )
        return arr

    @guards.forward_guard
    def forward(self, ids: Any) -> Any:
        """ids (...) integer -> (..., dim)."""
        ids = guards.own(self._check_ids(ids), ids)  # the cache keeps them
        self._cache = ids
        return self._params["W"][ids]

    @guards.backward_guard
    def backward(self, dy: Any) -> Any:
        """Accumulate dW (rows of repeated ids add up); return None."""
        ids = self._require_forward()
        expected = (*ids.shape, self.dim)
        dy = check_gradient("dy", dy, expected, self.dtype, self.device, "the forward output")
        rows, grads = ids.reshape(-1), dy.reshape(-1, self.dim)
        if self.device == "cuda":
            import cupyx

            cupyx.scatter_add(self._grads["W"], rows, grads)
        else:
            # y = W[ids] reads a row once per occurrence, so its gradient is the sum over them;
            # fancy-index += would keep only the last occurrence.
            np.add.at(self._grads["W"], rows, grads)
        return None


@register
class Dropout(Module):
    """Inverted dropout: in training, y = x ⊙ m / (1 - p) with m ~ Bernoulli(1 - p).

    Scaling at training time keeps E[y] = x, so evaluation mode is the plain identity.
    The mask comes from an explicit Generator (``seed``); backward multiplies by the same mask.

    Parameters
    ----------
    p : float in [0, 1), the probability of dropping an element.
    seed : int, numpy Generator or None.
    """

    def __init__(self, p: float = 0.5, *, seed: int | np.random.Generator | None = None) -> None:
        # float | Real tests what Real alone does (a float is one) but lets mypy see float.
        if isinstance(p, bool) or not isinstance(p, float | numbers.Real):
            raise TypeError(f"p: expected a number in [0, 1), got {p!r}")
        if not 0.0 <= p < 1.0:
            raise ValueError(f"p: expected a probability in [0, 1), got {p}")
        self.p = float(p)
        self.rng = make_rng(seed)
        self._cache = None

    def get_config(self) -> dict:
        return {"p": self.p}

    def _own_generators(self) -> dict:
        return {"rng": self.rng}

    @guards.forward_guard
    def forward(self, x: Any) -> Any:
        x = check_float_input("x", x, _float_dtype(x), self.device)
        if not self.training or self.p == 0.0:
            self._cache = (x.shape, None)
            return x
        keep = self.rng.random(x.shape) >= self.p  # drawn on the CPU: one Generator everywhere
        mask = to_device((keep / (1.0 - self.p)).astype(x.dtype), self.device)
        self._cache = (x.shape, mask)
        return x * mask

    @guards.backward_guard
    def backward(self, dy: Any) -> Any:
        shape, mask = self._require_forward()
        dy = check_gradient("dy", dy, shape, _float_dtype(dy), self.device, "the forward output")
        return dy if mask is None else dy * mask

    @property
    def mask(self) -> Any:
        """The scaled mask m / (1 - p) of the last training forward (None in eval mode)."""
        return guards.read_only(self._require_forward()[1])


def _float_dtype(x):
    """The dtype to validate an elementwise module's input against: its own float dtype."""
    dtype = getattr(x, "dtype", None)
    if dtype is not None and np.dtype(dtype) in (np.float32, np.float64):
        return np.dtype(dtype)
    return np.dtype(np.float64)


class _Elementwise(Module):
    def get_config(self) -> dict:
        return {}

    def _f(self, x: Any) -> Any:
        raise NotImplementedError

    def _df(self, x: Any, y: Any) -> Any:
        raise NotImplementedError

    @guards.forward_guard
    def forward(self, x: Any) -> Any:
        x = guards.own(check_float_input("x", x, _float_dtype(x), self.device), x)
        y = self._f(x)
        self._cache = (x, y)
        return guards.read_only(y)  # backward reads y

    @guards.backward_guard
    def backward(self, dy: Any) -> Any:
        x, y = self._require_forward()
        dy = check_gradient("dy", dy, y.shape, y.dtype, self.device, "the forward output")
        return dy * self._df(x, y)


@register
class Tanh(_Elementwise):
    """y = tanh(x); dy/dx = 1 - y²."""

    def _f(self, x):
        return xp_of(x).tanh(x)

    def _df(self, x, y):
        return 1.0 - y * y


@register
class ReLU(_Elementwise):
    """y = max(x, 0); dy/dx = 1 where x > 0, else 0."""

    def _f(self, x):
        return x * (x > 0)

    def _df(self, x, y):
        return (x > 0).astype(x.dtype)
