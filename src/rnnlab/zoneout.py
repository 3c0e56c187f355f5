"""Zoneout (Krueger et al. 2016): the layer side — rates, and the keep masks each forward draws.

In training mode every hidden unit keeps its previous value with probability p at every step,
``s(t) = K ⊙ s(t-1) + (1 - K) ⊙ s_new`` with K ~ Bernoulli(p), a fresh mask every forward; in
evaluation mode K is the constant p (the expectation). The cells apply K
(:mod:`rnnlab.cells.carry`); this module validates the rates and draws K from an explicit
``numpy.random.Generator`` (never the global random state).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .backend import xp_of


def check_rate(name: str, value) -> float:
    """A zoneout probability in [0, 1) (1 would freeze the state forever)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a probability in [0, 1), got {value!r}")
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name}: expected a probability in [0, 1), got {value}")
    return float(value)


def check_zoneout(value, num_states: int) -> tuple[float, ...]:
    """Rates for each state, from one number or (LSTM) a pair (p_h, p_C).

    Returns a tuple of ``num_states`` rates (h first, then C).
    """
    if isinstance(value, tuple | list):
        if len(value) != num_states or num_states == 1:
            expected = "a probability" if num_states == 1 else "a probability or a pair (p_h, p_C)"
            raise ValueError(f"zoneout: expected {expected}, got {value!r}")
        return tuple(check_rate(f"zoneout[{k}]", v) for k, v in enumerate(value))
    return (check_rate("zoneout", value),) * num_states


def keep_masks(rng: np.random.Generator, rates, shape, dtype, like, training: bool):
    """One keep mask K per state, (T, B, H) arrays of ``dtype`` beside ``like``; None for rate 0.

    Training: K = 1 with probability p (sampled from ``rng``, h's mask before C's); evaluation:
    K = p everywhere, so that the carried state is the expectation of the training one.
    """
    xp = xp_of(like)
    masks: list[Any] = []
    for p in rates:
        if p == 0.0:
            masks.append(None)
        elif training:
            masks.append(xp.asarray((rng.random(shape) < p).astype(dtype)))
        else:
            masks.append(xp.full(shape, p, dtype=dtype))
    return tuple(masks)
