"""VanishingGradientWarning: what it measured, which cells it watched, advice that fits them."""

import warnings

import numpy as np
import pytest

from rnnlab import GRULayer, LSTMLayer, RNNLayer, VanishingGradientWarning, fit, optim
from rnnlab.callbacks import History
from rnnlab.diagnostics import check_stall, recurrent_cells

from .test_train import sine_data

NAMES = {RNNLayer: "vanilla RNN", LSTMLayer: "LSTM", GRULayer: "GRU"}
RNN_ONLY = ("instead of a vanilla RNN", "try an LSTM")


def _fit_recording(model, X, Y, epochs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = fit(model, X, Y, epochs=epochs, batch_size=32, seed=0, stall_epochs=3,
                optimizer=optim.Adam(model, lr=0.01), progress=False)  # fmt: skip
    found = [str(w.message) for w in caught if issubclass(w.category, VanishingGradientWarning)]
    return h, found


def _shut_memory(model):
    """Make the cell forget at every step: the gradient to early steps really vanishes."""
    if isinstance(model, RNNLayer):
        model.params["W_hh"][...] *= 0.5  # a contracting recurrence
    elif isinstance(model, LSTMLayer):
        model.params["b_f"][...] = -8.0  # forget gate shut
    else:
        model.params["b_z"][...] = -8.0  # update gate: h = z h_prev + (1 - z) h~, z ~ 0


@pytest.mark.parametrize("cls", [RNNLayer, LSTMLayer, GRULayer])
def test_stuck_with_vanishing_gradients_names_the_cell_and_its_own_advice(cls):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(128, 60, 1))
    Y = X[:, 0, :]  # recall the first input: only the gradient to step 1 can teach it
    model = cls(1, 4, 1, dtype=np.float64, seed=0)
    _shut_memory(model)
    h, found = _fit_recording(model, X, Y, epochs=10)
    assert len(found) == 1
    message = found[0]
    assert f"Cells watched: {NAMES[cls]}." in message
    assert "A ratio below 0.001 means vanishing gradients" in message
    ratio = h.grad_first_step[-1] / h.grad_last_step[-1]
    assert ratio < 1e-3
    assert "optimiser steps" in message
    assert "no 1% improvement in the last 3" in message
    if cls is RNNLayer:
        assert all(advice in message for advice in RNN_ONLY)
    else:
        assert not any(advice in message for advice in RNN_ONLY)
        gate = "forget_bias=1.0" if cls is LSTMLayer else "update gate"
        assert gate in message


@pytest.mark.parametrize("cls", [RNNLayer, LSTMLayer, GRULayer])
def test_stuck_on_random_targets_is_not_called_vanishing(cls):
    """The issue's case: small random data, nothing to learn, the gradient reaches step 1."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(256, 12, 1))
    Y = rng.normal(size=(256, 1))
    model = cls(1, 2, 1, dtype=np.float64, seed=0)
    h, found = _fit_recording(model, X, Y, epochs=12)
    assert len(found) == 1
    message = found[0]
    assert f"Cells watched: {NAMES[cls]}." in message
    assert "this is not the vanishing-gradient case" in message
    assert "random targets" in message
    assert not any(advice in message for advice in RNN_ONLY)
    assert "vanishing gradients:" not in message
    assert h.grad_first_step[-1] / h.grad_last_step[-1] >= 1e-3


@pytest.mark.parametrize("cls", [RNNLayer, LSTMLayer, GRULayer])
def test_a_healthy_run_gives_no_warning(cls):
    X, Y = sine_data(n=64)
    model = cls(1, 8, 1, dtype=np.float64, seed=0)
    h, found = _fit_recording(model, X, Y, epochs=10)
    assert h.loss[-1] < 0.5 * h.loss[0]
    assert found == []


def _history(losses, first=1e-9, last=1.0):
    h = History(loss=list(losses))
    h.grad_first_step = [first] * len(losses)
    h.grad_last_step = [last] * len(losses)
    h.steps = 10 * len(losses)
    return h


def test_the_message_reports_what_was_measured():
    message = check_stall(_history([2.0, 1.9, 1.9, 1.9, 1.9]), 3, 0.005, ["gru"])
    assert "1.9 after 5 epochs (50 optimiser steps; first epoch 2" in message
    assert "best 1.9 against 1.9 before" in message
    assert "|dL/dx(1)| = 1e-09" in message
    assert "ratio 1e-09" in message
    assert "lr = 0.005" in message
    unmeasured = _history([2.0, 1.9, 1.9, 1.9, 1.9], first=None, last=None)
    message = check_stall(unmeasured, 3, 0.005, ["lstm"])
    assert "not measured" in message
    assert not any(advice in message for advice in RNN_ONLY)
    assert check_stall(_history([2.0, 1.5, 1.2, 1.0, 0.9]), 3, 0.005, ["rnn"]) is None


def test_recurrent_cells_finds_the_cells_inside_containers():
    from rnnlab.models import GRU, LSTM, Bidirectional, Dense, Embedding, Sequential

    assert recurrent_cells(LSTMLayer(1, 2)) == ["lstm"]
    assert recurrent_cells(LSTM(1, 2, num_layers=2)) == ["lstm"]
    stack = Sequential(Embedding(5, 3), GRU(3, 4), Dense(4, 2))
    assert recurrent_cells(stack) == ["gru"]
    both = Sequential(Bidirectional(RNNLayer(2, 3)), LSTMLayer(6, 2))
    assert recurrent_cells(both) == ["rnn", "lstm"]
    assert recurrent_cells(Dense(2, 2)) == []
