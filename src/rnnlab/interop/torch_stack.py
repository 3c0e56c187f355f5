"""PyTorch <-> rnnlab for multi-layer and bidirectional ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``.

PyTorch keeps every layer and direction in one module, with parameter names suffixed
``_l{layer}`` and ``_reverse`` for the backward direction::

    weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0                    layer 0, forward
    weight_ih_l0_reverse, ...                                             layer 0, reverse
    weight_ih_l1 (H, 2H when bidirectional) ...                           layer 1

Each (layer, direction) is exactly one rnnlab layer, so the gate orders and bias folding are
those of :mod:`rnnlab.interop._torch_layer`, applied piece by piece: every piece goes through that
module's single-layer converters, never a second copy of its tables.

=====================  ==========================================================
PyTorch                rnnlab
=====================  ==========================================================
``nn.LSTM(I, H, L)``   ``rnnlab.models.LSTM(I, H, L)``; layer l is ``model.layers[l]``
``bidirectional=True`` ``model.layers[l]`` is a Bidirectional: ``.forward_layer``,
                       ``.reverse_layer``; keys ``"l.forward.W_f"``, ``"l.reverse.W_f"``
``h_0`` (L*D, B, H)    ``state`` (L*D, B, H), the same entry order l * D + d
``dropout``            ``dropout`` (between layers, training mode only)
``nn.GRU``             ``rnnlab.models.GRU(..., reset_after=True)``
=====================  ==========================================================
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..models import GRU, LSTM, RNN, Bidirectional
from ..models.stacks import _STACK_KEYS, _Stack
from ._torch_layer import layer_from_torch, layer_to_torch, torch_kind, torch_module

__all__ = ["from_torch_stack", "to_torch_stack"]

_STACKS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
_PIECES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
# Options that only change initialisation, so any value converts exactly.
_INIT_ONLY_OPTIONS = ("forget_bias", "zoneout_seed", "recurrent_init")


def _suffix(layer: int, direction: int) -> str:
    return f"_l{layer}" + ("_reverse" if direction else "")


def _directions(layer):
    """The rnnlab layers of one stack level, forward first."""
    if isinstance(layer, Bidirectional):
        return [layer.forward_layer, layer.reverse_layer]
    return [layer]


def _check_module(module):
    problems = []
    if getattr(module, "proj_size", 0):
        problems.append(f"proj_size={module.proj_size} (no counterpart in rnnlab)")
    if not module.bias:
        problems.append("bias=False (rnnlab layers always have biases)")
    if problems:
        raise ValueError("module: cannot convert, " + "; ".join(problems))


def _single_torch(module, kind, input_size):
    """A one-layer, one-direction module of ``module``'s kind and dtype (a carrier)."""
    options = {"nonlinearity": module.nonlinearity} if kind == "rnn" else {}
    dtype = module.weight_ih_l0.dtype
    return type(module)(input_size, module.hidden_size, dtype=dtype, **options)


def from_torch_stack(module: Any, *, dtype: Any = None) -> Any:
    """Build the rnnlab stack equal to a PyTorch RNN/LSTM/GRU of any depth and direction.

    Parameters
    ----------
    module : torch.nn.RNN (tanh), LSTM or GRU, with biases and no projection.
    dtype : float32 or float64; defaults to the module's.

    Returns
    -------
    rnnlab.models.RNN, LSTM or GRU (``reset_after=True``) with the module's weights,
    ``num_layers``, ``bidirectional``, ``dropout`` and ``batch_first``.
    """
    torch = torch_module("from_torch_stack")
    kind = torch_kind(module)
    _check_module(module)
    if dtype is None:
        dtype = module.weight_ih_l0.detach().cpu().numpy().dtype
    options = {"reset_after": True} if kind == "gru" else {}
    model = _STACKS[kind](
        module.input_size,
        module.hidden_size,
        module.num_layers,
        bidirectional=bool(module.bidirectional),
        dropout=float(module.dropout),
        batch_first=bool(module.batch_first),
        dtype=dtype,
        seed=0,
        **options,
    )
    for l, level in enumerate(model.layers):
        for d, target in enumerate(_directions(level)):
            carrier = _single_torch(module, kind, target.input_size)
            with torch.no_grad():
                for piece in _PIECES:
                    source = getattr(module, piece + _suffix(l, d)).detach().cpu()
                    getattr(carrier, piece + "_l0").copy_(source)
            converted = layer_from_torch(carrier, dtype=dtype)
            for key, value in converted.params.items():
                target.params[key] = value
    return model


def _check_stack(model):
    if isinstance(model, Bidirectional):
        config = model.layer_config
        options = {k: v for k, v in config.items() if k not in _STACK_KEYS}
        return [model], 1, True, 0.0, model.batch_first, options
    if not isinstance(model, _Stack):
        raise TypeError(
            "model: expected rnnlab.models.RNN, LSTM, GRU or a Bidirectional layer, "
            f"got {type(model).__name__}"
        )
    if model.head is not None:
        raise ValueError(
            f"model: to_torch_stack converts the recurrent stack only; this one has an output "
            f"head (output_size={model.output_size}). Convert W_hy, b_y to nn.Linear separately"
        )
    return (
        model.layers,
        model.num_layers,
        model.bidirectional,
        model.dropout,
        model.batch_first,
        model.layer_options,
    )


def to_torch_stack(model: Any) -> Any:
    """Build the PyTorch module equal to an rnnlab stack (or a Bidirectional layer).

    The folded biases go into ``bias_ih_*``; ``bias_hh_*`` is zero except GRU's n block
    (b_hn), as in :func:`rnnlab.interop.torch.to_torch`.
    """
    torch = torch_module("to_torch_stack")
    layers, num_layers, bidirectional, dropout, batch_first, options = _check_stack(model)
    for name, value in options.items():
        if name not in _INIT_ONLY_OPTIONS and name != "reset_after" and value:
            raise ValueError(
                f"model: cannot convert {name}={value!r}; PyTorch's recurrent modules have no "
                "such option"
            )
    first = _directions(layers[0])[0]
    pieces = [[layer_to_torch(layer) for layer in _directions(level)] for level in layers]
    cls = type(pieces[0][0])
    module = cls(
        first.input_size,
        first.hidden_size,
        num_layers=num_layers,
        bidirectional=bidirectional,
        dropout=dropout,
        batch_first=batch_first,
        dtype=torch.float64 if first.dtype == np.float64 else torch.float32,
    )
    with torch.no_grad():
        for l, level in enumerate(pieces):
            for d, single in enumerate(level):
                for piece in _PIECES:
                    getattr(module, piece + _suffix(l, d)).copy_(getattr(single, piece + "_l0"))
    return module
