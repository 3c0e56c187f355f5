"""Pointwise activations shared by the cells, generic over NumPy and CuPy."""

from __future__ import annotations

from ..backend import xp_of


def sigmoid(a):
    """Logistic function σ(a) = 1 / (1 + e^(-a)), without overflow for any finite ``a``.

    ``e = exp(-|a|)`` never overflows; σ(a) = 1/(1+e) for a ≥ 0 and e/(1+e) for a < 0 are the
    same function written so that tiny results keep their relative precision. No clipping of
    ``a``: clipping would change the function being differentiated.
    """
    xp = xp_of(a)
    e = xp.exp(-xp.abs(a))
    return xp.where(a >= 0, 1.0, e) / (1.0 + e)
