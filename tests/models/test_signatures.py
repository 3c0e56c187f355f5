"""Every argument is visible to inspect.signature, help() and IDEs (issue 12.4).

A ``**kwargs`` pass-through hides options: the layers and the stacks spell each one out, and a
stack offers every option its layer class takes.
"""

from __future__ import annotations

import inspect

import pytest

from rnnlab import GRULayer, LSTMLayer, RNNLayer
from rnnlab.models import GRU, LSTM, RNN

PAIRS = [(RNN, RNNLayer), (LSTM, LSTMLayer), (GRU, GRULayer)]


def _parameters(cls):
    return inspect.signature(cls).parameters


@pytest.mark.parametrize("cls", [RNNLayer, LSTMLayer, GRULayer, RNN, LSTM, GRU])
def test_no_hidden_keyword_arguments(cls):
    kinds = {p.kind for p in _parameters(cls).values()}
    assert inspect.Parameter.VAR_KEYWORD not in kinds, cls.__name__
    for name in ("seed", "dtype", "batch_first", "backend"):
        assert name in _parameters(cls), (cls.__name__, name)


@pytest.mark.parametrize(("stack", "layer"), PAIRS)
def test_a_stack_offers_every_option_of_its_layer(stack, layer):
    layer_options = set(_parameters(layer)) - {"input_size", "hidden_size", "output_size"}
    missing = layer_options - set(_parameters(stack))
    assert not missing, f"{stack.__name__} does not offer {sorted(missing)}"
    for name in layer_options:  # same defaults, so a stack's layer equals a layer built alone
        assert _parameters(stack)[name].default == _parameters(layer)[name].default, name


@pytest.mark.parametrize(("stack", "layer"), PAIRS)
def test_the_options_reach_every_layer(stack, layer):
    options = {"recurrent_init": "xavier"}
    if layer is not RNNLayer:
        options |= {"layer_norm": True, "zoneout": 0.1, "zoneout_seed": 3}
    if layer is LSTMLayer:
        options["forget_bias"] = 1.0
    if layer is GRULayer:
        options["reset_after"] = True
    model = stack(3, 4, 2, seed=0, **options)
    for built in model.layers:
        config = built.get_config()
        assert {k: config[k] for k in options} == options
    assert type(stack.from_config(model.get_config())) is stack
