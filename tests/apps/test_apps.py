"""Each application end to end at a tiny budget: data shapes, a held-out score above its
baseline, and the files ``rnnlab train`` writes. Goal budgets are runs, not tests
(docs/apps.md)."""

import json
import sys

import numpy as np
import pytest

from rnnlab import apps
from rnnlab.apps import chorales, motions, textclass, vowels
from rnnlab.apps._common import MissingPackageError, hidden_for_budget, make_layer, require
from tests.conftest import numeric_gradient_at, rel_error


@pytest.fixture(scope="module")
def vowels_data():
    return vowels.load_vowels()


def test_japanese_vowels_shapes_lengths_and_standardisation(vowels_data):
    train, test = vowels_data
    assert train.X.shape == (270, 29, 12)
    assert test.X.shape == (370, 29, 12)
    assert np.bincount(train.y).tolist() == [30] * 9
    assert train.lengths.min() >= 7
    assert max(train.lengths.max(), test.lengths.max()) == 29
    valid = np.arange(29)[None, :] < train.lengths[:, None]
    assert not train.X[~valid].any()  # padding stays zero
    np.testing.assert_allclose(train.X[valid].mean(axis=0), 0, atol=1e-5)


def test_vowels_gru_beats_the_majority_class_after_a_few_epochs(vowels_data):
    model, info = vowels.train_vowels(steps=40, data=vowels_data)
    train, test = vowels_data
    majority = np.mean(test.y == np.bincount(train.y).argmax())
    assert info["accuracy"] > majority + 0.4
    assert 0.5 < info["baseline_accuracy"] < 1.0  # the centroid baseline reads the data too
    assert model.output_size == 9


def test_basic_motions_smallest_model_search():
    train, test, classes = motions.load_motions()
    assert train.X.shape == test.X.shape == (40, 100, 6)
    assert classes == ["badminton", "running", "standing", "walking"]
    _, info = motions.train_motions(steps=40, seeds=1, data=(train, test), hidden=None, lr=1e-2)
    assert [row["hidden"] for row in info["sweep"]] == list(motions.HIDDEN_SIZES)
    params = [row["parameters"] for row in info["sweep"]]
    assert params == sorted(params)
    assert info["hidden"] in motions.HIDDEN_SIZES
    assert info["mean_accuracy"] == max(r["mean"] for r in info["sweep"]) or info["goal_reached"]
    assert info["accuracy"] > info["baseline_accuracy"] == 0.25


def test_text_classifier_reads_negation_on_a_generated_corpus(tmp_path):
    path = textclass.make_corpus(tmp_path / "reviews.csv", 300, seed=1)
    _model, info = textclass.train_textclass(path, steps=60, seed=0)
    assert info["classes"] == ["negative", "positive"]
    assert info["test_sequences"] == 60
    assert info["accuracy"] > info["baseline_accuracy"] + 0.3


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("words,label\na,b\n", "no column named 'text'"),
        ("text,label\n" + "a b,x\n" * 12, "2 different labels"),
        ("text,label\na,x\nb\n", "row 3 has 1 fields"),
    ],
)
def test_text_csv_errors_name_file_and_row(tmp_path, content, match):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        textclass.load_text_csv(path)


def test_sigmoid_nll_gradient_and_value():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((4, 3, 5))
    y = (rng.random((4, 3, 5)) < 0.3).astype(float)
    mask = rng.random((4, 3)) < 0.7
    loss, grad = chorales.sigmoid_nll(z, y, mask)
    p = 1 / (1 + np.exp(-z))
    per_step = -(y * np.log(p) + (1 - y) * np.log(1 - p)).sum(-1)
    assert loss == pytest.approx(per_step[mask].mean(), rel=1e-12)
    numeric = numeric_gradient_at(lambda: chorales.sigmoid_nll(z, y, mask)[0], z, range(z.size))
    assert rel_error(grad.reshape(-1), numeric) < 1e-7


def test_piano_roll_of_a_small_score():
    music21 = require("music21", "the test")
    stream = music21.stream.Stream()
    stream.insert(0.0, music21.note.Note("C4", quarterLength=2.0))  # MIDI 60, beats 0-1
    stream.insert(1.5, music21.chord.Chord(["E4", "G4"], quarterLength=1.0))  # beats 2
    stream.insert(3.0, music21.note.Note("A0", quarterLength=0.5))  # MIDI 21, beat 3
    roll = chorales.piano_roll(stream)
    assert roll.shape == (4, 88)
    on = {(t, k + chorales.LOWEST_KEY) for t, k in zip(*np.nonzero(roll), strict=True)}
    assert on == {(0, 60), (1, 60), (2, 64), (2, 67), (3, 21)}


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_chorale_models_have_equal_parameter_budgets(cell):
    size = hidden_for_budget(cell, chorales.KEYS, chorales.KEYS, chorales.PARAMETER_BUDGET)
    params = make_layer(cell, chorales.KEYS, size, chorales.KEYS, seed=0).num_parameters()
    bigger = make_layer(cell, chorales.KEYS, size + 1, chorales.KEYS, seed=0).num_parameters()
    assert params <= chorales.PARAMETER_BUDGET < bigger


def test_chorales_train_generate_and_write_midi(tmp_path, monkeypatch):
    mido = require("mido", "the test")
    monkeypatch.setenv("RNNLAB_CACHE", str(tmp_path / "cache"))
    _model, info = chorales.train_chorales(
        cell="gru", steps=40, limit=6, window=16, lr=2e-2, seed=0
    )
    assert info["cells"]["gru"]["hidden"] == 41
    assert info["nll"] < info["baseline_nll"]
    assert list((tmp_path / "cache").glob("*.npz"))  # the extracted rolls are cached
    roll = np.asarray(info["sample_roll"])
    assert roll.shape == (64, 88)
    path = chorales.write_midi(roll, tmp_path / "s.mid")
    notes_on = sum(
        1 for m in mido.MidiFile(path).tracks[0] if m.type == "note_on" and m.velocity > 0
    )
    starts = np.logical_and(roll, np.vstack([np.zeros((1, 88)), roll[:-1]]) == 0).sum()
    assert notes_on == starts > 0


def test_missing_optional_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sktime.datasets", None)  # import now raises ImportError
    with pytest.raises(MissingPackageError, match=r"pip install 'rnnlab\[apps\]'"):
        require("sktime.datasets", "the Japanese Vowels data")


def test_registry_names_and_errors():
    assert "vowels" in apps.names()
    assert "textclass:PATH" in apps.names()
    assert apps.get("dates").metric == "exact_match"
    with pytest.raises(ValueError, match="expected one of"):
        apps.get("nope")
    with pytest.raises(ValueError, match="needs a file name"):
        apps.parse("textclass:")
    with pytest.raises(ValueError, match="takes no ':' argument"):
        apps.parse("vowels:x")
    with pytest.raises(ValueError, match="--window: the vowels task does not use it"):
        apps.train("vowels", window=5)


def test_train_writes_checkpoint_metrics_and_figure(tmp_path):
    path = textclass.make_corpus(tmp_path / "r.csv", 200)
    model, info = apps.train(f"textclass:{path}", steps=20, seed=0, progress=False)
    written = apps.write_outputs(tmp_path / "out", model, info)
    assert written == ["model.safetensors", "metrics.json", "validation.png"]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["accuracy"] == info["accuracy"]
    assert "vocabulary" not in metrics
    assert (tmp_path / "out" / "validation.png").read_bytes()[:4] == b"\x89PNG"
    loaded, extra = apps.load_outputs(tmp_path / "out" / "model.safetensors")
    assert extra["vocabulary"] == info["vocabulary"]
    ids = np.array([[2, 3, 4]]).T
    np.testing.assert_array_equal(loaded.forward(ids), model.forward(ids))
