"""Sequential: composition, gradients of the whole chain, parameter keys, modes, configs, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnlab import GRULayer, LSTMLayer, RNNLayer
from rnnlab.models import LSTM, Bidirectional, Dense, Dropout, Embedding, Sequential, Tanh
from rnnlab.registry import build, describe
from tests.models.helpers import assert_gradients_match, gradcheck_params, randomize

F64 = {"dtype": np.float64}


def _char_model():
    """Embedding -> LSTM layer -> Dropout -> Dense: a character model in miniature."""
    return Sequential(
        Embedding(5, 3, seed=0, **F64),
        LSTMLayer(3, 4, seed=1, **F64),
        Dropout(0.4, seed=2),
        Dense(4, 5, seed=3, **F64),
    )


def test_forward_is_the_composition_of_the_modules():
    rng = np.random.default_rng(0)
    model = _char_model().eval()
    ids = rng.integers(0, 5, size=(6, 2))
    emb, lstm, _, dense = model.modules
    expected = dense(lstm(emb(ids)))
    np.testing.assert_array_equal(model(ids), expected)


def test_gradcheck_through_embedding_lstm_dropout_dense():
    rng = np.random.default_rng(1)
    model = _char_model()
    randomize(model, rng)
    ids = rng.integers(0, 5, size=(4, 2))
    R = rng.standard_normal((4, 2, 5))
    rng_state = model[2].rng.bit_generator.state

    def loss_of():
        model[2].rng.bit_generator.state = rng_state  # same dropout mask at every evaluation
        return float(np.sum(model(ids) * R))

    def run_backward():
        loss_of()
        assert model.backward(R) is None  # integer ids have no gradient
        return {}

    checked = gradcheck_params(model, loss_of, run_backward)
    assert set(checked) == set(model.params)
    assert_gradients_match(checked)


@pytest.mark.parametrize("batch_first", [False, True])
def test_gradcheck_input_through_stacked_layers(batch_first):
    rng = np.random.default_rng(2)
    model = Sequential(
        GRULayer(2, 3, batch_first=batch_first, reset_after=True, seed=0, **F64),
        Tanh(),
        RNNLayer(3, 2, output_size=2, batch_first=batch_first, seed=1, **F64),
    )
    randomize(model, rng)
    x = rng.standard_normal((3, 2, 2))
    R = rng.standard_normal((3, 2, 2))

    def loss_of():
        return float(np.sum(model(x) * R))

    def run_backward():
        model(x)
        return {"x": model.backward(R)}

    assert_gradients_match(gradcheck_params(model, loss_of, run_backward, {"x": x}))


def test_batch_first_sequential_equals_time_major_one():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 2, 3))  # (T, B, I)
    time_major = Sequential(LSTMLayer(3, 4, seed=0, **F64), Dense(4, 2, seed=1, **F64))
    batch_first = Sequential(
        LSTMLayer(3, 4, seed=0, batch_first=True, **F64), Dense(4, 2, seed=1, **F64)
    )
    assert batch_first.batch_first
    assert not time_major.batch_first
    y = batch_first(x.transpose(1, 0, 2))
    np.testing.assert_allclose(y, time_major(x).transpose(1, 0, 2), rtol=0, atol=1e-15)


def test_params_keys_are_prefixed_and_live():
    model = _char_model()
    keys = list(model.params)
    assert keys[:2] == ["0.W", "1.W_f"]
    assert keys[-2:] == ["3.W", "3.b"]
    assert list(model.grads) == keys
    lstm = model[1]
    assert model.params["1.U_o"] is lstm.params["U_o"]
    model.params["1.U_o"][...] = 0.25  # writing into the view changes the layer
    assert np.all(lstm.params["U_o"] == 0.25)
    model.params["3.b"] = np.arange(5.0)  # assigning copies into the child's storage
    np.testing.assert_array_equal(model[3].params["b"], np.arange(5.0))
    with pytest.raises(ValueError, match=r"3.b: expected shape \(5,\)"):
        model.params["3.b"] = np.zeros(4)
    nested = Sequential(model, Dense(5, 1))
    assert "0.1.W_f" in nested.params
    assert "1.W" in nested.params
    assert nested.num_parameters() == model.num_parameters() + 6
    assert (
        model.num_parameters()
        == sum(p.size for p in model.params.values())
        == 5 * 3 + (4 * 4 * (3 + 4 + 1)) + (5 * 4 + 5)
    )


def test_zero_grad_and_modes_propagate():
    rng = np.random.default_rng(4)
    model = _char_model()
    y = model(rng.integers(0, 5, size=(3, 2)))
    model.backward(np.ones_like(y))
    assert all(np.any(g) for g in model.grads.values())
    model.zero_grad()
    assert not any(np.any(g) for g in model.grads.values())
    model.eval()
    assert not model.training
    assert not any(m.training for m in model)
    ids = rng.integers(0, 5, size=(3, 2))
    np.testing.assert_array_equal(model(ids), model(ids))  # dropout off: deterministic
    model.train()
    assert all(m.training for m in model)
    assert not np.array_equal(model(ids), model(ids))


def test_config_round_trip_and_summary():
    model = Sequential(
        Embedding(7, 3),
        Bidirectional(GRULayer(3, 2, reset_after=True)),
        LSTM(4, 3, num_layers=2, dropout=0.1),
        Sequential(Dense(3, 3), Tanh()),
        Dense(3, 7),
    )
    description = json.loads(json.dumps(describe(model)))
    rebuilt = build(description)
    assert describe(rebuilt) == describe(model)
    assert {k: v.shape for k, v in rebuilt.params.items()} == {
        k: v.shape for k, v in model.params.items()
    }
    text = model.summary()
    for word in (
        "Embedding",
        "Bidirectional",
        "LSTM",
        "1.forward.W_z",
        f"{model.num_parameters():,}",
    ):
        assert word in text


class _Recorder:
    """A minimal recurrent module that records what forward received."""

    is_recurrent = True
    batch_first = False
    params = grads = {}  # noqa: RUF012

    def __init__(self):
        self.seen = []

    def forward(self, x, lengths=None):
        self.seen.append(lengths)
        return x

    def backward(self, dy):
        return dy

    def get_config(self):
        return {}

    def zero_grad(self):
        pass

    def train(self, mode=True):
        return self


def test_lengths_go_to_recurrent_modules_only():
    recorder = _Recorder()
    model = Sequential(Dense(2, 2), recorder, Dense(2, 1))  # Dense.forward has no lengths
    x = np.zeros((3, 2, 2), np.float32)
    model(x)
    model(x, lengths=np.array([3, 1]))
    assert recorder.seen[0] is None
    np.testing.assert_array_equal(recorder.seen[1], [3, 1])


class _NoLengths(_Recorder):
    def forward(self, x):
        return x


def test_lengths_to_a_recurrent_module_without_lengths_is_a_clear_error():
    model = Sequential(Dense(2, 2), _NoLengths())
    with pytest.raises(TypeError, match=r"lengths: modules\[1\] \(_NoLengths\)"):
        model(np.zeros((3, 2, 2), np.float32), lengths=np.array([3, 2]))


def test_construction_errors():
    with pytest.raises(ValueError, match=r"modules\[1\] \(LSTMLayer\): expects 5 input features"):
        Sequential(Dense(3, 4), LSTMLayer(5, 2))
    with pytest.raises(ValueError, match="expects 3 input features, but modules"):
        Sequential(Bidirectional(RNNLayer(2, 3)), Dropout(0.1), Dense(3, 1))  # 2H = 6 out
    with pytest.raises(ValueError, match="must be the first"):
        Sequential(Dense(3, 3), Embedding(3, 3))
    with pytest.raises(ValueError, match="batch_first"):
        Sequential(LSTMLayer(2, 2, batch_first=True), GRULayer(2, 2))
    with pytest.raises(TypeError, match=r"modules\[1\]"):
        Sequential(Dense(2, 2), np.tanh)
    with pytest.raises(TypeError, match=r"modules\[0\]"):
        Sequential(Dense)
    with pytest.raises(ValueError, match="at least one"):
        Sequential()
    with pytest.raises(RuntimeError, match="before forward"):
        Sequential(Dense(2, 2)).backward(np.zeros((1, 2)))


def test_save_and_load_a_whole_model(tmp_path):
    import rnnlab

    rng = np.random.default_rng(6)
    model = Sequential(
        Embedding(7, 3, seed=0),
        Bidirectional(GRULayer(3, 2, reset_after=True, seed=1)),
        LSTM(4, 3, num_layers=2, dropout=0.1, output_size=2, seed=2),
        Dense(2, 7, seed=3),
    )
    randomize(model, rng)
    path = tmp_path / "model.safetensors"
    model.save(path)
    loaded = rnnlab.load(path)
    assert describe(loaded) == describe(model)
    for key, value in model.params.items():
        np.testing.assert_array_equal(loaded.params[key], value)
    ids = rng.integers(0, 7, size=(5, 2))
    np.testing.assert_array_equal(loaded.eval()(ids), model.eval()(ids))
