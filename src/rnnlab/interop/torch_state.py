"""PyTorch names for rnnlab weights, and ``nn.Linear`` heads.

``state_dict_torch(model)`` gives, without importing torch, the NumPy arrays a PyTorch
``nn.RNN/LSTM/GRU`` (plus an ``nn.Linear`` head) would hold, under PyTorch's names::

    {prefix}weight_ih_l{l}[_reverse]  (G·H, I or D·H)   gate blocks in PyTorch's order
    {prefix}weight_hh_l{l}[_reverse]  (G·H, H)
    {prefix}bias_ih_l{l}[_reverse]    (G·H,)            rnnlab's folded bias b
    {prefix}bias_hh_l{l}[_reverse]    (G·H,)            zero, except GRU's n block = b_hn
    {head_prefix}weight (O, D·H), {head_prefix}bias (O,)   the output head W_hy, b_y

so that ``safetensors.numpy.save_file(state_dict_torch(model), path)`` writes a file that
``module.load_state_dict(safetensors.torch.load_file(path))`` loads directly. The bias split is
one of many that give the same sums; it is the one :func:`rnnlab.interop.torch.to_torch` uses.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._common import GUIDE_GRU_ADVICE, TORCH_BLOCK, host, inverse, layer_kind, reorder
from ._stacks import _same_family, levels_of
from ._torch_layer import (
    check_float_weights,
    check_plain_module,
    layer_from_torch,
    torch_module,
)
from .torch_stack import from_torch_stack


def _check_torch_family(levels, model):
    first = levels[0][0]
    if not _same_family(levels):
        raise ValueError(
            f"model: a {type(model).__name__} mixing cells, sizes, options or directions has no "
            "single PyTorch module; convert its parts one by one"
        )
    if layer_kind(first) == "gru" and not first.reset_after:
        raise ValueError(f"model: {GUIDE_GRU_ADVICE}")


def _torch_pieces(layer):
    """(weight_ih, weight_hh, bias_ih, bias_hh) of one rnnlab layer, in PyTorch's order."""
    kind = layer_kind(layer)
    H = layer.hidden_size
    to_torch_order = inverse(TORCH_BLOCK[kind])
    W, U, b = (host(layer._w[name]) for name in ("W", "U", "b"))
    b_hh = np.zeros_like(b)
    if kind == "gru":
        b_hh[2 * H :] = host(layer._w["b_hn"])  # PyTorch's b_hn sits inside r ⊙ (.)
    return tuple(reorder(a, to_torch_order, H) for a in (W, U, b, b_hh))


def state_dict_torch(
    model: Any, *, prefix: str = "", head_prefix: str = "head."
) -> dict[str, np.ndarray]:
    """rnnlab weights under PyTorch's parameter names, as NumPy arrays.

    Parameters
    ----------
    model : RNNLayer, LSTMLayer, GRULayer(reset_after=True), Bidirectional, an RNN/LSTM/GRU
        stack, or a Sequential of one cell family with one optional Dense at the end.
    prefix : str prepended to the recurrent names (``"rnn."`` for a module whose ``rnn``
        attribute is the ``nn.LSTM``).
    head_prefix : str prepended to ``weight``/``bias`` of the output head, if any.

    Returns
    -------
    dict name -> C-contiguous NumPy array (the model's dtype).
    """
    levels, head, _ = levels_of(model)
    _check_torch_family(levels, model)
    state = {}
    for l, level in enumerate(levels):
        for d, layer in enumerate(level):
            suffix = f"_l{l}" + ("_reverse" if d else "")
            names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            for name, array in zip(names, _torch_pieces(layer), strict=True):
                state[f"{prefix}{name}{suffix}"] = np.ascontiguousarray(array)
    if head is not None:
        state[f"{head_prefix}weight"] = np.ascontiguousarray(head[0])
        state[f"{head_prefix}bias"] = np.ascontiguousarray(head[1])
    return state


def to_torch_with_head(model: Any) -> tuple[Any, Any]:
    """(recurrent module, ``nn.Linear`` or None) equal to an rnnlab model with an output head.

    The recurrent module is built by ``to_torch``/``to_torch_stack`` (one ``nn.RNN/LSTM/GRU``);
    ``nn.Linear(D·H, O)`` holds W_hy, b_y. Apply it to the module's output sequence.
    """
    torch = torch_module("to_torch_with_head")
    levels, head, batch_first = levels_of(model)
    _check_torch_family(levels, model)
    state = state_dict_torch(model, head_prefix="head.")
    first = levels[0][0]
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[layer_kind(first)]
    torch_dtype = torch.float64 if first.dtype == np.float64 else torch.float32
    module = cls(
        first.input_size,
        first.hidden_size,
        num_layers=len(levels),
        bidirectional=len(levels[0]) == 2,
        batch_first=batch_first,
        dropout=float(getattr(model, "dropout", 0.0)) if len(levels) > 1 else 0.0,
        dtype=torch_dtype,
    )
    tensors = {k: torch.from_numpy(v) for k, v in state.items()}
    module.load_state_dict({k: v for k, v in tensors.items() if not k.startswith("head.")})
    linear = None
    if head is not None:
        linear = torch.nn.Linear(head[0].shape[1], head[0].shape[0], dtype=torch_dtype)
        linear.load_state_dict({"weight": tensors["head.weight"], "bias": tensors["head.bias"]})
    return module, linear


def from_torch_with_head(module: Any, linear: Any = None, *, dtype: Any = None) -> Any:
    """The rnnlab model equal to ``linear(module(x)[0])``: a layer or stack with output head.

    ``module`` is any ``nn.RNN`` (tanh) / ``nn.LSTM`` / ``nn.GRU`` that ``from_torch`` or
    ``from_torch_stack`` converts; ``linear`` an ``nn.Linear`` over its D·H features, or None.
    """
    torch = torch_module("from_torch_with_head")
    if linear is not None:
        if not isinstance(linear, torch.nn.Linear):
            raise TypeError(
                f"linear: expected torch.nn.Linear or None, got {type(linear).__name__}"
            )
        check_plain_module(linear, torch.nn.Linear, "linear")
        check_float_weights(linear, "linear")
    if getattr(module, "num_layers", 1) == 1 and not getattr(module, "bidirectional", False):
        recurrent = layer_from_torch(module, dtype=dtype)
    else:
        recurrent = from_torch_stack(module, dtype=dtype)
    if linear is None:
        return recurrent
    features = module.hidden_size * (2 if module.bidirectional else 1)
    if linear.in_features != features:
        raise ValueError(
            f"linear: expected in_features {features} (the module's output features), got "
            f"{linear.in_features}"
        )
    weight = linear.weight.detach().cpu().numpy()
    bias = (
        linear.bias.detach().cpu().numpy()
        if linear.bias is not None
        else np.zeros(linear.out_features, weight.dtype)
    )
    # same class and config (dropout, batch_first, ...) plus the head
    headed = type(recurrent).from_config(
        recurrent.get_config() | {"output_size": linear.out_features}
    )
    for name, value in recurrent.params.items():
        headed.params[name] = value
    headed.params["W_hy"] = weight.astype(headed.dtype)
    headed.params["b_y"] = bias.astype(headed.dtype)
    return headed
