"""predict and evaluate: samples-first, eval mode, no backward cache, fit's output rule."""

import numpy as np
import pytest

import rnnlab
from rnnlab import GRULayer, LSTMLayer, evaluate, fit, losses, optim, predict
from rnnlab.models import Dense, Dropout, Sequential

from .test_train import _padded, sine_data


@pytest.mark.parametrize("batch_first", [False, True])
def test_predict_is_the_forward_samples_first_in_batches(batch_first):
    X, _ = sine_data(n=7)
    model = GRULayer(1, 5, 2, dtype=np.float64, seed=0, batch_first=batch_first)
    whole = model.forward(X if batch_first else X.swapaxes(0, 1))
    expected = whole if batch_first else whole.swapaxes(0, 1)  # (N, T, O)
    out = predict(model, X, batch_size=3)
    assert out.shape == (7, 12, 2)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(predict(model, X, targets="last"), expected[:, -1], rtol=1e-12)


def test_predict_last_reads_each_padded_sequence_at_its_last_valid_step():
    X, _, lengths = _padded()
    model = LSTMLayer(1, 4, 3, dtype=np.float64, seed=0)
    out = predict(model, X, lengths=lengths, targets="last", batch_size=4)
    assert out.shape == (len(X), 3)
    for i, L in enumerate(lengths):
        alone = model.forward(X[i, :L, None, :])[-1, 0]  # the sequence unpadded
        np.testing.assert_allclose(out[i], alone, rtol=1e-12, atol=1e-14)


class _Probe:
    """A module that records the mode and the grad flag each forward ran with."""

    def __init__(self):
        self.training, self.seen = True, []
        self.params, self.grads = {}, {}

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def forward(self, x):
        self.seen.append((self.training, rnnlab.is_grad_enabled()))
        return x * 2.0


@pytest.mark.parametrize("mode", [True, False])
def test_predict_and_evaluate_run_in_eval_mode_without_grad_and_restore_the_mode(mode):
    probe = _Probe().train(mode)
    X = np.ones((5, 3, 1))
    np.testing.assert_array_equal(predict(probe, X, batch_size=2), 2 * X)
    assert evaluate(probe, X, 2 * X, batch_size=2)["loss"] == 0.0
    assert probe.seen == [(False, False)] * 6  # 3 batches each
    assert probe.training is mode
    assert rnnlab.is_grad_enabled()


def test_fit_leaves_the_model_in_eval_mode_and_dropout_is_off_after():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, 6, 2))
    Y = X.sum(axis=1)
    model = Sequential(
        GRULayer(2, 8, dtype=np.float64, seed=1), Dropout(0.5, seed=2), Dense(8, 2, seed=3)
    )
    fit(model, X, Y, epochs=2, batch_size=8, seed=0, progress=False)
    assert model.training is False
    first, second = predict(model, X, targets="last"), predict(model, X, targets="last")
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(model(X.swapaxes(0, 1)), model(X.swapaxes(0, 1)))
    model.train()  # dropout on: two calls differ, so the test above could fail
    assert not np.array_equal(model(X.swapaxes(0, 1)), model(X.swapaxes(0, 1)))


def test_fit_leaves_eval_mode_also_when_training_diverges():
    X, Y = sine_data(n=8)
    model = GRULayer(1, 4, 1, seed=0)
    with pytest.raises(rnnlab.TrainingDivergedError):
        fit(model, X, Y, epochs=20, batch_size=2, clip=None, optimizer=optim.SGD(model, lr=1e6),
            progress=False)  # fmt: skip
    assert model.training is False


def test_evaluate_equals_one_pass_over_the_whole_set():
    X, Y, lengths = _padded(n=10)
    model = LSTMLayer(1, 4, 1, dtype=np.float64, seed=0)
    out = model.forward(X.swapaxes(0, 1), lengths=lengths)
    valid = np.arange(X.shape[1])[:, None] < lengths[None, :]
    expected, _ = losses.mse(out, Y.swapaxes(0, 1), mask=valid)
    for batch_size in (3, 10):  # batches of unequal valid-step counts are weighted right
        got = evaluate(model, X, Y, lengths=lengths, batch_size=batch_size)
        assert got["samples"] == 10
        assert "accuracy" not in got
        np.testing.assert_allclose(got["loss"], expected, rtol=1e-12)


def test_evaluate_reports_accuracy_for_classification():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=40)
    X = np.eye(3)[labels][:, None, :].repeat(4, axis=1)  # (40, 4, 3): the class shown 4 times
    model = LSTMLayer(3, 8, 3, dtype=np.float64, seed=0)
    before = evaluate(model, X, labels, loss="cross_entropy")
    fit(model, X, labels, loss="cross_entropy", epochs=30, batch_size=8, seed=0,
        optimizer=optim.Adam(model, lr=0.05), progress=False)  # fmt: skip
    after = evaluate(model, X, labels, loss="cross_entropy", batch_size=7)
    logits = predict(model, X, targets="last")
    assert after["accuracy"] == np.mean(logits.argmax(axis=1) == labels) == 1.0
    assert after["loss"] < 0.1 * before["loss"]
    np.testing.assert_allclose(after["loss"], losses.cross_entropy(logits, labels)[0], rtol=1e-12)


def test_predict_and_evaluate_check_their_arguments():
    X, Y = sine_data(n=4)
    model = GRULayer(1, 3, 1, seed=0)
    with pytest.raises(ValueError, match=r"X: expected a samples-first data set \(N, T, \.\.\.\)"):
        predict(model, X[0, :, 0])
    with pytest.raises(ValueError, match="targets: expected 'steps' or 'last'"):
        predict(model, X, targets="sequence")
    with pytest.raises(ValueError, match="batch_size: expected a positive integer"):
        predict(model, X, batch_size=0)
    with pytest.raises(ValueError, match="lengths: expected 4 integers"):
        predict(model, X, lengths=[3, 3])
    with pytest.raises(ValueError, match="Y: expected 4 samples"):
        evaluate(model, X, Y[:2])
    with pytest.raises(ValueError, match="is X time-major"):
        evaluate(model, X.swapaxes(0, 1), Y[:, :4, 0])
