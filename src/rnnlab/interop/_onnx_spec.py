"""What both ONNX directions share: the gate-block tables and the description of a model as a
chain of recurrent nodes plus an optional head. Export (``onnx.py``) and import
(``onnx_import.py``) both import this module and never each other's internals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# rnnlab block k comes from ONNX block ONNX_BLOCK[kind][k]
ONNX_BLOCK = {"rnn": (0,), "lstm": (2, 0, 3, 1), "gru": (0, 1, 2)}
OP_TYPE = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
KIND = {op: kind for kind, op in OP_TYPE.items()}


@dataclass
class RecurrentSpec:
    """One ONNX recurrent node: its cell and one rnnlab layer per direction."""

    kind: str
    directions: list[Any]  # [forward] or [forward, reverse], rnnlab layers without heads
    hidden_size: int = field(init=False)
    input_size: int = field(init=False)

    def __post_init__(self) -> None:
        self.hidden_size = self.directions[0].hidden_size
        self.input_size = self.directions[0].input_size


@dataclass
class GraphSpec:
    """What an rnnlab model is, seen from ONNX: a chain of recurrent nodes and an optional head."""

    layers: list[RecurrentSpec]  # first to last
    head: tuple[Any, Any] | None = None  # (W_hy (O, H_last), b_y (O,))
    batch_first: bool = False
