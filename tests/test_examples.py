"""The example scripts run as a user runs them (``python examples/x.py``), with tiny settings."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

import rnnlab

ROOT = Path(__file__).resolve().parents[1]
SRC = str(Path(rnnlab.__file__).resolve().parents[1])


def _run(name, *args, cwd=None):
    env = dict(os.environ, PYTHONPATH=SRC)
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / f"{name}.py"), *args],
        capture_output=True, text=True, env=env, timeout=300, check=True, cwd=cwd,
    )  # fmt: skip
    return done.stdout


def test_adding_problem_data():
    spec = importlib.util.spec_from_file_location("adding", ROOT / "examples" / "adding_problem.py")
    adding = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(adding)
    X, Y = adding.adding_problem(500, 20, np.random.default_rng(0))
    assert X.shape == (500, 20, 2)
    assert (X[:, :, 1].sum(axis=1) == 2).all()  # two markers per sequence
    assert (X[:, :10, 1].sum(axis=1) == 1).all()  # one in each half
    np.testing.assert_allclose(Y[:, 0], (X[:, :, 0] * X[:, :, 1]).sum(axis=1))
    assert abs(np.var(Y) - 1 / 6) < 0.03  # predicting the mean scores Var(u1 + u2) = 1/6


def _adding_verdicts(out):
    """{cell: (word, target, test MSE)} from the script's summary lines."""
    found = re.findall(r"^(\w+): (reached|did NOT reach) test MSE < (\S+) \((\d\.\d+)\)", out, re.M)
    return {cell: (word, float(target), float(mse)) for cell, word, target, mse in found}


def test_adding_problem_reaches_the_target():
    """With lr 1e-2 both gated cells get below MSE 0.05 (baseline 1/6) within 4 short epochs."""
    out = _run("adding_problem", "--quick", "--epochs", "4", "--train-size", "2000", "--lr", "0.01")
    verdicts = _adding_verdicts(out)
    assert verdicts.keys() == {"LSTM", "GRU"}
    for word, target, mse in verdicts.values():
        assert (word, target) == ("reached", 0.05)
        assert mse < 0.05


def test_adding_problem_says_when_it_misses():
    out = _run("adding_problem", "--quick", "--cells", "gru", "--epochs", "1", "--train-size",
               "256", "--target", "0.0001")  # fmt: skip
    ((word, target, mse),) = _adding_verdicts(out).values()
    assert (word, target) == ("did NOT reach", 0.0001)
    assert mse >= 0.0001


def test_sine_runs_and_saves_a_loadable_model(tmp_path):
    out = _run("sine", "--epochs", "3", "--train-size", "64", "--no-progress", "--save", "s.st",
               cwd=tmp_path)  # fmt: skip
    first, last = map(float, re.search(r"MSE (\S+) after epoch 1 -> (\S+) after", out).groups())
    assert last < first
    assert "closed loop" in out
    assert isinstance(rnnlab.load(tmp_path / "s.st"), rnnlab.GRULayer)


def test_char_rnn_runs_and_samples():
    out = _run("char_rnn", "--quick", "--sample-length", "30", "--no-progress")
    assert re.search(r"epoch 1: train \d\.\d+ +validation \d\.\d+ nats/char", out)
    assert "--- sample, temperature 0.5 ---\nThe " in out
