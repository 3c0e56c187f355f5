"""Shared tolerances and helpers for rnnlab's tests.

Test modules import from here as ``from tests.conftest import ...`` (``tests`` is a package so
that a ``conftest.py`` in a subdirectory, such as ``tests/gpu/``, can never shadow this one).

Tolerances are named once, here, so that no test quietly loosens its own.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

import numpy as np
from hypothesis import HealthCheck, settings

from rnnlab import GRULayer, LSTMLayer, RNNLayer

# ----------------------------------------------------------------------------- tolerances
#: float64 parity with PyTorch (absolute, on O(1) values): both sides do the same arithmetic up
#: to summation order, so only a few ulps may differ.
TORCH_FLOAT64_ATOL = 1e-10
#: float32 parity with PyTorch, relative to the largest magnitude of the compared array.
TORCH_FLOAT32_RTOL = 1e-5
#: central finite differences in float64 against the hand-written backward, relative error.
GRADCHECK_RTOL = 1e-6
#: step of the central differences: truncation error ~eps², rounding ~1e-16/eps, both << 1e-6.
GRADCHECK_EPS = 1e-6
#: two float64 implementations of the same equations (the guide's notation vs the layer).
ORACLE_FLOAT64_ATOL = 1e-12

#: hypothesis profile for the numeric tests: few examples (2 shared cores), no deadline (the
#: first example pays for imports and BLAS warm-up).
HYPOTHESIS_SETTINGS = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)

# The four cell variants every numeric test runs through: (id, class, extra constructor args).
# LSTM gets a non-zero forget_bias so that b_f's initial value is exercised.
LAYER_VARIANTS = [
    ("rnn", RNNLayer, {}),
    ("lstm", LSTMLayer, {"forget_bias": 0.7}),
    ("gru", GRULayer, {"reset_after": False}),
    ("gru_reset_after", GRULayer, {"reset_after": True}),
]
LAYER_IDS = [v[0] for v in LAYER_VARIANTS]


# ----------------------------------------------------------------------------- helpers
def rel_error(actual, expected) -> float:
    """max |actual - expected| / max(|actual|, |expected|) over the whole array.

    Array-wise rather than element-wise, so that an entry that is zero up to rounding does not
    turn a ~1e-17 absolute difference into a huge relative one.
    """
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(np.max(np.abs(actual), initial=0.0), np.max(np.abs(expected), initial=0.0))
    if scale == 0.0:
        return 0.0
    return float(np.max(np.abs(actual - expected)) / scale)


def randomize_params(layer, rng: np.random.Generator, scale: float = 0.5) -> None:
    """Fill every parameter (biases and b_hn included) with random values, in place.

    The constructor leaves biases at zero; a gradient check at zero biases would not notice a
    backward that drops a bias term from a product.
    """
    for p in layer.params.values():
        p[...] = scale * rng.standard_normal(p.shape)


def random_state(layer, batch_size: int, rng: np.random.Generator, single: bool = False):
    """A random initial state for ``layer``: h0, or (h0, c0) for LSTM; (H,) arrays if single."""
    shape = (layer.hidden_size,) if single else (batch_size, layer.hidden_size)

    def draw():
        return 0.5 * rng.standard_normal(shape).astype(layer.dtype)

    return (draw(), draw()) if layer.has_cell_state else draw()


def layer_loss(layer, x, state, R, R_final=None) -> float:
    """L = Σ y ⊙ R  +  Σ h(T) ⊙ R_h  (+ Σ C(T) ⊙ R_C for LSTM); runs a forward pass.

    ``R_final`` is R_h (RNN, GRU) or a pair (R_h, R_C) for LSTM, either of which may be None.
    """
    y = layer.forward(x, state)
    loss = float(np.sum(y * R))
    if R_final is None:
        return loss
    final = layer.final_state
    if layer.has_cell_state:
        pairs = zip(final, R_final, strict=True)
        return loss + sum(float(np.sum(f * r)) for f, r in pairs if r is not None)
    return loss + float(np.sum(final * R_final))


def numeric_gradient_at(loss_of, array, indices, eps=GRADCHECK_EPS):
    """Central differences of ``loss_of()`` at the flat ``indices`` of ``array`` (in place)."""
    flat = array.reshape(-1)
    assert np.shares_memory(flat, array), "perturbations must reach the array itself"
    grad = np.zeros(len(indices), dtype=np.float64)
    for j, k in enumerate(indices):
        saved = flat[k]
        flat[k] = saved + eps
        plus = loss_of()
        flat[k] = saved - eps
        minus = loss_of()
        flat[k] = saved
        grad[j] = (plus - minus) / (2 * eps)
    return grad


def _numeric_gradient(loss_of, array, eps):
    """Central differences of ``loss_of()`` with respect to every entry of ``array`` (in place)."""
    return numeric_gradient_at(loss_of, array, range(array.size), eps).reshape(array.shape)


def gradcheck_layer(layer, x, state, R, R_final=None, eps=GRADCHECK_EPS):
    """Analytic and numeric gradients of :func:`layer_loss` for every parameter, x and state.

    Returns a dict name -> (analytic, numeric); names are the parameter names, ``"x"``, ``"h0"``
    and for LSTM ``"c0"``. ``layer`` must be float64; x and state are float64 arrays (they are
    perturbed in place and restored).
    """
    assert layer.dtype == np.float64
    layer.zero_grad()
    layer.forward(x, state)
    dx = layer.backward(R, R_final)
    analytic = {name: g.copy() for name, g in layer.grads.items()}
    analytic["x"] = np.asarray(dx)
    initial = layer.grad_initial_state
    states = {}
    if layer.has_cell_state:
        analytic["h0"], analytic["c0"] = initial
        states = {"h0": state[0], "c0": state[1]}
    else:
        analytic["h0"] = initial
        states = {"h0": state}

    def loss_of():
        return layer_loss(layer, x, state, R, R_final)

    checked = {
        name: (analytic[name], _numeric_gradient(loss_of, p, eps))
        for name, p in layer.params.items()
    }
    checked["x"] = (analytic["x"], _numeric_gradient(loss_of, x, eps))
    for name, s in states.items():
        checked[name] = (analytic[name], _numeric_gradient(loss_of, s, eps))
    return checked


def assert_gradients_match(checked: dict, rtol: float = GRADCHECK_RTOL) -> None:
    """Every analytic gradient within ``rtol`` (relative) of its finite-difference estimate."""
    errors = {name: rel_error(a, n) for name, (a, n) in checked.items()}
    bad = {name: e for name, e in errors.items() if not e < rtol}
    assert not bad, f"gradients off (relative error): {bad}"
    # A backward that returns zeros would pass against a loss that ignores the input; make sure
    # every checked gradient actually carries signal.
    silent = [name for name, (_, n) in checked.items() if not np.any(n)]
    assert not silent, f"numeric gradients identically zero (test has no signal): {silent}"


def run_interleaved(work: Callable[[int], None], count: int, switch_s: float = 1e-5) -> None:
    """``work(k)`` for k < ``count``, each on its own thread, with Python switching threads
    every ``switch_s`` seconds (instead of 5 ms) so that their calls interleave."""
    threads = [threading.Thread(target=work, args=(k,)) for k in range(count)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(switch_s)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
