"""compare trains through ``rnnlab.fit``: the same parameters, bit for bit, as its old loop."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab import losses
from rnnlab.compare import sweep
from rnnlab.compare.training import make_layer, train_many_to_one
from rnnlab.optim import Adam, clip_grad_norm


def _old_loop(layer, task, steps, batch_size, seq_len, lr, rng):
    """The hand-written loop compare/training.py had before it used fit (the oracle)."""
    optimizer = Adam(layer, lr=lr)
    history = []
    for _ in range(steps):
        x, target = sweep.task_batch(task, batch_size, seq_len, rng)  # time-major (T, B, I)
        y = layer.forward(x)
        if task == "adding":
            value, dy_last = losses.mse(y[-1], target)
        else:
            value, dy_last = losses.cross_entropy(y[-1], target)
        dy = np.zeros_like(y)
        dy[-1] = dy_last
        layer.zero_grad()
        layer.backward(dy)
        clip_grad_norm(layer.grads, 5.0)
        optimizer.step()
        history.append(value)
    return history


@pytest.mark.parametrize(("task", "cell"), [("adding", "lstm"), ("copy", "gru"), ("adding", "rnn")])
def test_fit_path_gives_the_old_loops_parameters_bitwise(task, cell):
    input_size, output_size, loss = sweep.task_sizes(task)
    old = make_layer(cell, input_size, 6, output_size, seed=np.random.default_rng(1))
    new = make_layer(cell, input_size, 6, output_size, seed=np.random.default_rng(1))
    # lr 0.5 drives the gradient norm above the clip of 5.0, so clipping takes part
    expected = _old_loop(old, task, 12, 8, 7, 0.5, np.random.default_rng(2))
    got = train_many_to_one(
        new,
        lambda rng: sweep.task_samples(task, 8, 7, rng),
        updates=12,
        learning_rate=0.5,
        loss=loss,
        rng=np.random.default_rng(2),
    )
    assert got == [float(v) for v in expected]
    for name, value in old.params.items():
        np.testing.assert_array_equal(new.params[name], value, err_msg=name)
    assert not np.array_equal(
        new.params["W_hy"],
        make_layer(cell, input_size, 6, output_size, seed=np.random.default_rng(1)).params["W_hy"],
    )


def test_sweep_job_result_matches_the_old_loop():
    job = sweep.Job("copy", "lstm", 6, 0, 3, 5, 10, 8, 1e-2)
    result = sweep.run_job(job)
    input_size, output_size, _ = sweep.task_sizes("copy")
    layer = make_layer(
        "lstm", input_size, 5, output_size, seed=np.random.default_rng(job.seed_sequence(0))
    )
    history = _old_loop(layer, "copy", 10, 8, 6, 1e-2, np.random.default_rng(job.seed_sequence(1)))
    layer.eval()
    x_eval, y_eval = sweep.evaluation_set("copy", 6, 3)
    score, _ = sweep.score("copy", layer.forward(x_eval)[-1], y_eval)
    assert result["score"] == score
    assert result["final_loss"] == float(np.mean(history[-1:]))


def test_unknown_loss_is_refused():
    layer = make_layer("rnn", 2, 3, 1, seed=0)
    with pytest.raises(ValueError, match="loss: expected one of"):
        train_many_to_one(
            layer,
            lambda rng: None,
            updates=1,
            learning_rate=0.1,
            loss="l1",
            rng=np.random.default_rng(0),
        )
