"""Zoneout on LSTMLayer and GRULayer: sampled masks in training, the expectation in eval."""

import numpy as np
import pytest

from rnnlab import GRULayer, LSTMLayer, registry
from rnnlab.cells import gru_step_forward, lstm_step_forward
from tests.conftest import GRADCHECK_EPS, GRADCHECK_RTOL, _numeric_gradient, rel_error


def numeric_gradient(loss, arr):
    """Central differences of ``loss()`` over every entry of ``arr`` (the shared helper)."""
    return _numeric_gradient(loss, arr, GRADCHECK_EPS)


def kept_fraction(states, initial):
    """Fraction of units whose state equals the previous step's exactly (zoned out)."""
    previous = np.concatenate([initial[None], states[:-1]])
    return float(np.mean(states == previous))


@pytest.mark.parametrize("cls", [LSTMLayer, GRULayer])
def test_training_masks_keep_units_with_probability_p(cls):
    layer = cls(4, 16, zoneout=0.3, dtype=np.float64, seed=0)
    x = np.random.default_rng(1).standard_normal((30, 20, 4))
    first = layer.forward(x).copy()
    fraction = kept_fraction(layer.hidden_states, np.zeros((20, 16)))
    assert 0.27 < fraction < 0.33  # 9600 Bernoulli(0.3) draws: 5 standard deviations ≈ 0.023
    second = layer.forward(x)
    assert not np.array_equal(first, second)  # a fresh mask every forward


def test_lstm_separate_rates_for_h_and_C():
    layer = LSTMLayer(3, 16, zoneout=(0.0, 0.8), dtype=np.float64, seed=0)
    x = np.random.default_rng(2).standard_normal((20, 10, 3))
    layer.forward(x)
    zeros = np.zeros((10, 16))
    assert kept_fraction(layer.hidden_states, zeros) < 0.01
    assert 0.75 < kept_fraction(layer.cell_states, zeros) < 0.85
    assert layer.get_config()["zoneout"] == [0.0, 0.8]


@pytest.mark.parametrize("cls", [LSTMLayer, GRULayer])
def test_eval_uses_the_expectation(cls):
    """eval: s(t) = p·s(t-1) + (1-p)·s_new, recomputed here step by step from the cell steps."""
    p = 0.25
    layer = cls(3, 5, zoneout=p, dtype=np.float64, seed=3).eval()
    x = np.random.default_rng(4).standard_normal((6, 2, 3))
    y = layer.forward(x)
    np.testing.assert_array_equal(y, layer.forward(x))  # deterministic
    W, U, b = layer._w["W"], layer._w["U"], layer._w["b"]
    P = x @ W.T + b
    h, C = np.zeros((2, 5)), np.zeros((2, 5))
    for t in range(6):
        if cls is LSTMLayer:
            h_new, C_new, _, _ = lstm_step_forward(P[t], h, C, U)
            C = p * C + (1 - p) * C_new
        else:
            h_new, _, _ = gru_step_forward(P[t], h, U)
        h = p * h + (1 - p) * h_new
        np.testing.assert_allclose(y[t], h, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("cls", [LSTMLayer, GRULayer])
def test_gradcheck_with_a_replayed_mask(cls):
    """Training-mode gradients with the sampled mask, replayed by reseeding zoneout_rng."""
    rng = np.random.default_rng(5)
    layer = cls(2, 3, 2, zoneout=0.4, layer_norm=cls is GRULayer, dtype=np.float64, seed=1)
    x, R = rng.standard_normal((4, 2, 2)), rng.standard_normal((4, 2, 2))
    lengths = [4, 3]

    def run():
        layer.zoneout_rng = np.random.default_rng(11)
        return layer.forward(x, lengths=lengths)

    def loss():
        return float((run() * R).sum())

    layer.zero_grad()
    run()
    dx = layer.backward(R)
    assert rel_error(dx, numeric_gradient(loss, x)) < GRADCHECK_RTOL
    for name, p in layer.params.items():
        err = rel_error(layer.grads[name], numeric_gradient(loss, p))
        assert err < GRADCHECK_RTOL, f"{name}: {err:.2e}"


def test_seeded_and_reproducible():
    x = np.random.default_rng(6).standard_normal((5, 3, 2))
    a = LSTMLayer(2, 4, zoneout=0.5, seed=0)
    b = LSTMLayer(2, 4, zoneout=0.5, seed=0)
    np.testing.assert_array_equal(a.forward(x), b.forward(x))
    c = LSTMLayer(2, 4, zoneout=0.5, seed=0, zoneout_seed=1)
    d = LSTMLayer(2, 4, zoneout=0.5, seed=0, zoneout_seed=1)
    y_c = c.forward(x)
    np.testing.assert_array_equal(y_c, d.forward(x))
    assert not np.array_equal(y_c, a.forward(x))
    # The option never changes the weights the seed gives.
    plain = LSTMLayer(2, 4, seed=0)
    for name in plain.params:
        np.testing.assert_array_equal(a.params[name], plain.params[name])


@pytest.mark.parametrize("cls", [LSTMLayer, GRULayer])
def test_zero_rate_is_the_plain_layer(cls):
    x = np.random.default_rng(7).standard_normal((5, 3, 2))
    zoned = cls(2, 4, zoneout=0.0, seed=0)
    np.testing.assert_array_equal(zoned.forward(x), cls(2, 4, seed=0).forward(x))
    assert zoned.zoneout_rng is None


def test_padded_steps_carry_the_state_under_zoneout():
    layer = GRULayer(2, 4, zoneout=0.5, dtype=np.float64, seed=0)
    x = np.random.default_rng(8).standard_normal((6, 2, 2))
    y = layer.forward(x, lengths=[2, 6])
    np.testing.assert_array_equal(y[2:, 0], 0.0)
    for t in range(2, 6):
        np.testing.assert_array_equal(layer.hidden_states[t, 0], layer.hidden_states[1, 0])


def test_config_round_trip():
    layer = LSTMLayer(2, 4, zoneout=(0.1, 0.2), zoneout_seed=3, layer_norm=True)
    config = layer.get_config()
    assert (config["zoneout"], config["zoneout_seed"], config["layer_norm"]) == (
        [0.1, 0.2],
        3,
        True,
    )
    rebuilt = registry.build(registry.describe(layer))
    assert rebuilt.get_config() == config
    assert rebuilt.zoneout == [0.1, 0.2]


@pytest.mark.parametrize(
    ("cls", "value", "error", "match"),
    [
        (LSTMLayer, 1.0, ValueError, r"zoneout: expected a probability in \[0, 1\), got 1.0"),
        (GRULayer, -0.1, ValueError, r"zoneout: expected a probability in \[0, 1\)"),
        (GRULayer, "0.1", TypeError, r"zoneout: expected a probability"),
        (GRULayer, (0.1, 0.2), ValueError, r"zoneout: expected a probability, got \(0.1, 0.2\)"),
        (LSTMLayer, (0.1, 0.2, 0.3), ValueError, r"a pair \(p_h, p_C\)"),
        (LSTMLayer, (0.1, 1.5), ValueError, r"zoneout\[1\]: expected a probability"),
        (LSTMLayer, True, TypeError, r"zoneout: expected a probability"),
    ],
)
def test_bad_rates(cls, value, error, match):
    with pytest.raises(error, match=match):
        cls(2, 3, zoneout=value)


def test_bad_zoneout_seed():
    with pytest.raises(
        TypeError, match="zoneout_seed: expected None, an integer or a numpy Generator"
    ):
        GRULayer(2, 3, zoneout=0.1, zoneout_seed="x")


def _final_state_loss_terms(layer, rng):
    """Random weights on every part of the final state (h, and C for the LSTM)."""
    shapes = [(3, 3)] * (2 if layer.has_cell_state else 1)
    return [rng.standard_normal(shape) for shape in shapes]


@pytest.mark.parametrize("layer_norm", [False, True])
@pytest.mark.parametrize("cls", [LSTMLayer, GRULayer])
def test_gradcheck_padded_steps_with_a_final_state_gradient(cls, layer_norm):
    """Padding ends in the middle of the batch's lengths (several padded steps per sequence) and
    the loss has a final-state term, so the gradient that flows back through padded steps is
    non-zero: a wrong factor on a padded step (zoneout's K applied there, say) changes dx, the
    initial-state gradient and every parameter gradient."""
    rng = np.random.default_rng(12)
    layer = cls(2, 3, zoneout=0.4, layer_norm=layer_norm, dtype=np.float64, seed=2)
    x, R = rng.standard_normal((6, 3, 2)), rng.standard_normal((6, 3, 3))
    finals = _final_state_loss_terms(layer, rng)
    h0 = rng.standard_normal((3, 3))
    lengths = [5, 2, 4]  # padded steps: 1, 4 and 2; the longest sequence is not the last

    def run():
        layer.zoneout_rng = np.random.default_rng(13)
        return layer.forward(x, h0 if cls is GRULayer else (h0, np.zeros((3, 3))), lengths=lengths)

    def loss():
        y = run()
        final = layer.final_state
        parts = final if isinstance(final, tuple) else (final,)
        return float((y * R).sum() + sum((p * w).sum() for p, w in zip(parts, finals, strict=True)))

    layer.zero_grad()
    run()
    dx = layer.backward(R, tuple(finals) if layer.has_cell_state else finals[0])
    d_initial = layer.grad_initial_state
    dh0 = d_initial[0] if isinstance(d_initial, tuple) else d_initial
    assert rel_error(dx, numeric_gradient(loss, x)) < GRADCHECK_RTOL
    assert rel_error(dh0, numeric_gradient(loss, h0)) < GRADCHECK_RTOL
    for name, p in layer.params.items():
        err = rel_error(layer.grads[name], numeric_gradient(loss, p))
        assert err < GRADCHECK_RTOL, f"{name}: {err:.2e}"
