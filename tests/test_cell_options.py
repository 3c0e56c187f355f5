"""Gradient checks of every reference cell with its options: lengths (masks) and zoneout masks.

Central differences in float64 over x, h0, C0 and every parameter, with a loss that also reads
the final state (so the final-state gradients dh_final / dC_final are exercised), on tiny sizes
including T = B = H = 1.
"""

import numpy as np
import pytest

from rnnlab.cells import (
    gru_backward,
    gru_forward,
    gru_ln_backward,
    gru_ln_forward,
    lstm_backward,
    lstm_forward,
    lstm_ln_backward,
    lstm_ln_forward,
    rnn_backward,
    rnn_forward,
)
from tests.conftest import GRADCHECK_EPS, GRADCHECK_RTOL, _numeric_gradient, rel_error

SIZES = [(1, 1, 1, 1), (4, 3, 2, 3)]  # (T, B, I, H)


def numeric_gradient(loss, arr):
    """Central differences of ``loss()`` over every entry of ``arr`` (the shared helper)."""
    return _numeric_gradient(loss, arr, GRADCHECK_EPS)


class Problem:
    """Random inputs, parameters and loss weights for one cell."""

    def __init__(self, cell, sizes, reset_after=False, seed=1):
        rng = np.random.default_rng(seed)
        T, B, I, H = sizes
        G = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
        self.x = rng.standard_normal((T, B, I))
        self.h0 = rng.standard_normal((B, H))
        self.C0 = rng.standard_normal((B, H))
        self.W = rng.standard_normal((G * H, I))
        self.U = 0.7 * rng.standard_normal((G * H, H))
        self.b = rng.standard_normal(G * H)
        self.b_hn = rng.standard_normal(H) if reset_after else None
        norm_sizes = [G * H] * 4 + ([H, H] if cell == "lstm" else [])
        self.ln = [
            (1.0 if k % 2 == 0 else 0.0) + 0.3 * rng.standard_normal(n)
            for k, n in enumerate(norm_sizes)
        ]
        self.R = rng.standard_normal((T, B, H))
        self.R_h, self.R_C = rng.standard_normal((B, H)), rng.standard_normal((B, H))
        self.lengths = None if B == 1 else np.array([T, 1, max(T - 2, 1)])
        self.keep = [(rng.random((T, B, H)) < 0.4).astype(float) for _ in range(2)]


def run_case(prob, forward, backward, arrays, has_C):
    def loss():
        h, cache = forward()
        total = (h * prob.R).sum() + (cache.h[-1] * prob.R_h).sum()
        return total + ((cache.C[-1] * prob.R_C).sum() if has_C else 0.0)

    _, cache = forward()
    analytic = backward(cache)
    assert len(analytic) == len(arrays)
    for k, (arr, grad) in enumerate(zip(arrays, analytic, strict=True)):
        assert grad.shape == arr.shape
        err = rel_error(grad, numeric_gradient(loss, arr))
        assert err < GRADCHECK_RTOL, f"argument {k}: relative error {err:.2e}"


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("masked", [False, True])
def test_rnn(sizes, masked):
    p = Problem("rnn", sizes)
    lengths = p.lengths if masked else None

    def backward(cache):
        dx, dh0, grads = rnn_backward(p.R, p.R_h, cache, p.W, p.U, lengths)
        return [dx, dh0, *grads]

    forward = lambda: rnn_forward(p.x, p.h0, p.W, p.U, p.b, lengths)  # noqa: E731
    run_case(p, forward, backward, [p.x, p.h0, p.W, p.U, p.b], has_C=False)


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("zoneout", [False, True])
@pytest.mark.parametrize("layer_norm", [False, True])
def test_lstm(sizes, masked, zoneout, layer_norm):
    p = Problem("lstm", sizes)
    opts = {"lengths": p.lengths if masked else None, "zoneout": tuple(p.keep) if zoneout else None}
    norm = (p.ln,) if layer_norm else ()
    fwd, bwd = (lstm_ln_forward, lstm_ln_backward) if layer_norm else (lstm_forward, lstm_backward)

    def backward(cache):
        dx, dh0, dC0, grads = bwd(p.R, p.R_h, p.R_C, cache, p.W, p.U, *norm, **opts)
        return [dx, dh0, dC0, *grads]

    forward = lambda: fwd(p.x, p.h0, p.C0, p.W, p.U, p.b, *norm, **opts)  # noqa: E731
    arrays = [p.x, p.h0, p.C0, p.W, p.U, p.b, *(p.ln if layer_norm else [])]
    run_case(p, forward, backward, arrays, has_C=True)


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("zoneout", [False, True])
@pytest.mark.parametrize("layer_norm", [False, True])
@pytest.mark.parametrize("reset_after", [False, True])
def test_gru(sizes, masked, zoneout, layer_norm, reset_after):
    p = Problem("gru", sizes, reset_after)
    opts = {"lengths": p.lengths if masked else None, "zoneout": p.keep[0] if zoneout else None}
    norm = (p.ln,) if layer_norm else ()
    fwd, bwd = (gru_ln_forward, gru_ln_backward) if layer_norm else (gru_forward, gru_backward)

    def backward(cache):
        dx, dh0, grads = bwd(p.R, p.R_h, cache, p.W, p.U, *norm, reset_after, **opts)
        return [dx, dh0, *grads]

    forward = lambda: fwd(p.x, p.h0, p.W, p.U, p.b, p.b_hn, *norm, **opts)  # noqa: E731
    arrays = [p.x, p.h0, p.W, p.U, p.b, *([p.b_hn] if reset_after else [])]
    arrays += p.ln if layer_norm else []
    run_case(p, forward, backward, arrays, has_C=False)


def test_keep_mask_of_ones_freezes_the_state():
    """K = 1 everywhere: the state never moves and no gradient reaches the parameters."""
    p = Problem("lstm", (3, 2, 2, 2))
    ones = np.ones_like(p.R)
    h, cache = lstm_forward(p.x, p.h0, p.C0, p.W, p.U, p.b, zoneout=(ones, ones))
    np.testing.assert_array_equal(h, np.broadcast_to(p.h0, h.shape))
    np.testing.assert_array_equal(cache.C[-1], p.C0)
    _, dh0, dC0, grads = lstm_backward(p.R, None, None, cache, p.W, p.U, zoneout=(ones, ones))
    np.testing.assert_allclose(dh0, p.R.sum(axis=0), rtol=1e-14)
    np.testing.assert_array_equal(dC0, 0.0)
    for g in grads:
        np.testing.assert_array_equal(g, 0.0)
