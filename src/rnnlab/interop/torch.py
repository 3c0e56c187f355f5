"""PyTorch <-> rnnlab for one-layer, unidirectional ``nn.RNN`` (tanh), ``nn.LSTM``, ``nn.GRU``.

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

import numpy as np

from ..layers import GRULayer, LSTMLayer, RNNLayer

# rnnlab block k comes from PyTorch block TORCH_BLOCK[cell][k]
_TORCH_BLOCK = {"lstm": (1, 0, 2, 3), "gru": (1, 0, 2), "rnn": (0,)}


def _torch_kind(module) -> str:
    import torch

    if isinstance(module, torch.nn.LSTM):
        return "lstm"
    if isinstance(module, torch.nn.GRU):
        return "gru"
    if isinstance(module, torch.nn.RNN):
        if module.nonlinearity != "tanh":
            raise ValueError(
                f"module: expected nn.RNN with nonlinearity='tanh' (the guide's RNN), "
                f"got nonlinearity={module.nonlinearity!r}"
            )
        return "rnn"
    raise TypeError(f"module: expected torch.nn.RNN, LSTM or GRU, got {type(module).__name__}")


def _check_simple(module):
    problems = []
    if module.num_layers != 1:
        problems.append(f"num_layers={module.num_layers} (expected 1)")
    if module.bidirectional:
        problems.append("bidirectional=True (expected False)")
    if getattr(module, "proj_size", 0):
        problems.append(f"proj_size={module.proj_size} (no counterpart in rnnlab)")
    if not module.bias:
        problems.append("bias=False (rnnlab layers always have biases)")
    if problems:
        raise ValueError("module: cannot convert, " + "; ".join(problems))


def _reorder(array, blocks, hidden_size):
    return np.concatenate([array[k * hidden_size : (k + 1) * hidden_size] for k in blocks])


def from_torch(module, *, dtype=None):
    """Build the rnnlab layer equivalent to a one-layer unidirectional PyTorch RNN/LSTM/GRU.

    ``dtype`` defaults to the module's (float32 or float64). ``batch_first`` is carried over.
    """
    kind = _torch_kind(module)
    _check_simple(module)
    H = module.hidden_size
    w_ih = module.weight_ih_l0.detach().cpu().numpy()
    w_hh = module.weight_hh_l0.detach().cpu().numpy()
    b_ih = module.bias_ih_l0.detach().cpu().numpy()
    b_hh = module.bias_hh_l0.detach().cpu().numpy()
    if dtype is None:
        dtype = w_ih.dtype
    common = {"dtype": dtype, "batch_first": bool(module.batch_first)}
    blocks = _TORCH_BLOCK[kind]
    if kind == "rnn":
        layer = RNNLayer(module.input_size, H, **common)
    elif kind == "lstm":
        layer = LSTMLayer(module.input_size, H, **common)
    else:
        layer = GRULayer(module.input_size, H, reset_after=True, **common)
    W, U = _reorder(w_ih, blocks, H), _reorder(w_hh, blocks, H)
    b_x, b_h = _reorder(b_ih, blocks, H), _reorder(b_hh, blocks, H)
    layer._w["W"][...] = W
    layer._w["U"][...] = U
    if kind == "gru":
        # z, r: both biases act outside any product, so they add; n: b_hn sits inside r ⊙ (.)
        layer._w["b"][...] = b_x + np.concatenate([b_h[: 2 * H], np.zeros(H, b_h.dtype)])
        layer._w["b_hn"][...] = b_h[2 * H :]
    else:
        layer._w["b"][...] = b_x + b_h
    return layer


def to_torch(layer):
    """Build the PyTorch module equivalent to an rnnlab layer without an output head.

    The folded bias goes into ``bias_ih``; ``bias_hh`` is zero (except GRU's n block, b_hn).
    """
    import torch

    if layer.output_size is not None:
        raise ValueError(
            f"layer: to_torch converts the recurrent layer only; this one has an output head "
            f"(output_size={layer.output_size}). Convert the head W_hy, b_y to nn.Linear separately"
        )
    if getattr(layer, "layer_norm", False) or any(getattr(layer, "_zoneout_rates", ())):
        raise ValueError(
            "layer: layer_norm and zoneout have no counterpart in torch.nn.LSTM/GRU; no exact "
            f"conversion exists (layer_norm={layer.layer_norm}, zoneout={layer.zoneout})"
        )
    if isinstance(layer, GRULayer) and not layer.reset_after:
        raise ValueError(
            "layer: GRULayer(reset_after=False) is the guide's GRU, which PyTorch does not "
            "implement (nn.GRU applies the reset gate after U_h: reset_after=True); no exact "
            "conversion exists"
        )
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
    blocks = _TORCH_BLOCK[kind]
    # PyTorch block j comes from rnnlab block inverse[j]
    inverse = tuple(int(k) for k in np.argsort(blocks))
    W = np.asarray(layer._w["W"].get() if layer.device == "cuda" else layer._w["W"])
    U = np.asarray(layer._w["U"].get() if layer.device == "cuda" else layer._w["U"])
    b = np.asarray(layer._w["b"].get() if layer.device == "cuda" else layer._w["b"])
    b_hh = np.zeros_like(b)
    if kind == "gru":
        b_hn = layer._w["b_hn"]
        b_hh[2 * H :] = b_hn.get() if layer.device == "cuda" else b_hn
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.from_numpy(_reorder(W, inverse, H)))
        module.weight_hh_l0.copy_(torch.from_numpy(_reorder(U, inverse, H)))
        module.bias_ih_l0.copy_(torch.from_numpy(_reorder(b, inverse, H)))
        module.bias_hh_l0.copy_(torch.from_numpy(_reorder(b_hh, inverse, H)))
    return module
