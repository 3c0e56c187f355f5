"""PyTorch <-> rnnlab for one layer: one-layer, unidirectional ``nn.RNN`` (tanh), ``nn.LSTM``,
``nn.GRU``, and the checks every PyTorch converter shares (what module it really is, its dtype).

Gate orders and biases:

=========  ===================  ==================  ==========================================
cell       PyTorch row blocks   rnnlab blocks       biases
=========  ===================  ==================  ==========================================
RNN        (one block)          W_xh / W_hh         b_h = b_ih + b_hh
LSTM       i, f, g, o           f, i, c, o          b_x = b_ih_x + b_hh_x for every gate
GRU        r, z, n              z, r, h             b_z, b_r folded; b_h = b_in, b_hn = b_hn
=========  ===================  ==================  ==========================================

PyTorch's GRU is the reset-after form, so it maps to ``GRULayer(reset_after=True)``. The guide's
form (reset before) has no PyTorch module; converting it raises a clear error.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..layers import GRULayer, LSTMLayer, RNNLayer
from ._common import GUIDE_GRU_ADVICE, TORCH_BLOCK, host, inverse, reorder, require


def torch_module(caller: str) -> Any:
    """The torch package, or an ImportError saying how to install it."""
    return require("torch", caller)


def check_plain_module(module: Any, base: Any, argument: str) -> None:
    """Refuse a subclass of ``base`` that computes something else (its own ``forward``, or
    forward hooks): its weights would convert but its outputs would not be rnnlab's."""
    if type(module).forward is not base.forward:
        raise TypeError(
            f"{argument}: {type(module).__name__} subclasses torch.nn.{base.__name__} with its "
            f"own forward, so converting its weights would not give its outputs. If its forward "
            f"computes exactly what nn.{base.__name__}'s does, copy the weights into a plain "
            f"module first: plain = torch.nn.{base.__name__}(...); "
            "plain.load_state_dict(module.state_dict())"
        )
    if module._forward_hooks or module._forward_pre_hooks:
        raise TypeError(
            f"{argument}: has forward hooks, which change what it computes; remove them (or "
            "convert a copy without them)"
        )


def check_float_weights(module: Any, argument: str) -> None:
    """rnnlab computes in float32 or float64; half-precision modules compute something else."""
    torch = torch_module("from_torch")
    for name, parameter in module.named_parameters():
        if parameter.dtype not in (torch.float32, torch.float64):
            raise ValueError(
                f"{argument}: parameter {name!r} is {parameter.dtype}; rnnlab computes in "
                "float32 or float64, which would give other outputs than this module. Convert "
                "module.float() (or .double()) instead, knowing it computes in that precision"
            )


def torch_kind(module: Any) -> str:
    """'rnn', 'lstm' or 'gru' for a plain, float PyTorch recurrent module."""
    torch = torch_module("from_torch")
    bases = ((torch.nn.LSTM, "lstm"), (torch.nn.GRU, "gru"), (torch.nn.RNN, "rnn"))
    base, kind = next(((b, k) for b, k in bases if isinstance(module, b)), (None, ""))
    if base is None:
        raise TypeError(f"module: expected torch.nn.RNN, LSTM or GRU, got {type(module).__name__}")
    check_plain_module(module, base, "module")
    check_float_weights(module, "module")
    if kind == "rnn" and module.nonlinearity != "tanh":
        raise ValueError(
            f"module: expected nn.RNN with nonlinearity='tanh' (the guide's RNN), "
            f"got nonlinearity={module.nonlinearity!r}"
        )
    return kind


def _check_simple(module: Any) -> None:
    problems = []
    if module.num_layers != 1:
        problems.append(
            f"num_layers={module.num_layers} (expected 1; "
            "rnnlab.interop.torch_stack.from_torch_stack converts stacks)"
        )
    if module.bidirectional:
        problems.append("bidirectional=True (expected False; from_torch_stack converts it)")
    if getattr(module, "proj_size", 0):
        problems.append(f"proj_size={module.proj_size} (no counterpart in rnnlab)")
    if not module.bias:
        problems.append("bias=False (rnnlab layers always have biases)")
    if problems:
        raise ValueError("module: cannot convert, " + "; ".join(problems))


def layer_from_torch(module: Any, *, dtype: Any = None) -> Any:
    """The rnnlab layer equal to a one-layer unidirectional PyTorch RNN/LSTM/GRU."""
    kind = torch_kind(module)
    _check_simple(module)
    H = module.hidden_size
    w_ih, w_hh, b_ih, b_hh = (
        getattr(module, f"{name}_l0").detach().cpu().numpy()
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    )
    if dtype is None:
        dtype = w_ih.dtype
    common = {"dtype": dtype, "batch_first": bool(module.batch_first)}
    blocks = TORCH_BLOCK[kind]
    layer: RNNLayer | LSTMLayer | GRULayer
    if kind == "rnn":
        layer = RNNLayer(module.input_size, H, **common)
    elif kind == "lstm":
        layer = LSTMLayer(module.input_size, H, **common)
    else:
        layer = GRULayer(module.input_size, H, reset_after=True, **common)
    b_x, b_h = reorder(b_ih, blocks, H), reorder(b_hh, blocks, H)
    layer._w["W"][...] = reorder(w_ih, blocks, H)
    layer._w["U"][...] = reorder(w_hh, blocks, H)
    if kind == "gru":
        # z, r: both biases act outside any product, so they add; n: b_hn sits inside r ⊙ (.)
        layer._w["b"][...] = b_x + np.concatenate([b_h[: 2 * H], np.zeros(H, b_h.dtype)])
        layer._w["b_hn"][...] = b_h[2 * H :]
    else:
        layer._w["b"][...] = b_x + b_h
    return layer


def layer_to_torch(layer: Any) -> Any:
    """The PyTorch module equal to an rnnlab layer without an output head.

    The folded bias goes into ``bias_ih``; ``bias_hh`` is zero (except GRU's n block, b_hn).
    """
    torch = torch_module("to_torch")
    if layer.output_size is not None:
        raise ValueError(
            f"layer: has an output head (output_size={layer.output_size}); convert it with "
            "rnnlab.interop.to_torch, which adds the head as nn.Linear"
        )
    if getattr(layer, "layer_norm", False) or any(getattr(layer, "_zoneout_rates", ())):
        raise ValueError(
            "layer: layer_norm and zoneout have no counterpart in torch.nn.LSTM/GRU; no exact "
            f"conversion exists (layer_norm={layer.layer_norm}, zoneout={layer.zoneout})"
        )
    if isinstance(layer, GRULayer) and not layer.reset_after:
        raise ValueError(f"layer: {GUIDE_GRU_ADVICE}")
    kinds = {
        RNNLayer: ("rnn", torch.nn.RNN),
        LSTMLayer: ("lstm", torch.nn.LSTM),
        GRULayer: ("gru", torch.nn.GRU),
    }
    if type(layer) not in kinds:
        raise TypeError(f"layer: expected RNNLayer, LSTMLayer or GRULayer, got {type(layer)}")
    kind, cls = kinds[type(layer)]
    H = layer.hidden_size
    torch_dtype = torch.float64 if layer.dtype == np.float64 else torch.float32
    module = cls(layer.input_size, H, batch_first=layer.batch_first, dtype=torch_dtype)
    to_torch_order = inverse(TORCH_BLOCK[kind])
    W, U, b = (host(layer._w[name]) for name in ("W", "U", "b"))
    b_hh = np.zeros_like(b)
    if kind == "gru":
        b_hh[2 * H :] = host(layer._w["b_hn"])
    with torch.no_grad():
        for name, value in (("weight_ih", W), ("weight_hh", U), ("bias_ih", b), ("bias_hh", b_hh)):
            getattr(module, f"{name}_l0").copy_(torch.from_numpy(reorder(value, to_torch_order, H)))
    return module
