"""ONNX <-> rnnlab stack models (several layers, Bidirectional, Dense heads)."""

from __future__ import annotations


def stack_spec(model):
    raise TypeError(
        f"model: expected an rnnlab RNNLayer, LSTMLayer or GRULayer, got {type(model).__name__}"
    )


def stack_from_spec(spec):
    raise ValueError(
        f"model: {len(spec.layers)} recurrent nodes or a bidirectional node need rnnlab's stack "
        "models, which this version lacks"
    )
