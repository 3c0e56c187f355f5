"""fit with a batch source: a callable or an iterable of fresh batches, one update each."""

import numpy as np
import pytest

import rnnlab
from rnnlab import GRULayer, LSTMLayer, RNNLayer, fit, optim

from .test_train import _padded, sine_data


def _reference_loop(model, source, updates, seed, lr, clip, loss="mse"):
    """The hand-written loop a batch-source fit must equal: one update per fresh batch."""
    from rnnlab.optim import clip_grad_norm

    rng = np.random.default_rng(seed)
    opt = optim.Adam(model, lr=lr)
    loss_fn = rnnlab.losses.mse if loss == "mse" else rnnlab.losses.cross_entropy
    losses_seen = []
    for _ in range(updates):
        X, Y = source(rng)
        x = np.ascontiguousarray(X.transpose(1, 0, 2))  # samples-first -> the layer's (T, B, I)
        model.zero_grad()
        out = model.forward(x)
        if Y.ndim == X.ndim:  # per step
            value, dy = loss_fn(out, np.ascontiguousarray(np.swapaxes(Y, 0, 1)))
        else:  # per sequence, read at the last step
            value, dy_last = loss_fn(out[-1], Y)
            dy = np.zeros_like(out)
            dy[-1] = dy_last
        model.backward(dy)
        clip_grad_norm(model.grads, clip)
        opt.step()
        losses_seen.append(value)
    return losses_seen


def _adding_source(rng):
    """A many-to-one batch: the sum of the values at two marked steps, (16, 10, 2), (16, 1)."""
    values = rng.uniform(size=(16, 10))
    marked = np.zeros((16, 10))
    marked[np.arange(16)[:, None], rng.choice(10, size=(16, 2), replace=True)] = 1.0
    X = np.stack([values, marked], axis=-1).astype(np.float32)
    return X, (values * marked).sum(axis=1, keepdims=True).astype(np.float32)


def _sine_source(rng):
    return sine_data(n=8, num_steps=10, seed=int(rng.integers(1 << 30)))


@pytest.mark.parametrize(
    ("cls", "source"),
    [(LSTMLayer, _adding_source), (GRULayer, _sine_source), (RNNLayer, _sine_source)],
)
def test_batch_source_fit_equals_the_hand_written_loop_bitwise(cls, source):
    model = cls(2 if source is _adding_source else 1, 6, 1, dtype=np.float32, seed=0)
    manual = cls(2 if source is _adding_source else 1, 6, 1, dtype=np.float32, seed=0)
    clip = 0.05  # small enough that clipping acts on most updates
    h = fit(model, source, updates=25, seed=3, clip=clip, optimizer=optim.Adam(model, lr=0.01),
            progress=False, stall_epochs=0)  # fmt: skip
    expected = _reference_loop(manual, source, 25, seed=3, lr=0.01, clip=clip)
    for name, p in manual.params.items():
        np.testing.assert_array_equal(model.params[name], p)
    assert h.step_loss == expected
    assert len(h.step_grad_norm) == h.steps == 25
    assert max(h.step_grad_norm) > clip  # clipping did act


def test_batch_source_iterable_equals_the_callable_and_reads_lengths():
    X, Y, lengths = _padded(n=12)
    batches = [(X[i : i + 4], Y[i : i + 4], lengths[i : i + 4]) for i in (0, 4, 8, 0, 4, 8)]
    a = GRULayer(1, 4, 1, dtype=np.float64, seed=0)
    b = GRULayer(1, 4, 1, dtype=np.float64, seed=0)
    draws = iter(batches)
    ha = fit(a, batches, optimizer=optim.SGD(a, lr=0.1), progress=False)  # len() gives updates
    hb = fit(b, lambda rng: next(draws), updates=6, optimizer=optim.SGD(b, lr=0.1), progress=False)
    assert ha.step_loss == hb.step_loss
    for name, p in a.params.items():
        np.testing.assert_array_equal(b.params[name], p)
    # the padded batches really went in padded: the same data as arrays, in the same order
    c = GRULayer(1, 4, 1, dtype=np.float64, seed=0)
    fit(c, X, Y, lengths=lengths, epochs=2, batch_size=4, shuffle=False,
        optimizer=optim.SGD(c, lr=0.1), progress=False)  # fmt: skip
    for name, p in c.params.items():
        np.testing.assert_array_equal(a.params[name], p)


def test_batch_source_epochs_validation_and_history():
    model = GRULayer(1, 4, 1, dtype=np.float64, seed=0)
    seen = []
    h = fit(model, _sine_source, updates=10, validate_every=4, seed=0,
            validation=sine_data(n=6, num_steps=10, seed=9), progress=False,
            callbacks=[lambda epoch, logs: seen.append((epoch, logs["step"]))])  # fmt: skip
    assert len(h.step_loss) == 10
    assert len(h.loss) == len(h.val_loss) == 3  # 4 + 4 + 2 updates
    assert h.val_step == [4, 8, 10]
    assert seen == [(0, 4), (1, 8), (2, 10)]
    np.testing.assert_allclose(h.loss[0], np.mean(h.step_loss[:4]), rtol=1e-12)
    np.testing.assert_allclose(h.loss[2], np.mean(h.step_loss[8:]), rtol=1e-12)


def test_batch_source_arguments_are_checked_before_training():
    model = RNNLayer(1, 3, 1, seed=0)
    X, Y = sine_data(n=4)
    with pytest.raises(ValueError, match="updates: required with a callable"):
        fit(model, _sine_source, progress=False)
    with pytest.raises(ValueError, match="epochs: not used with a batch source"):
        fit(model, _sine_source, updates=3, epochs=2, progress=False)
    with pytest.raises(ValueError, match="lengths: not used with a batch source"):
        fit(model, _sine_source, updates=3, lengths=[1, 2], progress=False)
    with pytest.raises(ValueError, match="updates: only with a batch source"):
        fit(model, X, Y, updates=3, progress=False)
    with pytest.raises(ValueError, match="Y: missing"):
        fit(model, X, progress=False)
    with pytest.raises(ValueError, match="updates: expected a positive integer"):
        fit(model, _sine_source, updates=0, progress=False)
    with pytest.raises(
        ValueError, match=r"the iterable ended \(StopIteration\) after 2 batches, but updates=3"
    ):
        fit(model, [(X, Y), (X, Y)], updates=3, progress=False)
    draws = iter([(X, Y)])
    with pytest.raises(ValueError, match=r"the callable ended \(StopIteration\) after 1 batches"):
        fit(model, lambda rng: next(draws), updates=2, progress=False)
    with pytest.raises(TypeError, match="source batch 1: expected a tuple"):
        fit(model, lambda rng: X, updates=3, progress=False)
    with pytest.raises(ValueError, match="source batch 2 Y: expected 4 samples"):
        fit(model, iter([(X, Y), (X, Y[:2])]), updates=2, progress=False)
