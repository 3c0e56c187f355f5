"""Finite-difference helpers for the model tests, on top of tests/conftest.py (float64, central
differences; the tolerances are conftest's named constants).

The loss is always L = Σ y ⊙ R (+ terms on final states): a random weight per output entry, so
that every entry of dy differs and a transposed or misplaced gradient cannot cancel out.
"""

from __future__ import annotations

import numpy as np

from tests.conftest import (
    GRADCHECK_EPS,
    GRADCHECK_RTOL,
    TORCH_FLOAT32_RTOL,
    TORCH_FLOAT64_ATOL,
    _numeric_gradient,
    assert_gradients_match,
    numeric_gradient_at,
    randomize_params,
    rel_error,
)

__all__ = [
    "GRADCHECK_RTOL",
    "TORCH_FLOAT32_RTOL",
    "TORCH_FLOAT64_ATOL",
    "assert_gradients_match",
    "gradcheck_params",
    "numeric_gradient",
    "numeric_gradient_at",
    "randomize",
    "rel_error",
]


def numeric_gradient(loss_of, array, eps=GRADCHECK_EPS):
    """Central differences of ``loss_of()`` with respect to every entry of ``array`` (in place)."""
    return _numeric_gradient(loss_of, array, eps)


def randomize(module, rng, scale=0.5):
    """Random values in every parameter (biases too: zero biases hide dropped bias terms)."""
    randomize_params(module, rng, scale)


def gradcheck_params(module, loss_of, run_backward, extra=None):
    """Analytic gradients (``run_backward()`` after zero_grad) against numeric ones.

    ``loss_of()`` runs a forward and returns L; ``run_backward()`` runs forward + backward and
    returns a dict of analytic gradients for the arrays in ``extra`` (name -> array).
    """
    module.zero_grad()
    analytic_extra = run_backward()
    checked = {
        name: (module.grads[name].copy(), numeric_gradient(loss_of, p))
        for name, p in module.params.items()
    }
    for name, array in (extra or {}).items():
        checked[name] = (np.asarray(analytic_extra[name]), numeric_gradient(loss_of, array))
    return checked
