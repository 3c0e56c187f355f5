"""Every rnnlab model the converters accept, seen as levels of recurrent layers plus a head.

A *level* is a list of one rnnlab layer (one direction) or two (forward, reverse: a
Bidirectional whose outputs are concatenated, forward features first). Keras, ONNX and the
PyTorch state-dict view all describe a model this way, so they share the two maps here:

``levels_of(model)``         rnnlab model -> (levels, head or None, batch_first)
``model_from_levels(...)``   the reverse, choosing the simplest rnnlab class that fits
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._common import LAYER_KINDS, copy_with_head, host, layer_kind

# options that change only initialisation, or select a form every framework here names
_PORTABLE_OPTIONS = ("forget_bias", "reset_after")
# the seed of zoneout masks: inert when zoneout is 0 (and zoneout > 0 is refused)
_TRAINING_ONLY = ("zoneout_seed",)
_BASE_KEYS = (
    "input_size",
    "hidden_size",
    "output_size",
    "dtype",
    "batch_first",
    "init",
    "recurrent_init",  # initialisation only, like init
    "backend",
)


def check_portable(layer: Any) -> Any:
    """Refuse layer options (layer norm, zoneout, ...) that no other framework's layer has."""
    extra = {
        k: v
        for k, v in layer.get_config().items()
        if k not in _BASE_KEYS + _PORTABLE_OPTIONS + _TRAINING_ONLY and _active(v)
    }
    if extra:
        raise ValueError(
            f"layer: cannot convert options {extra}; the standard RNN/LSTM/GRU layers of other "
            "frameworks have no such option"
        )
    return layer


def _active(value) -> bool:
    """Whether an option is switched on (a zoneout pair (0, 0) is off)."""
    return any(value) if isinstance(value, tuple | list) else bool(value)


def _models():
    from .. import models

    return models


def _level(module):
    """The level of a recurrent module without head (a layer or a Bidirectional)."""
    if type(module) in LAYER_KINDS:
        return [check_portable(module)]
    models = _models()
    if isinstance(module, models.Bidirectional):
        return [check_portable(module.forward_layer), check_portable(module.reverse_layer)]
    raise TypeError(f"model: cannot convert a {type(module).__name__} inside a model")


def _dense_head(dense):
    return host(dense.params["W"]), host(dense.params["b"])


def levels_of(model: Any) -> tuple[list[list[Any]], tuple[Any, Any] | None, bool]:
    """(levels, head, batch_first) for a layer, Bidirectional, stack or Sequential."""
    if type(model) in LAYER_KINDS:
        head = None
        if model.output_size is not None:
            head = (host(model._w["W_hy"]), host(model._w["b_y"]))
        layer_kind(model)
        return [[check_portable(model)]], head, model.batch_first
    try:
        models = _models()
    except ImportError:
        models = None
    if models is None:
        raise TypeError(
            f"model: expected an rnnlab RNNLayer, LSTMLayer or GRULayer, got {type(model).__name__}"
        )
    if isinstance(model, models.Bidirectional):
        return [_level(model)], None, model.batch_first
    if isinstance(model, models.RNN | models.LSTM | models.GRU):
        head = None if model.head is None else _dense_head(model.head)
        return [_level(m) for m in model.layers], head, model.batch_first
    if isinstance(model, models.Sequential):
        return _sequential_levels(model, models)
    raise TypeError(
        "model: expected an rnnlab RNNLayer, LSTMLayer, GRULayer, Bidirectional, RNN/LSTM/GRU "
        f"stack or a Sequential of those ending in at most one Dense, got {type(model).__name__}"
    )


def _sequential_levels(model, models):
    levels, head = [], None
    for index, module in enumerate(model.modules):
        if head is not None:
            raise ValueError(
                f"model: modules[{index}] follows an output head (a Dense or a layer's W_hy); "
                "a head converts only at the end of the model"
            )
        if isinstance(module, models.Dense):
            head = _dense_head(module)
            continue
        if isinstance(module, models.Dropout):
            continue  # the identity at inference, which is what the other frameworks run
        sub_levels, sub_head, _ = levels_of(module)
        levels += sub_levels
        head = sub_head
    if not levels:
        raise ValueError("model: contains no recurrent layer")
    return levels, head, model.batch_first


# ----------------------------------------------------------------------------- building
def _same_family(levels):
    """True when the levels form one RNN/LSTM/GRU stack (same cell, size, options, direction)."""
    first = levels[0][0]
    config = {k: v for k, v in first.get_config().items() if k != "input_size"}
    width = len(levels[0]) * first.hidden_size
    for level in levels:
        if len(level) != len(levels[0]):
            return False
        for layer in level:
            other = {k: v for k, v in layer.get_config().items() if k != "input_size"}
            if type(layer) is not type(first) or other != config:
                return False
    return all(level[0].input_size == width for level in levels[1:])


def _copy_level(target, level):
    pieces = [target] if len(level) == 1 else [target.forward_layer, target.reverse_layer]
    for dst, src in zip(pieces, level, strict=True):
        for name, value in src._w.items():
            dst._w[name][...] = value


def _stack_from_levels(levels, head, batch_first, models):
    first = levels[0][0]
    cls = {"rnn": models.RNN, "lstm": models.LSTM, "gru": models.GRU}[layer_kind(first)]
    options = {k: v for k, v in first.get_config().items() if k in _PORTABLE_OPTIONS}
    model = cls(
        first.input_size,
        first.hidden_size,
        len(levels),
        bidirectional=len(levels[0]) == 2,
        output_size=None if head is None else int(np.shape(head[0])[0]),
        batch_first=batch_first,
        dtype=first.dtype,
        seed=0,
        **options,
    )
    for target, level in zip(model.layers, levels, strict=True):
        _copy_level(target, level)
    if head is not None:
        model.head.params["W"] = np.asarray(head[0], first.dtype)
        model.head.params["b"] = np.asarray(head[1], first.dtype)
    return model


def model_from_levels(levels: list[list[Any]], head: Any, batch_first: bool) -> Any:
    """The simplest rnnlab model with these levels and head.

    One one-direction level: a layer (its head included). Levels of one family: an RNN/LSTM/GRU
    stack. Otherwise a Sequential of layers and Bidirectionals, then a Dense head.
    """
    if len(levels) == 1 and len(levels[0]) == 1:
        layer = levels[0][0]
        layer.batch_first = batch_first
        return layer if head is None else copy_with_head(layer, *head)
    for level in levels:  # Sequential children and stacks share one layout
        for layer in level:
            layer.batch_first = batch_first
    models = _models()
    if _same_family(levels):
        return _stack_from_levels(levels, head, batch_first, models)
    modules = []
    for level in levels:
        layer = level[0]
        if len(level) == 1:
            modules.append(layer)
        else:
            bidirectional = models.Bidirectional(layer, seed=0)
            _copy_level(bidirectional, level)
            modules.append(bidirectional)
    if head is not None:
        W_hy, b_y = (np.asarray(a) for a in head)
        dense = models.Dense(W_hy.shape[1], W_hy.shape[0], dtype=levels[-1][0].dtype, seed=0)
        dense.params["W"], dense.params["b"] = W_hy, b_y
        modules.append(dense)
    return models.Sequential(*modules)
