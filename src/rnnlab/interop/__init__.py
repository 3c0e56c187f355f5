"""Converters between rnnlab and other frameworks. Each framework is imported only inside its
functions, so ``import rnnlab`` never imports torch, keras or onnx.

Tables of gate orders, bias layouts and GRU forms: docs/interop.md.
"""

from .keras import from_keras, to_keras
from .onnx import from_onnx, to_onnx
from .torch import from_torch, to_torch
from .torch_state import from_torch_with_head, state_dict_torch, to_torch_with_head

__all__ = [
    "from_keras",
    "from_onnx",
    "from_torch",
    "from_torch_with_head",
    "state_dict_torch",
    "to_keras",
    "to_onnx",
    "to_torch",
    "to_torch_with_head",
]
