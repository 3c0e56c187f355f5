"""Keras 3 <-> rnnlab for stacks: several recurrent layers, Bidirectional, Dense heads."""

from __future__ import annotations


def stack_from_keras(recurrent, head, dtype):
    raise ValueError(
        f"model: stacks of {len(recurrent)} recurrent layers or Bidirectional need rnnlab's "
        "stack models, which this version lacks"
    )


def stack_to_keras(model, return_sequences):
    raise TypeError(
        f"model: expected an rnnlab RNNLayer, LSTMLayer or GRULayer, got {type(model).__name__}"
    )
