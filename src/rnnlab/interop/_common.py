"""Small helpers the framework converters share: host copies, block reordering, layer kinds."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..layers import GRULayer, LSTMLayer, RNNLayer

# the kind name every converter uses for a layer class
LAYER_KINDS = {RNNLayer: "rnn", LSTMLayer: "lstm", GRULayer: "gru"}


def host(array) -> np.ndarray:
    """A NumPy copy of a parameter view, wherever the layer lives (CuPy arrays have ``get``)."""
    return np.array(array.get() if hasattr(array, "get") else array)


def reorder(array, blocks, hidden_size: int):
    """Concatenate the row blocks ``blocks`` (each ``hidden_size`` rows) of ``array``."""
    return np.concatenate([array[k * hidden_size : (k + 1) * hidden_size] for k in blocks])


def inverse(blocks) -> tuple[int, ...]:
    """The permutation that undoes ``reorder(., blocks, H)``."""
    return tuple(int(k) for k in np.argsort(blocks))


def layer_kind(layer) -> str:
    """'rnn', 'lstm' or 'gru' for an rnnlab layer; TypeError for anything else."""
    kind = LAYER_KINDS.get(type(layer))
    if kind is None:
        raise TypeError(
            f"layer: expected an rnnlab RNNLayer, LSTMLayer or GRULayer, got {type(layer).__name__}"
        )
    return kind


def new_layer(kind: str, input_size: int, hidden_size: int, *, dtype, reset_after=False, **kw):
    """An rnnlab layer of ``kind`` (parameters to be overwritten by the caller)."""
    if kind == "rnn":
        return RNNLayer(input_size, hidden_size, dtype=dtype, **kw)
    if kind == "lstm":
        return LSTMLayer(input_size, hidden_size, dtype=dtype, **kw)
    return GRULayer(input_size, hidden_size, dtype=dtype, reset_after=reset_after, **kw)


def set_params(layer, W, U, b, b_hn=None):
    """Copy stacked parameters into ``layer`` after checking every shape."""
    for name, value in (("W", W), ("U", U), ("b", b), ("b_hn", b_hn)):
        if value is None:
            continue
        target = layer._w[name]
        value = np.asarray(value)
        if value.shape != target.shape:
            raise ValueError(f"{name}: expected shape {target.shape}, got {value.shape}")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{name}: expected finite values, got NaN or inf")
        target[...] = value.astype(layer.dtype)


def set_head(layer_or_dense, W_hy, b_y):
    """Copy an output head (W_hy (O, H), b_y (O,)) into a layer or a Dense-like module."""
    params = layer_or_dense.params
    for name, value in (("W_hy", W_hy), ("b_y", b_y)):
        value = np.asarray(value)
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{name}: expected finite values, got NaN or inf")
        params[name] = value.astype(params[name].dtype)


def copy_with_head(layer, W_hy, b_y):
    """A copy of ``layer`` (same class and config) with the output head W_hy (O, H), b_y (O,)."""
    config = layer.get_config() | {"output_size": int(np.shape(W_hy)[0])}
    headed = type(layer).from_config(config)
    for name, value in layer._w.items():
        headed._w[name][...] = value
    set_head(headed, W_hy, b_y)
    return headed


# rnnlab block k comes from PyTorch block TORCH_BLOCK[cell][k]
TORCH_BLOCK = {"lstm": (1, 0, 2, 3), "gru": (1, 0, 2), "rnn": (0,)}

# what every refusal of the guide's GRU towards PyTorch says
GUIDE_GRU_ADVICE = (
    "GRU(reset_after=False) is the guide's GRU (reset gate applied before U_h), which "
    "torch.nn.GRU does not compute (it applies the reset gate after U_h, reset_after=True); "
    "the two are different functions, so no weights convert. Build the model as "
    "GRULayer(..., reset_after=True) or rnnlab.models.GRU(..., reset_after=True), train it, "
    "then convert it"
)

# what to install for each optional framework
_INSTALL = {
    "torch": "pip install torch (the CPU wheel is enough: see pytorch.org for the index URL)",
    "onnx": "pip install 'rnnlab[interop]'",
    "keras": "pip install 'rnnlab[interop]'",
}


def require(name: str, caller: str) -> Any:
    """Import the optional framework ``name`` for ``caller``, or say what to install."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or name
        if missing.split(".")[0] == name:
            raise ImportError(
                f"{caller} needs the {name} package, which is not installed: "
                f"{_INSTALL.get(name, f'pip install {name}')}"
            ) from exc
        # the package is there but one of its own dependencies is not (Keras' backend, ...)
        hint = _INSTALL.get(missing.split(".")[0], f"pip install {missing.split('.')[0]}")
        raise ImportError(
            f"{caller} needs the {name} package, whose import failed because {missing!r} is "
            f"missing ({exc}): {hint}"
        ) from exc
