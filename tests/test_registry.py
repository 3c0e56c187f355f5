"""describe/build: layers round-trip through a JSON-able description, nothing unpickled."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnlab import GRULayer, LSTMLayer, RNNLayer
from rnnlab.registry import build, describe, known_classes

LAYERS = [
    RNNLayer(3, 4, 2, dtype=np.float64, batch_first=True, init="he"),
    LSTMLayer(3, 4, forget_bias=1.5),
    GRULayer(3, 4, 1, reset_after=True),
]


@pytest.mark.parametrize("layer", LAYERS, ids=["rnn", "lstm", "gru"])
def test_describe_build_round_trip(layer):
    description = json.loads(json.dumps(describe(layer)))  # JSON-able, survives a file
    assert description["class"] == type(layer).__name__
    rebuilt = build(description)
    assert type(rebuilt) is type(layer)
    assert rebuilt.get_config() == layer.get_config()
    assert rebuilt.num_parameters() == layer.num_parameters()
    assert rebuilt.dtype == layer.dtype
    assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()


def test_config_records_the_cell_options():
    assert LSTMLayer(3, 4, forget_bias=1.5).get_config()["forget_bias"] == 1.5
    assert GRULayer(3, 4, reset_after=True).get_config()["reset_after"] is True
    assert RNNLayer(3, 4, dtype=np.float64).get_config()["dtype"] == "float64"


def test_the_three_layers_are_registered():
    assert {"RNNLayer", "LSTMLayer", "GRULayer"} <= set(known_classes())


@pytest.mark.parametrize(
    ("description", "match"),
    [
        ({"class": "os.system", "config": {}}, "unknown class 'os.system'"),
        ("LSTMLayer", "description: expected a dict"),
        ({"config": {}}, "description: expected a dict with 'class'"),
    ],
)
def test_build_rejects_unknown_descriptions(description, match):
    with pytest.raises(ValueError, match=match):
        build(description)


def test_train_and_eval_modes():
    layer = GRULayer(2, 3)
    assert layer.training is True
    assert layer.eval() is layer
    assert layer.training is False
    assert layer.train() is layer
    assert layer.training is True
