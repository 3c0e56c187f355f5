"""The applications moved onto ``rnnlab.fit`` train exactly as the hand-written loops they
replace: same seed, same parameters, bit for bit. The old loops are kept here as the oracle
(copied from compare/apps.py and compare/tasks.py before the move, with the data generators'
samples-first output turned back to the time-major layout they were written for)."""

import numpy as np
import pytest

from rnnlab import losses
from rnnlab.apps import chars, memory, series
from rnnlab.apps._common import GRADIENT_CLIP, make_layer, one_hot
from rnnlab.data import char_batches, make_windows, sine_windows, split_series
from rnnlab.optim import Adam, clip_grad_norm


def _tm(a):
    return np.ascontiguousarray(np.swapaxes(a, 0, 1))


def _update(layer, optimizer, dy):
    layer.zero_grad()
    layer.backward(dy)
    clip_grad_norm(layer.grads, GRADIENT_CLIP)
    optimizer.step()


def old_sine(cell, hidden, steps, window, seed):
    rng = np.random.default_rng(seed)
    layer = make_layer(cell, 1, hidden, 1, seed=rng)
    optimizer = Adam(layer, lr=1e-2)
    for _ in range(steps):
        x, y = (_tm(a) for a in sine_windows(32, window, seed=rng, dtype=np.float32))
        _, dy = losses.mse(layer.forward(x), y)
        _update(layer, optimizer, dy)
    return layer


def old_forecaster(series_values, cell, hidden, window, steps, seed, batch_size=32):
    train, _ = split_series(series_values, 0.8)
    mean, std = float(train.mean()), float(train.std() or 1.0)
    scaled = ((series_values - mean) / std).astype(np.float32)
    x_all, y_all = make_windows(scaled, window)
    x_all = _tm(x_all)  # (W, N, 1), as the old make_windows returned
    cut = train.size - window
    rng = np.random.default_rng(seed)
    layer = make_layer(cell, 1, hidden, 1, seed=rng)
    optimizer = Adam(layer, lr=1e-2)
    for _ in range(steps):
        pick = rng.integers(0, cut, size=batch_size)
        y = layer.forward(x_all[:, pick])
        _, dy_last = losses.mse(y[-1], y_all[pick])
        dy = np.zeros_like(y)
        dy[-1] = dy_last
        _update(layer, optimizer, dy)
    return layer


def old_text(text, cell, hidden, steps, seed, seq_len=50, batch_size=32):
    vocab = chars.CharVocab.from_text(text)
    ids = vocab.encode(text)
    cut = int(ids.size * 0.9)
    rng = np.random.default_rng(seed)
    layer = make_layer(cell, len(vocab), hidden, len(vocab), seed=rng)
    optimizer = Adam(layer, lr=5e-3)
    for _ in range(steps):
        inputs, targets = (_tm(a) for a in char_batches(ids[:cut], seq_len, batch_size, seed=rng))
        _, dlogits = losses.cross_entropy(layer.forward(one_hot(inputs, len(vocab))), targets)
        _update(layer, optimizer, dlogits)
    return layer


def old_memory(task, cell, hidden, steps, seq_len, seed):
    input_size, output_size, loss = memory.task_sizes(task)
    rng = np.random.default_rng(seed)
    layer = make_layer(cell, input_size, hidden, output_size, seed=rng)
    optimizer = Adam(layer, lr=1e-2)
    for _ in range(steps):
        x, target = memory.task_batch(task, 32, seq_len, rng)
        y = layer.forward(_tm(x))
        fn = losses.mse if loss == "mse" else losses.cross_entropy
        _, dy_last = fn(y[-1], target)
        dy = np.zeros_like(y)
        dy[-1] = dy_last
        _update(layer, optimizer, dy)
    return layer


def assert_same_parameters(new, old):
    assert new.params.keys() == old.params.keys()
    for name in new.params:
        np.testing.assert_array_equal(new.params[name], old.params[name], err_msg=name)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_sine_trains_as_the_old_loop(cell):
    new, result = series.train_sine(cell=cell, hidden=6, steps=4, window=12, seed=3)
    assert_same_parameters(new, old_sine(cell, 6, 4, 12, 3))
    assert len(result["plot"]["target"]) == 12


def test_forecaster_trains_as_the_old_loop():
    values = np.sin(0.3 * np.arange(120.0)) * 5 + 2
    new, result = series.train_forecaster(values, cell="rnn", hidden=5, window=8, steps=5, seed=1)
    assert_same_parameters(new, old_forecaster(values, "rnn", 5, 8, 5, 1))
    assert result["test_points"] == 24


def test_text_trains_as_the_old_loop():
    text = "the cat sat on the mat; the dog sat on the log. " * 20
    new, _, result = chars.train_text(text, hidden=7, steps=3, seq_len=10, seed=2)
    assert_same_parameters(new, old_text(text, "gru", 7, 3, 2, seq_len=10))
    assert result["vocab_size"] == len(set(text))


@pytest.mark.parametrize("task", ["adding", "copy"])
def test_memory_tasks_train_as_the_old_loop(task):
    new, result = memory.train_memory(task, hidden=5, steps=3, seq_len=6, seed=4)
    assert_same_parameters(new, old_memory(task, "gru", 5, 3, 6, 4))
    assert result["seq_len"] == 6
