"""fit: learning, determinism, exact resume in a fresh process, tbptt, diagnostics, callbacks."""

import io
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import rnnlab
from rnnlab import (
    GRULayer,
    LSTMLayer,
    RNNLayer,
    TrainingDivergedError,
    VanishingGradientWarning,
    fit,
    optim,
    schedules,
)
from rnnlab.diagnostics import check_stall
from rnnlab.losses import mse
from rnnlab.train import SaveCheckpoint

SRC = str(Path(rnnlab.__file__).resolve().parents[1])


def sine_data(n=48, num_steps=12, seed=0):
    """Next-step prediction of sine waves with random phases: X (N, T, 1), Y (N, T, 1)."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_steps + 1) * 0.4
    s = np.sin(t + rng.uniform(0, 2 * np.pi, (n, 1)))[..., None]
    return s[:, :-1], s[:, 1:]


def _params(model):
    return {k: v.copy() for k, v in model.params.items()}


def test_fit_learns_and_fills_the_history():
    X, Y = sine_data()
    model = LSTMLayer(1, 8, 1, dtype=np.float64, seed=0)
    h = fit(
        model,
        X,
        Y,
        epochs=8,
        batch_size=16,
        seed=0,
        validation=sine_data(16, seed=1),
        optimizer=optim.Adam(model, lr=0.02),
        progress=False,
    )
    assert len(h.loss) == len(h.val_loss) == len(h.grad_norm) == len(h.steps_per_s) == 8
    assert h.steps == 8 * 3
    assert h.loss[-1] < 0.3 * h.loss[0]
    assert h.val_loss[-1] < 0.3 * h.val_loss[0]
    assert all(n > 0 for n in h.grad_norm)
    assert all(f > 0 for f in h.grad_first_step)


def _history_without_timing(h):
    d = h.as_dict()
    d.pop("steps_per_s")
    return d


@pytest.mark.parametrize("cls", [RNNLayer, GRULayer])
def test_same_seed_gives_bitwise_identical_runs(cls):
    X, Y = sine_data()
    runs = []
    for seed in (3, 3, 4):
        model = cls(1, 6, 1, dtype=np.float64, seed=0)
        h = fit(model, X, Y, epochs=3, batch_size=8, seed=seed, progress=False)
        runs.append((_history_without_timing(h), _params(model)))
    (h1, p1), (h2, p2), (h3, _) = runs
    assert h1 == h2
    assert all(np.array_equal(p1[k], p2[k]) for k in p1)
    assert h1["loss"] != h3["loss"]  # the seed does drive the shuffling


_RESUME = textwrap.dedent(
    """
    import sys
    import numpy as np
    import rnnlab
    from rnnlab.train import fit
    X = np.load(sys.argv[1])["X"]
    Y = np.load(sys.argv[1])["Y"]
    ck = rnnlab.load_checkpoint(sys.argv[2])
    fit(ck.model, X, Y, optimizer=ck.optimizer, epochs=2, batch_size=8, seed=ck.rng,
        progress=False)
    rnnlab.save_checkpoint(sys.argv[3], ck.model, ck.optimizer, step=ck.optimizer.step_count)
    """
)


def test_resume_in_a_fresh_process_is_bit_for_bit(tmp_path):
    X, Y = sine_data(n=20)
    np.savez(tmp_path / "data.npz", X=X, Y=Y)

    def start():
        model = LSTMLayer(1, 5, 1, dtype=np.float64, seed=0)
        return model, optim.Adam(model, lr=0.01), np.random.default_rng(11)

    model, opt, rng = start()  # uninterrupted: 4 epochs
    fit(model, X, Y, optimizer=opt, epochs=4, batch_size=8, seed=rng, progress=False)

    model_b, opt_b, rng_b = start()  # 2 epochs, checkpoint, 2 more in another process
    fit(model_b, X, Y, optimizer=opt_b, epochs=2, batch_size=8, seed=rng_b, progress=False)
    half = tmp_path / "half.safetensors"
    rnnlab.save_checkpoint(half, model_b, opt_b, step=opt_b.step_count, rng=rng_b)
    env = dict(os.environ, PYTHONPATH=SRC)
    done = tmp_path / "done.safetensors"
    cmd = [sys.executable, "-c", _RESUME, str(tmp_path / "data.npz"), str(half), str(done)]
    subprocess.run(cmd, check=True, env=env, timeout=120)

    resumed = rnnlab.load_checkpoint(done)
    assert resumed.step == opt.step_count == 12
    for name, p in model.params.items():
        np.testing.assert_array_equal(resumed.model.params[name], p)
    for kind, buffers in opt.state_dict()["state"].items():
        for name, arr in buffers.items():
            np.testing.assert_array_equal(resumed.optimizer.state[kind][name], arr)


def test_tbptt_carries_the_state_but_not_the_gradient():
    X, Y = sine_data(n=8, num_steps=12)
    model = GRULayer(1, 4, 1, dtype=np.float64, seed=0)
    manual = GRULayer(1, 4, 1, dtype=np.float64, seed=0)
    fit(
        model,
        X,
        Y,
        epochs=1,
        batch_size=8,
        tbptt=5,
        clip=None,
        shuffle=False,
        optimizer=optim.SGD(model, lr=0.1),
        progress=False,
    )
    opt = optim.SGD(manual, lr=0.1)
    x, y = X.transpose(1, 0, 2), Y.transpose(1, 0, 2)
    state = None
    for start in (0, 5, 10):  # chunks of 5, 5 and 2 steps
        out = manual.forward(x[start : start + 5], state)
        manual.zero_grad()
        manual.backward(mse(out, y[start : start + 5])[1])  # no d_final_state: cut here
        opt.step()
        state = manual.final_state.copy()
    for name, p in manual.params.items():
        np.testing.assert_array_equal(model.params[name], p)
    reset = GRULayer(1, 4, 1, dtype=np.float64, seed=0)  # a state reset per chunk differs
    opt = optim.SGD(reset, lr=0.1)
    for start in (0, 5, 10):
        out = reset.forward(x[start : start + 5])
        reset.zero_grad()
        reset.backward(mse(out, y[start : start + 5])[1])
        opt.step()
    assert not np.array_equal(reset.params["W_hy"], model.params["W_hy"])


def test_exploding_training_raises_and_touches_nothing_saved(tmp_path):
    X, Y = sine_data(n=16)
    model = RNNLayer(1, 8, 1, dtype=np.float32, seed=0)
    path = tmp_path / "ckpt.safetensors"
    good = optim.SGD(model, lr=0.01)
    fit(
        model,
        X,
        Y,
        optimizer=good,
        epochs=1,
        batch_size=8,
        seed=0,
        progress=False,
        callbacks=[SaveCheckpoint(path)],
    )
    saved = path.read_bytes()
    bad = optim.SGD(model, lr=1e6)  # far too large, and no clipping
    with pytest.raises(TrainingDivergedError, match=r"at step \d+ .*gradient norm") as info:
        fit(
            model,
            X,
            Y,
            optimizer=bad,
            epochs=20,
            batch_size=2,
            clip=None,
            seed=0,
            progress=False,
            callbacks=[SaveCheckpoint(path)],
        )
    message = str(info.value)
    assert "reduce the learning rate" in message
    assert "gradient clipping" in message
    assert 1 <= info.value.step <= 8  # within the first epoch, before any new save
    assert path.read_bytes() == saved
    assert all(np.isfinite(p).all() for p in model.params.values())


def test_stuck_vanilla_rnn_warns_with_the_measured_gradient():
    # the target is the first input of a 60-step sequence: a tanh RNN's gradient cannot get there
    rng = np.random.default_rng(0)
    X = rng.normal(size=(128, 60, 1))
    Y = X[:, 0, :]
    model = RNNLayer(1, 4, 1, dtype=np.float64, seed=0)
    model.params["W_hh"][...] *= 0.5  # contracting recurrence, as after a bad initialisation
    with pytest.warns(VanishingGradientWarning, match="first time step") as record:
        h = fit(
            model,
            X,
            Y,
            epochs=5,
            batch_size=16,
            seed=0,
            stall_epochs=3,
            progress=False,
            optimizer=optim.Adam(model, lr=0.01),
        )
    message = str(record[0].message)
    assert "try an LSTM or GRU" in message
    assert "increase hidden_size" in message
    assert "learning rate" in message
    assert h.grad_first_step[-1] < 1e-6 * h.grad_last_step[-1]
    assert f"|dL/dx(1)| = {h.grad_first_step[-1]:.3g}" in message  # the last epoch's figure


def test_decreasing_loss_gives_no_vanishing_warning():
    X, Y = sine_data()
    model = LSTMLayer(1, 8, 1, dtype=np.float64, seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = fit(
            model,
            X,
            Y,
            epochs=6,
            batch_size=16,
            seed=0,
            stall_epochs=3,
            optimizer=optim.Adam(model, lr=0.02),
            progress=False,
        )
    assert h.loss[-1] < 0.5 * h.loss[0]  # a healthy run: the loss fell
    assert not [w for w in caught if issubclass(w.category, VanishingGradientWarning)]
    # the same check on this history with the loss flat from epoch 2 on does fire
    flat = rnnlab.History(**{**h.as_dict(), "loss": [h.loss[0]] * 6})
    assert check_stall(flat, 3, 0.02) is not None


def test_early_stopping_restores_the_best_weights():
    X, Y = sine_data(n=16)
    model = GRULayer(1, 4, 1, dtype=np.float64, seed=0)
    initial = _params(model)

    def spoil(epoch, logs):  # after the first epoch every change makes things worse
        for p in logs["model"].params.values():
            p += 0.5

    h = fit(
        model,
        X,
        Y,
        optimizer=optim.SGD(model, lr=0.0),
        epochs=10,
        early_stopping=2,
        callbacks=[spoil],
        validation=(X, Y),
        seed=0,
        progress=False,
    )
    assert h.stopped_early
    assert h.best_epoch == 0
    assert len(h.loss) == 3
    for name, p in initial.items():
        np.testing.assert_array_equal(model.params[name], p)


def test_callbacks_schedule_and_stop():
    X, Y = sine_data(n=16)
    model = RNNLayer(1, 4, 1, dtype=np.float64, seed=0)
    steps = []

    class Recorder:
        def on_step_end(self, step, logs):
            steps.append((step, logs["loss"]))

        def on_epoch_end(self, epoch, logs):
            return epoch == 2  # stop after the third epoch

    opt = optim.SGD(model, lr=0.1)
    h = fit(
        model,
        X,
        Y,
        optimizer=opt,
        epochs=10,
        batch_size=4,
        seed=0,
        progress=False,
        callbacks=[Recorder()],
        schedule=schedules.StepLR(opt, step_size=1, gamma=0.5),
    )
    assert len(h.loss) == 3
    assert [s for s, _ in steps] == list(range(1, 13))
    assert h.lr == [0.1, 0.05, 0.025]  # the rate each epoch ran with
    assert opt.lr == 0.0125


def test_cross_entropy_and_many_to_one_targets():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=(24, 6))
    X = np.eye(3)[labels]  # (N, T, 3) one-hot: predict the current symbol
    model = LSTMLayer(3, 8, 3, dtype=np.float64, seed=0)
    h = fit(
        model,
        X,
        labels,
        loss="cross_entropy",
        epochs=10,
        batch_size=8,
        seed=0,
        optimizer=optim.Adam(model, lr=0.05),
        progress=False,
    )
    assert h.loss[-1] < 0.2 * h.loss[0]
    first = labels[:, 0]  # per-sequence labels: the first symbol, read at the last step
    model = LSTMLayer(3, 8, 3, dtype=np.float64, seed=0, batch_first=True)
    h = fit(
        model,
        X,
        first,
        loss="cross_entropy",
        epochs=12,
        batch_size=8,
        seed=0,
        optimizer=optim.Adam(model, lr=0.05),
        progress=False,
    )
    assert h.loss[-1] < 0.5 * h.loss[0]


def test_fit_rejects_bad_arguments():
    X, Y = sine_data(n=4)
    model = RNNLayer(1, 3, 1, seed=0)
    with pytest.raises(ValueError, match="Y: expected 4 samples"):
        fit(model, X, Y[:3], progress=False)
    with pytest.raises(ValueError, match="loss"):
        fit(model, X, Y, loss="mae", progress=False)
    with pytest.raises(ValueError, match="tbptt: truncated BPTT needs per-step"):
        fit(model, X, Y[:, -1], tbptt=3, progress=False)
    with pytest.raises(ValueError, match="epochs"):
        fit(model, X, Y, epochs=0, progress=False)
    with pytest.raises(ValueError, match="targets"):
        fit(model, X, Y, targets="first", progress=False)
    with pytest.raises(TypeError, match="validation"):
        fit(model, X, Y, validation=X, progress=False)
    with pytest.raises(ValueError, match=r"ambiguous .*write Y\[\.\.\., None\].*targets='last'"):
        fit(model, X, Y[..., 0], progress=False)  # (N, T) floats: per step, or size T?
    model = RNNLayer(1, 3, 12, seed=0)  # a per-sequence output of size T is fine when said
    fit(model, X, Y[..., 0], targets="last", epochs=1, progress=False)


class _CountingModel:
    """Wraps a layer and counts forwards: a rejected argument must cost no training step."""

    def __init__(self, layer):
        self.layer, self.forwards = layer, 0
        self.params, self.grads = layer.params, layer.grads

    def forward(self, x, *args, **kwargs):
        self.forwards += 1
        return self.layer.forward(x, *args, **kwargs)

    def backward(self, dy):
        return self.layer.backward(dy)

    def zero_grad(self):
        self.layer.zero_grad()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"stall_epochs": -1}, ValueError, r"stall_epochs: expected an integer >= 0"),
        ({"stall_epochs": 1.5}, ValueError, "stall_epochs"),
        ({"early_stopping": "x"}, ValueError, r"early_stopping: expected None or a positive"),
        ({"early_stopping": 0}, ValueError, "early_stopping"),
        ({"callbacks": print}, TypeError, r"callbacks: expected a list .* wrap it in a list"),
        ({"callbacks": SaveCheckpoint("c.safetensors")}, TypeError, "wrap it in a list"),
        ({"callbacks": [3]}, TypeError, "callbacks: expected callables"),
        ({"clip": -1.0}, ValueError, "clip: expected None, 0 or a positive finite"),
        ({"clip": float("nan")}, ValueError, "clip"),
        ({"clip": "5"}, ValueError, "clip"),
        ({"batch_size": 0}, ValueError, "batch_size: expected a positive integer"),
        ({"batch_size": True}, ValueError, "batch_size"),
        ({"restore_best": "yes"}, TypeError, "restore_best: expected True or False"),
        ({"progress": 1}, TypeError, "progress: expected True or False"),
        ({"shuffle": None}, TypeError, "shuffle: expected True or False"),
        ({"seed": 1.5}, TypeError, "seed: expected None, an integer or a numpy Generator"),
        ({"tbptt": -2}, ValueError, "tbptt: expected None or a positive integer"),
        ({"optimizer": "adam"}, TypeError, "optimizer: expected an rnnlab.optim optimiser"),
        ({"schedule": 0.1}, TypeError, "schedule: expected None or a schedule"),
    ],
)
def test_every_fit_argument_is_checked_before_the_first_step(kwargs, error, match):
    X, Y = sine_data(n=4)
    model = _CountingModel(RNNLayer(1, 3, 1, seed=0))
    with pytest.raises(error, match=match):
        fit(model, X, Y, epochs=2, **{"progress": False, **kwargs})
    assert model.forwards == 0


def test_an_optimizer_bound_to_another_model_is_refused():
    X, Y = sine_data(n=4)
    model, other = GRULayer(1, 3, 1, seed=0), GRULayer(1, 3, 1, seed=0)
    with pytest.raises(ValueError, match=r"optimizer: bound to other parameters.*Adam\(model"):
        fit(model, X, Y, optimizer=optim.Adam(other), progress=False)
    with pytest.raises(ValueError, match="optimizer: bound to other parameters"):
        fit(model, X, Y, optimizer=optim.SGD(other.params, other.grads, lr=0.1), progress=False)
    with pytest.raises(ValueError, match="schedule: bound to another optimiser"):
        fit(model, X, Y, optimizer=optim.Adam(model), schedule=schedules.StepLR(
            optim.Adam(model), step_size=1), progress=False)  # fmt: skip
    # the model's own arrays through dicts, or a part of them (the rest frozen), are fine
    fit(model, X, Y, optimizer=optim.SGD(model.params, model.grads, lr=0.1), epochs=1,
        progress=False)  # fmt: skip
    from rnnlab.models import Dense, Sequential

    head = Dense(3, 1, seed=1)
    stack = Sequential(GRULayer(1, 3, seed=0), head)
    frozen = {k: v.copy() for k, v in stack.params.items() if not k.startswith("1.")}
    fit(stack, X, Y, optimizer=optim.SGD(head, lr=0.1), epochs=1, progress=False)
    for name, value in frozen.items():
        np.testing.assert_array_equal(stack.params[name], value)


def test_save_checkpoint_checks_its_arguments_at_once(tmp_path):
    with pytest.raises(ValueError, match="every: expected a positive integer"):
        SaveCheckpoint(tmp_path / "c.safetensors", every=0)
    with pytest.raises(TypeError, match="path: expected a file path"):
        SaveCheckpoint(None)


def _padded(seed=0, n=6, num_steps=8):
    """Variable-length sequences in a padded (N, T, 1) array; the padding is junk on purpose."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, num_steps + 1, n)
    lengths[0] = num_steps
    X = rng.normal(size=(n, num_steps, 1))
    Y = np.sin(np.cumsum(X, axis=1))
    pad = np.arange(num_steps)[None, :] >= lengths[:, None]
    X[pad], Y[pad] = 1e3, -1e3
    return X, Y, lengths


@pytest.mark.parametrize("cls", [LSTMLayer, GRULayer])
def test_padded_per_step_training_equals_each_sequence_alone(cls):
    X, Y, lengths = _padded()
    model = cls(1, 4, 1, dtype=np.float64, seed=0)
    fit(
        model,
        X,
        Y,
        lengths=lengths,
        batch_size=1,
        epochs=1,
        seed=5,
        clip=None,
        optimizer=optim.SGD(model, lr=0.1),
        progress=False,
    )
    alone = cls(1, 4, 1, dtype=np.float64, seed=0)
    opt = optim.SGD(alone, lr=0.1)
    for i in np.random.default_rng(5).permutation(len(X)):  # fit's shuffling order
        L = lengths[i]
        out = alone.forward(X[i, :L, None, :])  # (L, 1, 1), no padding at all
        alone.zero_grad()
        alone.backward(mse(out, Y[i, :L, None, :])[1])
        opt.step()
    for name, p in alone.params.items():
        np.testing.assert_allclose(model.params[name], p, rtol=1e-12, atol=1e-14)


def test_padded_batch_with_one_target_per_sequence_reads_the_last_valid_step():
    X, Y, lengths = _padded(seed=1)
    target = np.array([[Y[i, L - 1, 0]] for i, L in enumerate(lengths)])  # (N, 1)
    model = LSTMLayer(1, 4, 1, dtype=np.float64, seed=0, batch_first=True)
    fit(
        model,
        X,
        target,
        lengths=lengths,
        batch_size=len(X),
        shuffle=False,
        clip=None,
        optimizer=optim.SGD(model, lr=0.1),
        epochs=2,
        progress=False,
    )
    alone = LSTMLayer(1, 4, 1, dtype=np.float64, seed=0)
    opt = optim.SGD(alone, lr=0.1)
    for _ in range(2):
        alone.zero_grad()  # one step on the batch: the mean of the per-sequence gradients
        for i, L in enumerate(lengths):
            out = alone.forward(X[i, :L, None, :])
            dy = np.zeros_like(out)
            dy[-1] = mse(out[-1], target[i : i + 1])[1] / len(X)
            alone.backward(dy)
        opt.step()
    for name, p in alone.params.items():
        np.testing.assert_allclose(model.params[name], p, rtol=1e-12, atol=1e-14)


def test_lengths_are_checked():
    X, Y, lengths = _padded()
    model = GRULayer(1, 3, 1, seed=0)
    with pytest.raises(ValueError, match=r"lengths: expected values in 1\.\.8"):
        fit(model, X, Y, lengths=lengths + 1, progress=False)
    with pytest.raises(ValueError, match="lengths: expected 6 integers"):
        fit(model, X, Y, lengths=lengths[:3], progress=False)
    with pytest.raises(ValueError, match="tbptt: not supported together with lengths"):
        fit(model, X, Y, lengths=lengths, tbptt=4, progress=False)


def test_progress_off_a_terminal_is_one_plain_line_per_epoch_with_val_loss(capsys):
    X, Y = sine_data(n=8)
    model = RNNLayer(1, 3, 1, dtype=np.float64, seed=0)
    h = fit(model, X, Y, epochs=2, batch_size=4, seed=0, validation=(X, Y), progress=True)
    err = capsys.readouterr().err  # captured: not a terminal
    assert "\r" not in err
    lines = err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("epoch 1/2: loss=")
    assert f"val_loss={h.val_loss[1]:.4g}" in lines[1]
    for key in ("grad_norm=", "steps_per_s="):
        assert key in lines[1]


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_on_a_terminal_is_a_bar_with_val_loss(monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    X, Y = sine_data(n=8)
    model = RNNLayer(1, 3, 1, dtype=np.float64, seed=0)
    h = fit(model, X, Y, epochs=1, batch_size=4, seed=0, validation=(X, Y), progress=True)
    out = terminal.getvalue()
    assert "\r" in out  # tqdm redraws in place
    assert "epoch 1/1" in out
    assert f"val_loss={h.val_loss[0]:.4g}" in out
    assert "grad_norm=" in out


def test_no_progress_prints_nothing(capsys):
    X, Y = sine_data(n=8)
    fit(RNNLayer(1, 3, 1, seed=0), X, Y, epochs=1, validation=(X, Y), progress=False)
    assert capsys.readouterr().err == ""


def test_fit_trains_a_sequential_with_embedding_and_dropout():
    from rnnlab.models import Dense, Dropout, Embedding, Sequential

    rng = np.random.default_rng(0)
    ids = rng.integers(0, 5, size=(32, 7))
    labels = (ids + 1) % 5  # per step: the next symbol in a cycle
    model = Sequential(
        Embedding(5, 6, dtype=np.float64, seed=0),
        GRULayer(6, 8, dtype=np.float64, seed=1),
        Dropout(0.1, seed=2),
        Dense(8, 5, dtype=np.float64, seed=3),
    )
    h = fit(model, ids, labels, loss="cross_entropy", epochs=8, batch_size=8, seed=0,
            optimizer=optim.Adam(model, lr=0.05), progress=False)  # fmt: skip
    assert h.loss[-1] < 0.2 * h.loss[0]
    assert h.grad_first_step == [None] * 8  # Embedding returns no dx: nothing to measure


def test_tbptt_with_a_two_layer_stack_carries_its_states():
    from rnnlab.models import LSTM

    X, Y = sine_data(n=4, num_steps=9)

    def make():
        return LSTM(1, 3, num_layers=2, output_size=1, dtype=np.float64, seed=0)

    model, manual = make(), make()
    fit(model, X, Y, epochs=1, batch_size=4, tbptt=4, clip=None, shuffle=False,
        optimizer=optim.SGD(model, lr=0.1), progress=False)  # fmt: skip
    opt = optim.SGD(manual, lr=0.1)
    x, y = X.transpose(1, 0, 2), Y.transpose(1, 0, 2)
    state = None
    for start in (0, 4, 8):
        out = manual.forward(x[start : start + 4], state)
        manual.zero_grad()
        manual.backward(mse(out, y[start : start + 4])[1])
        opt.step()
        state = tuple(s.copy() for s in manual.final_state)  # (h_n, c_n), each (2, B, H)
    for name, p in manual.params.items():
        np.testing.assert_array_equal(model.params[name], p)
