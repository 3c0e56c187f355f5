"""``rnnlab info`` and ``rnnlab demo``, run through the console script's main()."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import rnnlab
from rnnlab.cli.main import main


def test_no_command_prints_help_and_returns_2(capsys):
    assert main([]) == 2
    out = capsys.readouterr().out
    assert "info" in out
    assert "demo" in out


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["frobnicate"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_info(capsys):
    assert main(["info"]) == 0
    lines = capsys.readouterr().out.splitlines()
    facts = dict(line.strip().split(": ", 1) for line in lines)
    assert facts["rnnlab"] == rnnlab.__version__
    assert facts["numpy"] == np.__version__
    assert facts["python"].count(".") == 2
    assert facts["blas"] not in ("", "unknown")
    from rnnlab.kernels.cpu import packed

    assert facts["mkl_packed"].startswith("yes" if packed.available() else "no: ")
    from rnnlab.kernels.cpu import rows

    split = packed.available() and rows.WORKERS == 2
    assert facts["kernel_threads"].startswith("2 (" if split else "1: ")
    gpu = facts["gpu"]
    if importlib.util.find_spec("cupy") is None:
        assert gpu.startswith("unavailable: CuPy is not installed")
    else:
        assert gpu == "available" or gpu.startswith("unavailable: ")


def test_demo_runs_the_guides_example_and_learns(capsys):
    assert main(["demo", "--steps", "3", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "sin(0.1 t)" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line[:4].strip()}
    # the guide's example sizes: input 1, output 1, hidden 32 / 64 / 48
    for name, hidden, gates in (("RNN", 32, 1), ("LSTM", 64, 4), ("GRU", 48, 3)):
        row = rows[name]
        assert int(row[1]) == hidden
        params = gates * (hidden + hidden * hidden + hidden) + hidden + 1  # + W_hy, b_y
        assert int(row[2]) == params
        assert "".join(row[3:6]) == "(10,1,1)"  # the guide's 10 steps, one (1, 1) output each
        first, last = float(row[6]), float(row[7])
        assert np.isfinite(first)
        assert last < first  # three steps of gradient descent on correct gradients help
    assert "get_cell_states()[-1]) shape (1, 64)" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--steps", "0"], "argument --steps: expected an integer >= 1, got 0"),
        (["--steps", "-2"], "argument --steps: expected an integer >= 1, got -2"),
        (["--steps", "many"], "argument --steps: expected an integer, got 'many'"),
        (["--seed", "-1"], "argument --seed: expected an integer >= 0, got -1"),
    ],
)
def test_demo_rejects_bad_arguments_with_a_usage_error(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
