"""The application example scripts run as ``python examples/NAME.py ARGS`` runs them (as
``__main__``, in this process, so the data packages are imported once), with tiny settings."""

import re
import runpy
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def run(monkeypatch, capsys):
    def run_example(name, *args):
        monkeypatch.setattr(sys, "argv", [f"{name}.py", *args])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fit's stall advice on these tiny budgets
            runpy.run_path(str(ROOT / "examples" / f"{name}.py"), run_name="__main__")
        return capsys.readouterr().out

    return run_example


def test_translate_dates_prints_translations_and_the_exact_match(run):
    out = run("translate_dates", "--steps", "3", "--hidden", "8", "--no-progress")
    assert len(re.findall(r" -> [-0-9]{10}   (ok|want \d{4}-\d\d-\d\d)", out)) == 6
    assert re.search(r"exact match on 1000 held-out dates: \d\.\d{3}", out)


def test_text_classification_reads_negation(run):
    out = run("text_classification", "--steps", "60")
    accuracy = float(re.search(r"test accuracy (\d\.\d+)", out).group(1))
    assert accuracy > 0.8
    assert "'i think the music was not bad': positive" in out


@pytest.mark.parametrize(
    ("name", "args", "pattern"),
    [
        ("speech_vowels", ["--steps", "17", "--no-progress"], r"test accuracy \d\.\d{3}"),
        ("sensor_motions", ["--sizes", "4", "--steps", "10", "--seeds", "1"], r"^\s+4\s+152\s"),
    ],
)
def test_sktime_examples_run(run, name, args, pattern):
    assert re.search(pattern, run(name, *args), re.M)


def test_music_chorales_writes_a_midi_file(run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RNNLAB_CACHE", str(tmp_path / "cache"))
    out = run("music_chorales", "--steps", "2", "--limit", "5")
    assert re.search(r"^ gru\s+19686\s+\d+\.\d\d\s+8\.54$", out, re.M)
    assert (tmp_path / "chorale.mid").read_bytes()[:4] == b"MThd"
