"""The RNN Encoder–Decoder: exact gradients through the context (finite differences, float64),
the input checks, greedy decoding, and the dates data it learns."""

import datetime

import numpy as np
import pytest

from rnnlab import io
from rnnlab.apps import dates
from rnnlab.apps.seq2seq import BOS, PAD, Seq2Seq
from tests.conftest import assert_gradients_match, numeric_gradient_at, randomize_params


def _batch(rng, source_steps=5, target_steps=3, batch=3, source_vocab=6, target_vocab=4):
    lengths = np.array([5, 2, 4])[:batch]
    source = rng.integers(1, source_vocab, size=(source_steps, batch))
    source[np.arange(source_steps)[:, None] >= lengths[None, :]] = PAD
    decoder_in = rng.integers(0, target_vocab, size=(batch, target_steps))
    decoder_in[:, 0] = BOS
    x = Seq2Seq.pack(source.T, decoder_in)  # (B, T, 1 + S)
    return np.ascontiguousarray(x.transpose(1, 0, 2)), lengths  # time-major, as fit passes it


def test_gradients_reach_the_encoder_through_the_context():
    rng = np.random.default_rng(0)
    model = Seq2Seq(6, 4, source_steps=5, embed=3, hidden=4, dtype=np.float64, seed=1)
    randomize_params(model, rng)
    x, _ = _batch(rng)
    R = rng.standard_normal((3, 3, 4))

    def loss_of():
        return float(np.sum(model.forward(x) * R))

    model.zero_grad()
    model.forward(x)
    model.backward(R)
    checked = {}
    for name, p in model.params.items():
        indices = rng.choice(p.size, size=min(p.size, 12), replace=False)
        numeric = numeric_gradient_at(loss_of, p, indices)
        checked[name] = (model.grads[name].reshape(-1)[indices], numeric)
    # the encoder learns only through the context: its gradients must be there and exact
    assert any(name.startswith("encoder.") for name in checked)
    assert_gradients_match(checked)


def test_padded_source_steps_change_nothing():
    rng = np.random.default_rng(2)
    model = Seq2Seq(6, 4, source_steps=5, embed=3, hidden=4, dtype=np.float64, seed=1)
    x, lengths = _batch(rng)
    y = model.forward(x)
    longer = Seq2Seq(6, 4, source_steps=7, embed=3, hidden=4, dtype=np.float64, seed=1)
    padded = np.concatenate([x, np.full((3, 3, 2), PAD)], axis=2)
    np.testing.assert_allclose(longer.forward(padded), y, rtol=1e-12)
    assert lengths.tolist() == model.source_lengths(x[0, :, 1:].T).tolist()


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (np.zeros((3, 2, 6), np.float32), "integer token ids"),
        (np.ones((3, 2, 5), np.int64), r"\(T, B, 6\)"),
        (np.zeros((3, 2, 6), np.int64), "empty"),
        (np.array([[[0, 0, 1, 1, 1, 1]]]), "PAD"),
        (np.array([[[0, 1, 1, 0, 0, 0]], [[1, 1, 2, 0, 0, 0]]]), "same source"),
    ],
)
def test_bad_input_is_explained(x, match):
    model = Seq2Seq(6, 4, source_steps=5, embed=3, hidden=4, seed=1)
    with pytest.raises(ValueError, match=match):
        model.forward(x)


def test_greedy_translation_equals_the_argmax_of_teacher_forcing_on_its_own_output():
    rng = np.random.default_rng(3)
    model = Seq2Seq(6, 4, source_steps=5, embed=3, hidden=4, dtype=np.float64, seed=4)
    randomize_params(model, rng)
    x, _ = _batch(rng)
    source = x[0, :, 1:]  # (B, S)
    guess = model.translate(source, 3)  # (B, 3)
    shifted = np.concatenate([np.full((3, 1), BOS), guess[:, :2]], axis=1)
    teacher = Seq2Seq.pack(source, shifted).transpose(1, 0, 2)
    np.testing.assert_array_equal(model.forward(teacher).argmax(-1).T, guess)


def test_checkpoint_round_trip(tmp_path):
    model = dates.make_model(hidden=8, seed=0)
    io.save_checkpoint(tmp_path / "m.safetensors", model, extra={"kind": "translation"})
    loaded = io.load_checkpoint(tmp_path / "m.safetensors").model
    source, _, _ = dates.held_out_set(4)
    np.testing.assert_array_equal(loaded.translate(source, 10), model.translate(source, 10))


def test_dates_data_are_consistent_and_hold_out_whole_days():
    rng = np.random.default_rng(0)
    written, iso = dates.make_pairs(rng, 500, held_out=False)
    test_written, test_iso = dates.make_pairs(rng, 500, held_out=True)
    assert not set(iso) & set(test_iso)
    assert dates.spell_date(0, 0) == ("1st of January 1950", "1950-01-01")
    day = (datetime.date(1999, 3, 1) - datetime.date(1950, 1, 1)).days
    assert dates.spell_date(day, 4) == ("01/03/99", "1999-03-01")
    assert dates.spell_date(day, 2) == ("March 1, 1999", "1999-03-01")
    assert dates.spell_date(day + 1, 0) == ("2nd of March 1999", "1999-03-02")
    X, Y = dates.DateBatches(8)(rng)
    assert X.shape == (8, dates.TARGET_STEPS, 1 + dates.SOURCE_STEPS)
    assert Y.shape == (8, 10)
    np.testing.assert_array_equal(X[:, 1:, 0], Y[:, :-1])  # teacher forcing
    X, Y = dates._arrays(["3rd of March 1998", "03/03/98"], ["1998-03-03"] * 2)
    assert dates.decode_target(Y) == ["1998-03-03"] * 2
    assert (X[0, :, 1:18] > 0).all()
    assert (X[0, :, 18:] == PAD).all()
    assert all(len(w) <= dates.SOURCE_STEPS for w in written + test_written)


def test_a_saved_translator_loads_in_a_fresh_interpreter(tmp_path):
    import subprocess
    import sys

    model = dates.make_model(hidden=8, seed=0)
    io.save_checkpoint(tmp_path / "m.safetensors", model, extra={"kind": "translation"})
    code = (
        "import sys, rnnlab.apps, rnnlab; "
        "print(type(rnnlab.load(sys.argv[1])).__name__, rnnlab.apps.load_outputs(sys.argv[1])[1])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "m.safetensors")],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert done.stdout.split() == ["Seq2Seq", "{'kind':", "'translation'}"]
