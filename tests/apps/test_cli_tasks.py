"""``rnnlab train --task NAME`` for the applications: files, metrics, generate, clear errors."""

import json
import sys

import pytest

from rnnlab.apps import textclass
from rnnlab.cli.main import main


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_train_textclass_from_a_csv_writes_the_held_out_accuracy(tmp_path, capsys):
    path = textclass.make_corpus(tmp_path / "reviews.csv", 200)
    out = tmp_path / "m"
    code, text, _ = _run(
        capsys, "train", "--task", f"textclass:{path}", "--steps", "30", "--no-progress",
        "--out", str(out),
    )  # fmt: skip
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == f"textclass:{path}"
    assert f"test accuracy {metrics['accuracy']:.3f}" in text
    assert {p.name for p in out.iterdir()} == {
        "model.safetensors",
        "metrics.json",
        "validation.png",
    }


def test_train_dates_then_generate_refuses_a_translation_model(tmp_path, capsys):
    out = tmp_path / "d"
    code, text, _ = _run(
        capsys, "train", "--task", "dates", "--steps", "3", "--hidden", "8", "--no-progress",
        "--out", str(out),
    )  # fmt: skip
    assert code == 0
    assert "exact match" in text
    assert json.loads((out / "metrics.json").read_text())["test_pairs"] == 1000
    code, _, err = _run(capsys, "generate", "--checkpoint", str(out / "model.safetensors"))
    assert code == 1
    assert "translation model, not a text model" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--task", "vowels", "--window", "3"], "--window: the vowels task does not use it"),
        (["--task", "dates", "--cell", "lstm"], "--cell: the dates task does not use it"),
        (["--task", "textclass:"], "needs a file name"),
        (["--task", "nope"], "expected one of"),
    ],
)
def test_train_errors_are_one_line(capsys, argv, message):
    code, _, err = _run(capsys, "train", *argv, "--no-progress")
    assert code == 1
    assert message in err
    assert "Traceback" not in err


def test_chorales_checkpoint_generates_a_midi_file(tmp_path, capsys, monkeypatch):
    mido = pytest.importorskip("mido")
    monkeypatch.setenv("RNNLAB_CACHE", str(tmp_path / "cache"))
    from rnnlab.apps import chorales, write_outputs

    model, info = chorales.train_chorales(cell="gru", steps=2, limit=3, window=8)
    written = write_outputs(tmp_path / "c", model, {"task": "chorales", **info})
    assert "sample.mid" in written
    midi = tmp_path / "g.mid"
    code, text, _ = _run(
        capsys, "generate", "--checkpoint", str(tmp_path / "c" / "model.safetensors"),
        "--length", "16", "--midi", str(midi),
    )  # fmt: skip
    assert code == 0
    assert str(midi) in text
    ticks = sum(m.time for m in mido.MidiFile(midi).tracks[0])
    assert ticks == (8 + 16) * 480  # the 8 opening beats, 16 sampled, one beat per step


def test_a_task_without_its_package_says_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "sktime.datasets", None)  # import now raises ImportError
    code, _, err = _run(
        capsys, "train", "--task", "motions", "--steps", "1", "--no-progress",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 1
    assert "pip install 'rnnlab[apps]'" in err
    assert "Traceback" not in err
