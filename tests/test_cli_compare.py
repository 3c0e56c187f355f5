"""The compare-family CLI: train -> predict / generate, recommend, gradflow, and clear errors."""

import json

import numpy as np
import pytest

import rnnlab
from rnnlab import GRULayer
from rnnlab.apps import load_outputs
from rnnlab.cli.main import main
from rnnlab.compare.recommend import decide


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_train_sine_then_predict(tmp_path, capsys):
    out = tmp_path / "m"
    code, text, _ = _run(
        capsys,
        "train",
        "--task",
        "sine",
        "--steps",
        "5",
        "--hidden",
        "8",
        "--no-progress",
        "--out",
        str(out),
    )
    assert code == 0
    assert "held-out RMSE" in text
    assert (out / "validation.png").read_bytes()[:4] == b"\x89PNG"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "sine"
    code, text, _ = _run(
        capsys, "predict", "--checkpoint", str(out / "model.safetensors"), "--steps", "3"
    )
    assert code == 0
    assert [line.split("\t")[0] for line in text.strip().splitlines()] == ["t+1", "t+2", "t+3"]


def test_train_text_then_generate_and_predict_refuses(tmp_path, capsys):
    out = tmp_path / "t"
    code, _, _ = _run(
        capsys,
        "train",
        "--task",
        "text",
        "--steps",
        "1",
        "--hidden",
        "8",
        "--no-progress",
        "--out",
        str(out),
    )
    assert code == 0
    ckpt = str(out / "model.safetensors")
    code, text, _ = _run(
        capsys, "generate", "--checkpoint", ckpt, "--prime", "def ", "--length", "20"
    )
    assert code == 0
    assert text.startswith("def ")
    assert len(text.rstrip("\n")) == 24
    code, _, err = _run(capsys, "predict", "--checkpoint", ckpt)
    assert code == 1
    assert "is a text model; use rnnlab generate" in err


def test_checkpoint_round_trip_restores_the_same_function(tmp_path):
    layer = GRULayer(2, 5, 1, seed=3)
    path = tmp_path / "c.safetensors"
    rnnlab.save_checkpoint(path, layer, extra={"kind": "series", "window": 4})
    loaded, info = load_outputs(path)
    x = np.random.default_rng(0).standard_normal((6, 2, 2)).astype(np.float32)
    np.testing.assert_array_equal(layer.forward(x), loaded.forward(x))
    assert info == {"kind": "series", "window": 4}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("train", "--task", "bogus"), "task: expected one of"),
        (("train", "--task", "csv:"), "needs a file name"),
        (("predict", "--checkpoint", "nowhere.safetensors"), "nowhere.safetensors does not exist"),
        (("compare", "--cells", "rnn,tcn", "--quick"), "cells: expected names from"),
        (("compare", "--seq-lens", "1", "--quick"), "seq_lens: expected lengths >= 2"),
        (("gradflow", "--out", "fig.svg"), "--out: expected a .png file name"),
    ],
)
def test_errors_are_one_clear_line_and_exit_1(capsys, argv, message):
    code, _, err = _run(capsys, *argv)
    assert code == 1
    assert message in err
    assert "Traceback" not in err


def test_csv_errors_name_file_row_and_column(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("t,value\n" + "".join(f"{i},{i}\n" for i in range(60)) + "61,oops\n")
    code, _, err = _run(capsys, "train", "--task", f"csv:{bad}", "--column", "value")
    assert code == 1
    assert "bad.csv: row 62, column 'value': expected a number, got 'oops'" in err
    short = tmp_path / "short.csv"
    short.write_text("value\n1\n2\n3\n")
    code, _, err = _run(capsys, "train", "--task", f"csv:{short}", "--window", "5")
    assert code == 1
    assert "has 3 values, too short: at least 12 are needed" in err
    code, _, err = _run(capsys, "train", "--task", f"csv:{short}", "--column", "price")
    assert "no column named 'price'" in err


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["recommend"])
    assert info.value.code == 2
    assert "--seq-len" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["compare", "--quick", "--full"])
    assert info.value.code == 2


def test_recommend_follows_the_decision_tree(tmp_path, capsys):
    assert decide(5)[0] == "rnn"
    assert decide(30)[0] == "gru"
    assert decide(80)[0] == "gru"
    assert decide(500)[0] == "lstm"
    assert decide(500, need_speed=True)[0] == "gru"
    assert decide(300, data_size=100)[0] == "gru"
    code, text, _ = _run(capsys, "recommend", "--seq-len", "200", "--report", str(tmp_path))
    assert code == 0
    assert text.startswith("LSTM")
    assert "run `rnnlab compare`" in text


def test_gradflow_writes_png_and_a_table(tmp_path, capsys):
    out = tmp_path / "g.png"
    code, text, _ = _run(capsys, "gradflow", "--seq-len", "30", "--out", str(out))
    assert code == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert "0.5^k" in text
