"""Weight initialisation, all driven by an explicit ``numpy.random.Generator``.

- Xavier/Glorot uniform (Glorot & Bengio 2010): U(-a, a), a = sqrt(6 / (fan_in + fan_out)),
  keeps the variance of activations and gradients roughly constant for tanh/sigmoid units.
- He/Kaiming uniform (He et al. 2015): a = sqrt(6 / fan_in), for ReLU-like units.
- Orthogonal (Saxe et al. 2014) for recurrent matrices: all singular values 1, so repeated
  multiplication by U neither shrinks nor blows up h at initialisation.
"""

from __future__ import annotations

import numpy as np

INITIALIZERS = ("xavier", "he")
RECURRENT_INITIALIZERS = ("orthogonal", "xavier", "he")


def xavier_uniform(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    fan_out, fan_in = shape
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def he_uniform(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    fan_in = shape[1]
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=shape)


def orthogonal(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A (rows, cols) matrix with orthonormal rows or columns (QR of a Gaussian matrix)."""
    rows, cols = shape
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    # Fix the signs so that q is uniformly distributed (Mezzadri 2007), not biased by QR's choice.
    q *= np.sign(np.diag(r))
    return q if rows >= cols else q.T


def input_initializer(name: str):
    """The initialiser for input weights by name: ``"xavier"`` or ``"he"``."""
    if name == "xavier":
        return xavier_uniform
    if name == "he":
        return he_uniform
    raise ValueError(f"init: expected one of {INITIALIZERS}, got {name!r}")


def recurrent_initializer(name: str):
    """The initialiser for recurrent weights U by name: ``"orthogonal"``, ``"xavier"`` or ``"he"``.

    Orthogonal is rnnlab's default; Xavier and He are what the guide's tips name for every matrix.
    """
    if name == "orthogonal":
        return orthogonal
    if name in INITIALIZERS:
        return input_initializer(name)
    raise ValueError(f"recurrent_init: expected one of {RECURRENT_INITIALIZERS}, got {name!r}")
