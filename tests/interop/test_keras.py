"""Keras 3 <-> rnnlab: parity of outputs and final states in float64, exact round trips, errors.

Keras is imported once for the whole module (it is slow to import), on the torch backend.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import pytest
from keras.src.backend.common import dtypes as keras_dtypes

from rnnlab import GRULayer, LSTMLayer, RNNLayer, models
from rnnlab.interop.keras import from_keras, to_keras

FLOAT64_TOL = 1e-10
SHAPES = [(1, 1), (1, 3), (6, 1), (5, 4)]  # (T, B)
CELLS = ["rnn", "lstm", "gru_reset_after", "gru_guide"]
INPUT_SIZE, HIDDEN_SIZE = 3, 4

# Keras' own NumPy-2 deprecation noise, not ours
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(autouse=True)
def keras_true_float64(monkeypatch):
    """Make Keras compute float64 in float64.

    On every backend but TensorFlow, Keras maps every 64-bit result dtype to 32 bits
    (``BIT64_TO_BIT32_DTYPE`` in keras/src/backend/common/dtypes.py, mimicking JAX without x64), so
    a float64 layer returns float64 tensors of float32 accuracy (~1e-7). Parity to 1e-10 needs the
    real float64 arithmetic, so the tests switch that one mapping off.
    """
    monkeypatch.setitem(keras_dtypes.BIT64_TO_BIT32_DTYPE, "float64", "float64")


def keras_layer(cell, **kwargs):
    common = {"return_sequences": True, "dtype": "float64"} | kwargs
    if cell == "rnn":
        return keras.layers.SimpleRNN(HIDDEN_SIZE, **common)
    if cell == "lstm":
        return keras.layers.LSTM(HIDDEN_SIZE, **common)
    return keras.layers.GRU(HIDDEN_SIZE, reset_after=cell == "gru_reset_after", **common)


def random_weights(klayer, rng):
    klayer.build((None, None, INPUT_SIZE))
    klayer.set_weights([rng.normal(size=w.shape) for w in klayer.get_weights()])
    return klayer


def to_np(tensor):
    return np.asarray(tensor.detach().cpu().numpy())


def rnnlab_layer(cell, rng, output_size=None, dtype=np.float64):
    if cell == "rnn":
        layer = RNNLayer(INPUT_SIZE, HIDDEN_SIZE, output_size, dtype=dtype, seed=rng)
    elif cell == "lstm":
        layer = LSTMLayer(INPUT_SIZE, HIDDEN_SIZE, output_size, dtype=dtype, seed=rng)
    else:
        reset_after = cell == "gru_reset_after"
        layer = GRULayer(
            INPUT_SIZE, HIDDEN_SIZE, output_size, dtype=dtype, seed=rng, reset_after=reset_after
        )
    layer._flat[...] = rng.normal(size=layer._flat.shape)  # biases and b_hn non-zero too
    return layer


def random_state(cell, batch_size, rng):
    h0 = rng.normal(size=(batch_size, HIDDEN_SIZE))
    return (h0, rng.normal(size=(batch_size, HIDDEN_SIZE))) if cell == "lstm" else h0


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize(("num_steps", "batch_size"), SHAPES)
def test_from_keras_outputs_and_final_state_match(cell, num_steps, batch_size):
    rng = np.random.default_rng(num_steps * 10 + batch_size)
    converted_source = random_weights(keras_layer(cell), rng)
    # the reference also returns its final state; same weights, different flags
    reference = random_weights(keras_layer(cell, return_state=True), rng)
    reference.set_weights(converted_source.get_weights())
    x = rng.normal(size=(batch_size, num_steps, INPUT_SIZE))
    state = random_state(cell, batch_size, rng)
    initial = list(state) if cell == "lstm" else [state]
    y_ref, *final_ref = reference(x, initial_state=initial)

    layer = from_keras(converted_source)
    assert layer.batch_first
    assert layer.dtype == np.float64
    y = layer.forward(x, state)
    np.testing.assert_allclose(y, to_np(y_ref), rtol=0, atol=FLOAT64_TOL)
    final = layer.final_state if cell == "lstm" else (layer.final_state,)
    for ours, theirs in zip(final, final_ref, strict=True):
        np.testing.assert_allclose(ours, to_np(theirs), rtol=0, atol=FLOAT64_TOL)


def test_guide_gru_matches_keras_reset_after_false_independently():
    """Keras' GRU(reset_after=False) is an independent implementation of the guide's GRU:
    set the guide's named parameters by hand (no converter) and compare."""
    rng = np.random.default_rng(7)
    layer = rnnlab_layer("gru_guide", rng)
    klayer = keras_layer("gru_guide")
    klayer.build((None, None, INPUT_SIZE))
    p = layer.params
    kernel = np.concatenate([p["W_z"], p["W_r"], p["W_h"]]).T  # Keras: (I, 3H), blocks z, r, h
    recurrent = np.concatenate([p["U_z"], p["U_r"], p["U_h"]]).T
    bias = np.concatenate([p["b_z"], p["b_r"], p["b_h"]])
    klayer.set_weights([kernel, recurrent, bias])
    x = rng.normal(size=(5, 2, INPUT_SIZE))  # rnnlab: time-major
    y = layer.forward(x)
    y_keras = to_np(klayer(np.transpose(x, (1, 0, 2))))
    np.testing.assert_allclose(y, np.transpose(y_keras, (1, 0, 2)), rtol=0, atol=FLOAT64_TOL)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("output_size", [None, 2])
def test_to_keras_matches_and_round_trips(cell, output_size):
    rng = np.random.default_rng(3)
    layer = rnnlab_layer(cell, rng, output_size)
    model = to_keras(layer)
    x = rng.normal(size=(3, 4, INPUT_SIZE))  # (T, B, I) for rnnlab
    y = layer.forward(x)
    y_keras = to_np(model(np.transpose(x, (1, 0, 2))))
    np.testing.assert_allclose(y, np.transpose(y_keras, (1, 0, 2)), rtol=0, atol=FLOAT64_TOL)

    back = from_keras(model)
    assert type(back) is type(layer)
    assert back.output_size == output_size
    assert back.params.keys() == layer.params.keys()
    for name, value in layer.params.items():
        np.testing.assert_array_equal(back.params[name], value, err_msg=name)


@pytest.mark.parametrize("cell", ["lstm", "gru_reset_after"])
def test_float32_round_trip_keeps_dtype_and_values(cell):
    rng = np.random.default_rng(4)
    layer = rnnlab_layer(cell, rng, dtype=np.float32)
    back = from_keras(to_keras(layer))
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back._flat, layer._flat)


def test_return_sequences_false_gives_last_step():
    rng = np.random.default_rng(5)
    layer = rnnlab_layer("lstm", rng, output_size=2)
    model = to_keras(layer, return_sequences=False)
    x = rng.normal(size=(4, 2, INPUT_SIZE))
    last = to_np(model(np.transpose(x, (1, 0, 2))))  # (B, O)
    np.testing.assert_allclose(layer.forward(x)[-1], last, rtol=0, atol=FLOAT64_TOL)
    back = from_keras(model)
    np.testing.assert_array_equal(back._flat, layer._flat)


def test_time_distributed_dense_head_is_read():
    rng = np.random.default_rng(6)
    klayer = random_weights(keras_layer("gru_reset_after"), rng)
    dense = keras.layers.TimeDistributed(keras.layers.Dense(2, dtype="float64"), dtype="float64")
    model = keras.Sequential([keras.Input((None, INPUT_SIZE), dtype="float64"), klayer, dense])
    dense.layer.set_weights([rng.normal(size=(HIDDEN_SIZE, 2)), rng.normal(size=2)])
    x = rng.normal(size=(2, 3, INPUT_SIZE))
    layer = from_keras(model)
    np.testing.assert_allclose(layer.forward(x), to_np(model(x)), rtol=0, atol=FLOAT64_TOL)


def built_model(*layers):
    model = keras.Sequential([keras.Input((None, INPUT_SIZE), dtype="float64"), *layers])
    model.build((None, None, INPUT_SIZE))
    return model


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"recurrent_activation": "hard_sigmoid"}, "recurrent_activation='hard_sigmoid'"),
        ({"activation": "relu"}, "activation='relu'"),
        ({"use_bias": False}, "use_bias=False"),
        ({"go_backwards": True}, "go_backwards=True"),
        ({"return_state": True}, "return_state=True"),
    ],
)
def test_unconvertible_keras_layer_is_refused(kwargs, match):
    klayer = keras_layer("lstm", **kwargs)
    klayer.build((None, None, INPUT_SIZE))
    with pytest.raises(ValueError, match=match):
        from_keras(klayer)


def test_stateful_layer_is_refused():
    klayer = keras.layers.GRU(HIDDEN_SIZE, stateful=True, return_sequences=True)
    keras.Sequential([keras.Input((None, INPUT_SIZE), batch_size=2), klayer])
    with pytest.raises(ValueError, match="stateful=True"):
        from_keras(klayer)


def test_nonlinear_dense_head_is_refused():
    model = built_model(keras_layer("rnn"), keras.layers.Dense(2, activation="relu"))
    with pytest.raises(ValueError, match="linear Dense head"):
        from_keras(model)


def test_dense_before_recurrent_layer_is_refused():
    model = built_model(keras.layers.Dense(INPUT_SIZE), keras_layer("rnn"))
    with pytest.raises(ValueError, match="only as the last layer"):
        from_keras(model)


def test_other_keras_layers_are_refused():
    with pytest.raises(TypeError, match="expected a Keras SimpleRNN, LSTM, GRU"):
        from_keras(keras.layers.Conv1D(2, 3))
    with pytest.raises(TypeError, match="GRUCell"):
        from_keras(keras.layers.RNN(keras.layers.StackedRNNCells([keras.layers.GRUCell(2)])))


def test_unbuilt_layer_is_refused():
    with pytest.raises(ValueError, match="not built"):
        from_keras(keras.layers.LSTM(HIDDEN_SIZE))


def test_to_keras_rejects_non_rnnlab_objects():
    with pytest.raises(TypeError, match="expected an rnnlab"):
        to_keras(object())


# ----------------------------------------------------------------------------- stacks
def randomize(model, rng):
    for name, value in model.params.items():
        model.params[name] = rng.normal(scale=0.8, size=value.shape)
    return model


def assert_same_params(a, b):
    assert list(a.params) == list(b.params)
    for name, value in a.params.items():
        np.testing.assert_array_equal(b.params[name], value, err_msg=name)


def random_keras(*layers, seed=0):
    rng = np.random.default_rng(seed)
    model = built_model(*layers)
    for lay in model.layers:
        lay.set_weights([rng.normal(scale=0.8, size=w.shape) for w in lay.get_weights()])
    return model


@pytest.mark.parametrize(("num_steps", "batch_size"), [(1, 1), (5, 3)])
def test_keras_stack_of_one_cell_becomes_an_rnnlab_stack(num_steps, batch_size):
    model = random_keras(
        keras.layers.LSTM(HIDDEN_SIZE, return_sequences=True, dtype="float64"),
        keras.layers.LSTM(HIDDEN_SIZE, return_sequences=True, dtype="float64"),
        keras.layers.Dense(2, dtype="float64"),
    )
    converted = from_keras(model)
    assert type(converted) is models.LSTM
    assert (converted.num_layers, converted.output_size) == (2, 2)
    x = np.random.default_rng(1).normal(size=(batch_size, num_steps, INPUT_SIZE))
    np.testing.assert_allclose(converted.forward(x), to_np(model(x)), rtol=0, atol=FLOAT64_TOL)
    assert_same_params(converted, from_keras(to_keras(converted)))


@pytest.mark.parametrize("reset_after", [False, True])
def test_keras_bidirectional_gru_stack(reset_after):
    def gru():
        return keras.layers.GRU(
            HIDDEN_SIZE, return_sequences=True, reset_after=reset_after, dtype="float64"
        )

    model = random_keras(
        keras.layers.Bidirectional(gru(), dtype="float64"),
        keras.layers.Bidirectional(gru(), dtype="float64"),
        seed=2,
    )
    converted = from_keras(model)
    assert type(converted) is models.GRU
    assert converted.bidirectional
    assert converted.layer_options["reset_after"] == reset_after
    x = np.random.default_rng(3).normal(size=(2, 6, INPUT_SIZE))
    np.testing.assert_allclose(converted.forward(x), to_np(model(x)), rtol=0, atol=FLOAT64_TOL)
    assert_same_params(converted, from_keras(to_keras(converted)))


def test_keras_bidirectional_final_states_match():
    rng = np.random.default_rng(4)
    layer = randomize(
        models.Bidirectional(LSTMLayer(INPUT_SIZE, HIDDEN_SIZE, dtype=np.float64)), rng
    )
    kmodel = to_keras(layer)
    wrapper = kmodel.layers[0]
    reference = keras.layers.Bidirectional(
        keras.layers.LSTM(HIDDEN_SIZE, return_sequences=True, return_state=True, dtype="float64"),
        dtype="float64",
    )
    reference.build((None, None, INPUT_SIZE))
    reference.set_weights(wrapper.get_weights())
    x = rng.normal(size=(3, 5, INPUT_SIZE))  # Keras: (B, T, I)
    y_ref, h_f, c_f, h_b, c_b = (to_np(t) for t in reference(x))
    y = layer.forward(np.transpose(x, (1, 0, 2)))
    np.testing.assert_allclose(np.transpose(y, (1, 0, 2)), y_ref, rtol=0, atol=FLOAT64_TOL)
    (h_fwd, C_fwd), (h_rev, C_rev) = layer.final_state
    for ours, theirs in ((h_fwd, h_f), (C_fwd, c_f), (h_rev, h_b), (C_rev, c_b)):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=FLOAT64_TOL)


def test_mixed_keras_model_becomes_a_sequential_and_round_trips():
    model = random_keras(
        keras.layers.SimpleRNN(HIDDEN_SIZE, return_sequences=True, dtype="float64"),
        keras.layers.Bidirectional(
            keras.layers.LSTM(HIDDEN_SIZE, return_sequences=True, dtype="float64"),
            dtype="float64",
        ),
        keras.layers.GRU(5, return_sequences=True, reset_after=False, dtype="float64"),
        keras.layers.Dense(2, dtype="float64"),
        seed=5,
    )
    converted = from_keras(model)
    assert type(converted) is models.Sequential
    kinds = [type(m).__name__ for m in converted.modules]
    assert kinds == ["RNNLayer", "Bidirectional", "GRULayer", "Dense"]
    x = np.random.default_rng(6).normal(size=(2, 4, INPUT_SIZE))
    np.testing.assert_allclose(converted.forward(x), to_np(model(x)), rtol=0, atol=FLOAT64_TOL)
    assert_same_params(converted, from_keras(to_keras(converted)))


def test_rnnlab_stack_to_keras_matches():
    rng = np.random.default_rng(7)
    stack = randomize(
        models.RNN(INPUT_SIZE, HIDDEN_SIZE, 3, bidirectional=True, output_size=2, dtype="float64"),
        rng,
    )
    x = rng.normal(size=(4, 2, INPUT_SIZE))  # time-major
    y_keras = to_np(to_keras(stack)(np.transpose(x, (1, 0, 2))))
    np.testing.assert_allclose(stack.forward(x), np.transpose(y_keras, (1, 0, 2)), atol=FLOAT64_TOL)


def test_keras_bidirectional_without_concat_or_sequences_is_refused():
    lstm = keras.layers.LSTM(HIDDEN_SIZE, return_sequences=True)
    with pytest.raises(ValueError, match="merge_mode='sum'"):
        from_keras(built_model(keras.layers.Bidirectional(lstm, merge_mode="sum")))
    last_only = keras.layers.Bidirectional(keras.layers.LSTM(HIDDEN_SIZE))
    with pytest.raises(ValueError, match="return_sequences=False"):
        from_keras(built_model(last_only))
    bidirectional = models.Bidirectional(LSTMLayer(INPUT_SIZE, HIDDEN_SIZE))
    with pytest.raises(ValueError, match="return_sequences"):
        to_keras(bidirectional, return_sequences=False)


def test_layer_options_without_counterpart_are_refused():
    with pytest.raises(ValueError, match="layer_norm"):
        to_keras(GRULayer(INPUT_SIZE, HIDDEN_SIZE, layer_norm=True))
    with pytest.raises(ValueError, match="zoneout"):
        to_keras(models.LSTM(INPUT_SIZE, HIDDEN_SIZE, 2, zoneout=(0.0, 0.1)))
    # a zoneout seed without zoneout changes nothing, so it converts
    layer = rnnlab_layer("gru_guide", np.random.default_rng(11))
    seeded = GRULayer(INPUT_SIZE, HIDDEN_SIZE, zoneout_seed=3, dtype=np.float64)
    seeded._flat[...] = layer._flat
    np.testing.assert_array_equal(from_keras(to_keras(seeded))._flat, layer._flat)


def test_keras_dropout_layers_are_the_identity_at_inference():
    model = random_keras(
        keras.layers.GRU(HIDDEN_SIZE, return_sequences=True, dtype="float64"),
        keras.layers.Dropout(0.5, dtype="float64"),
        keras.layers.GRU(HIDDEN_SIZE, return_sequences=True, dropout=0.3, dtype="float64"),
        seed=8,
    )
    converted = from_keras(model)
    assert type(converted) is models.GRU
    x = np.random.default_rng(9).normal(size=(2, 4, INPUT_SIZE))
    np.testing.assert_allclose(converted.forward(x), to_np(model(x)), rtol=0, atol=FLOAT64_TOL)


def test_functional_model_converts_and_branches_are_refused():
    rng = np.random.default_rng(10)
    inputs = keras.Input((None, INPUT_SIZE), dtype="float64")
    lstm = random_weights(keras_layer("lstm"), rng)
    dense = keras.layers.Dense(2, dtype="float64")
    model = keras.Model(inputs, dense(lstm(inputs)))
    x = rng.normal(size=(2, 3, INPUT_SIZE))
    converted = from_keras(model)
    np.testing.assert_allclose(converted.forward(x), to_np(model(x)), rtol=0, atol=FLOAT64_TOL)

    branch = keras.layers.GRU(HIDDEN_SIZE, return_sequences=True, dtype="float64")
    merged = keras.layers.Concatenate(dtype="float64")([lstm(inputs), branch(inputs)])
    with pytest.raises(ValueError, match="linear chain"):
        from_keras(keras.Model(inputs, merged))
    # x -> A -> B -> A: layers lists [A, B], so only the wiring tells
    shared = keras.layers.GRU(INPUT_SIZE, return_sequences=True, dtype="float64")
    middle = keras.layers.GRU(INPUT_SIZE, return_sequences=True, dtype="float64")
    with pytest.raises(ValueError, match="last layer's output"):
        from_keras(keras.Model(inputs, shared(middle(shared(inputs)))))
