"""PyTorch <-> rnnlab: the two entry points.

``from_torch(module)`` converts one ``nn.RNN`` (tanh) / ``nn.LSTM`` / ``nn.GRU`` layer (one layer,
one direction; :func:`rnnlab.interop.torch_stack.from_torch_stack` converts stacks and
:func:`rnnlab.interop.from_torch_with_head` adds an ``nn.Linear`` head). ``to_torch(model)``
converts any rnnlab model that one PyTorch recurrent module computes: a layer, a Bidirectional,
a stack or a Sequential of one cell family, with or without an output head (then the result is
a :class:`rnnlab.interop._torch_modules.RecurrentWithHead`, ``.rnn`` and ``.head``), so
``to_torch(rnnlab.load(path))`` converts a checkpointed model whole.

Gate orders and bias folding: :mod:`rnnlab.interop._torch_layer` and docs/interop.md.
"""

from __future__ import annotations

from typing import Any

from ._common import LAYER_KINDS
from ._torch_layer import layer_from_torch, layer_to_torch, torch_module
from .torch_stack import to_torch_stack
from .torch_state import to_torch_with_head

__all__ = ["from_torch", "to_torch"]


def from_torch(module: Any, *, dtype: Any = None) -> Any:
    """Build the rnnlab layer equal to a one-layer unidirectional PyTorch RNN/LSTM/GRU.

    Parameters
    ----------
    module : a plain ``torch.nn.RNN`` (tanh), ``LSTM`` or ``GRU`` in float32 or float64 (a
        subclass with its own ``forward``, forward hooks or half-precision weights are refused).
    dtype : float32 or float64; defaults to the module's. ``batch_first`` is carried over.

    Returns
    -------
    RNNLayer, LSTMLayer or GRULayer(reset_after=True).
    """
    return layer_from_torch(module, dtype=dtype)


def _rnnlab_model_types() -> tuple[type, ...]:
    from .. import models

    stacks = (models.RNN, models.LSTM, models.GRU, models.Bidirectional, models.Sequential)
    return (*LAYER_KINDS, *stacks)


def to_torch(model: Any) -> Any:
    """Build the PyTorch module that computes what ``model`` computes.

    Parameters
    ----------
    model : RNNLayer, LSTMLayer, GRULayer(reset_after=True), Bidirectional, an RNN/LSTM/GRU
        stack, or a Sequential of one cell family ending in at most one Dense; with or
        without an output head (e.g. ``rnnlab.load(path)``).

    Returns
    -------
    ``nn.RNN``/``nn.LSTM``/``nn.GRU`` (same ``batch_first``, dtype, ``num_layers``,
    ``bidirectional``, dropout) for a model without head; with a head, a
    ``RecurrentWithHead`` whose ``forward(x, hx=None)`` returns ``(head(y), final state)``.
    The folded bias goes into ``bias_ih``; ``bias_hh`` is zero except GRU's n block (b_hn).
    """
    torch_module("to_torch")
    if type(model) in LAYER_KINDS and model.output_size is None:
        return layer_to_torch(model)
    if not isinstance(model, _rnnlab_model_types()):
        raise TypeError(
            "model: expected an rnnlab RNNLayer, LSTMLayer, GRULayer, Bidirectional, "
            f"RNN/LSTM/GRU stack or Sequential, got {type(model).__name__}"
        )
    from .. import models

    stack_types = models.RNN | models.LSTM | models.GRU | models.Bidirectional
    if isinstance(model, stack_types) and getattr(model, "head", None) is None:
        return to_torch_stack(model)  # (a Bidirectional has no head)
    module, linear = to_torch_with_head(model)
    if linear is None:
        return module
    from ._torch_modules import RecurrentWithHead

    return RecurrentWithHead(module, linear)
