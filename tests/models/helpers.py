"""Finite-difference helpers for the model tests (float64, central differences).

The loss is always L = Σ y ⊙ R (+ terms on final states): a random weight per output entry, so
that every entry of dy differs and a transposed or misplaced gradient cannot cancel out.
"""

from __future__ import annotations

import numpy as np

#: central finite differences in float64 against the hand-written backward, relative error.
GRADCHECK_RTOL = 1e-6
#: step of the central differences: truncation ~eps², rounding ~1e-16/eps, both far below rtol.
GRADCHECK_EPS = 1e-6
#: float64 parity with PyTorch (absolute, on O(1) values).
TORCH_FLOAT64_ATOL = 1e-10
#: float32 parity with PyTorch, relative to the largest magnitude of the compared array.
TORCH_FLOAT32_RTOL = 1e-5


def rel_error(actual, expected) -> float:
    """max |actual - expected| / max(|actual|, |expected|), array-wise."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(np.abs(actual).max(initial=0.0), np.abs(expected).max(initial=0.0))
    return 0.0 if scale == 0.0 else float(np.abs(actual - expected).max() / scale)


def numeric_gradient(loss_of, array, eps=GRADCHECK_EPS):
    """Central differences of ``loss_of()`` with respect to every entry of ``array`` (in place)."""
    grad = np.zeros(array.shape, dtype=np.float64)
    flat, grad_flat = array.reshape(-1), grad.reshape(-1)
    assert np.shares_memory(flat, array), "perturbations must reach the array itself"
    for k in range(flat.size):
        saved = flat[k]
        flat[k] = saved + eps
        plus = loss_of()
        flat[k] = saved - eps
        minus = loss_of()
        flat[k] = saved
        grad_flat[k] = (plus - minus) / (2 * eps)
    return grad


def assert_gradients_match(checked: dict, rtol: float = GRADCHECK_RTOL) -> None:
    """``checked``: name -> (analytic, numeric). All within rtol, none identically zero."""
    errors = {name: rel_error(a, n) for name, (a, n) in checked.items()}
    bad = {name: e for name, e in errors.items() if not e < rtol}
    assert not bad, f"gradients off (relative error): {bad}"
    silent = [name for name, (_, n) in checked.items() if not np.any(n)]
    assert not silent, f"numeric gradients identically zero (test has no signal): {silent}"


def randomize(module, rng, scale=0.5):
    """Random values in every parameter (biases too: zero biases hide dropped bias terms)."""
    for p in module.params.values():
        p[...] = scale * rng.standard_normal(p.shape)


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
