"""What an rnnlab file's description may hold, checked before anything is built from it.

The description is a closed JSON object (:data:`KEYS`); every value is checked for its type and
range, and the model description is turned into the exact parameter names, shapes and dtypes it
implies (:func:`expected_tensors`) without building the model, so that a 2 KB file claiming a
hidden size of a million is refused in microseconds, not after an orthogonal initialisation.
"""

from __future__ import annotations

import math
from typing import TypeGuard

import numpy as np

from ..registry import known_classes
from .format import FORMAT, FORMAT_VERSION, fail

__all__ = ["KEYS", "check_description", "expected_tensors"]

KEYS = frozenset(
    {"format", "format_version", "library_version", "model", "dtype", "params", "optimizer",
     "step", "rng", "model_rng", "extra"}
)  # fmt: skip
_V1_KEYS = KEYS | {"sha256"}
_OPTIMIZER_KEYS = frozenset({"type", "hyper", "step"})
_MAX_DEPTH = 16  # containers inside containers in a model description


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def check_step(path, value, what: str) -> int | None:
    if value is None:
        return None
    if not _is_int(value) or value < 0:
        fail(path, f"{what}: expected a non-negative integer or null, got {value!r}")
    return value


def check_description(path, info) -> int:
    """Check the description's keys and scalar fields; returns its format version."""
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        fail(path, "corrupt rnnlab metadata (no format field)")
    version = info.get("format_version")
    if not _is_int(version) or not 1 <= version <= FORMAT_VERSION:
        fail(
            path,
            f"format_version {version!r}: this rnnlab reads versions 1 to {FORMAT_VERSION} "
            "(a newer file needs a newer rnnlab)",
        )
    allowed = KEYS if version == 2 else _V1_KEYS
    # version 1 files of the earliest writers have no model_rng; their digest is "sha256"
    required = (KEYS - {"model_rng"}) | {"sha256"} if version == 1 else KEYS
    missing, unknown = sorted(required - set(info)), sorted(set(info) - allowed)
    if missing:
        fail(path, f"the description lacks the key(s) {missing}")
    if unknown:
        fail(path, f"the description has unknown key(s) {unknown}")
    if not isinstance(info["library_version"], str):
        fail(path, f"library_version: expected a string, got {info['library_version']!r}")
    if info["dtype"] not in ("float32", "float64", None):
        fail(path, f"dtype: expected 'float32' or 'float64', got {info['dtype']!r}")
    if not (isinstance(info["params"], list) and all(isinstance(p, str) for p in info["params"])):
        fail(path, f"params: expected a list of names, got {info['params']!r}")
    check_step(path, info["step"], "step")
    for key in ("extra", "rng", "model_rng"):
        if info.get(key) is not None and not isinstance(info[key], dict):
            fail(path, f"{key}: expected a JSON object or null, got {type(info[key]).__name__}")
    opt = info["optimizer"]
    if opt is not None:
        if not isinstance(opt, dict) or set(opt) != _OPTIMIZER_KEYS:
            fail(path, f"optimizer: expected an object with keys {sorted(_OPTIMIZER_KEYS)}")
        if not isinstance(opt["hyper"], dict):
            fail(path, "optimizer.hyper: expected a JSON object")
        check_step(path, opt["step"], "optimizer.step")
    return version


# ------------------------------------------------------------------ shapes from a description
def _size(path, config: dict, key: str) -> int:
    value = config.get(key)
    if not _is_int(value) or value < 1:
        fail(path, f"model config: {key} expected a positive integer, got {value!r}")
    return value


def _optional_size(path, config: dict, key: str) -> int | None:
    return None if config.get(key) is None else _size(path, config, key)


def _flag(path, config: dict, key: str) -> bool:
    value = config.get(key, False)
    if not isinstance(value, bool):
        fail(path, f"model config: {key} expected true or false, got {value!r}")
    return value


def _dtype(path, config: dict) -> np.dtype:
    value = config.get("dtype", "float32")
    if value not in ("float32", "float64"):
        fail(path, f"model config: dtype expected 'float32' or 'float64', got {value!r}")
    return np.dtype(value)


def _recurrent(path, cls, config: dict, input_size=None) -> dict:
    """The layer's own layout code on a skeleton (no buffers): names and shapes only."""
    skeleton = cls.__new__(cls)
    skeleton.input_size = input_size or _size(path, config, "input_size")
    skeleton.hidden_size = _size(path, config, "hidden_size")
    skeleton.output_size = _optional_size(path, config, "output_size")
    skeleton.layer_norm = _flag(path, config, "layer_norm")
    skeleton.reset_after = _flag(path, config, "reset_after")
    dtype = _dtype(path, config)
    stacked = {name: _Shape(shape) for name, shape in skeleton._stacked_shapes().items()}
    return {name: (v.shape, dtype) for name, v in skeleton._named_views(stacked).items()}


class _Shape:
    """Stands in for an array in a layer's view code: slicing rows gives the view's shape."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def __getitem__(self, rows: slice) -> _Shape:
        start, stop, _ = rows.indices(self.shape[0])  # the views take whole gate blocks
        return _Shape((max(stop - start, 0), *self.shape[1:]))


def _prefixed(prefix: str, shapes: dict) -> dict:
    return {f"{prefix}.{name}": value for name, value in shapes.items()}


def _stack(path, cls, config: dict) -> dict:
    num_layers = _size(path, config, "num_layers")
    hidden = _size(path, config, "hidden_size")
    directions = 2 if _flag(path, config, "bidirectional") else 1
    if num_layers > 4096:
        fail(path, f"model config: num_layers {num_layers} is beyond any file rnnlab writes")
    shapes: dict = {}
    for layer in range(num_layers):
        layer_input = None if layer == 0 else directions * hidden
        one = _recurrent(path, cls.layer_class, config | {"output_size": None}, layer_input)
        if directions == 2:
            one = _prefixed("forward", one) | _prefixed("reverse", one)
        shapes |= _prefixed(str(layer), one)
    output = _optional_size(path, config, "output_size")
    if output is not None:
        dtype = _dtype(path, config)
        shapes |= {"W_hy": ((output, directions * hidden), dtype), "b_y": ((output,), dtype)}
    return shapes


def expected_tensors(path, description, depth: int = 0) -> dict | None:
    """name -> (shape, dtype) of every parameter ``description`` implies, or None for a class
    this module has no rule for (the caller then bounds its config, builds it and compares).

    Classes come from the registry (io imports no layer or model module): a recurrent layer is
    recognised by its layout methods, a stack by its ``layer_class``, the rest by name.
    """
    if depth > _MAX_DEPTH:
        fail(path, f"model description nested deeper than {_MAX_DEPTH} containers")
    if not isinstance(description, dict) or set(description) - {"class", "config"}:
        fail(path, f"model: expected {{'class', 'config'}}, got {str(description)[:80]}")
    name, config = description.get("class"), description.get("config", {})
    if not isinstance(config, dict):
        fail(path, f"model config: expected a JSON object, got {type(config).__name__}")
    cls = known_classes().get(name) if isinstance(name, str) else None
    if cls is None:
        return None
    if hasattr(cls, "_stacked_shapes") and hasattr(cls, "_named_views"):
        return _recurrent(path, cls, config)
    if hasattr(cls, "layer_class") and name in ("RNN", "LSTM", "GRU"):
        return _stack(path, cls, config)
    if name == "Dense":
        out, dtype = _size(path, config, "out_features"), _dtype(path, config)
        return {"W": ((out, _size(path, config, "in_features")), dtype), "b": ((out,), dtype)}
    if name == "Embedding":
        rows, dim = _size(path, config, "num_embeddings"), _size(path, config, "dim")
        return {"W": ((rows, dim), _dtype(path, config))}
    if name in ("Dropout", "Tanh", "ReLU"):
        return {}
    if name == "Bidirectional":
        inner = expected_tensors(path, config.get("layer"), depth + 1)
        return None if inner is None else _prefixed("forward", inner) | _prefixed("reverse", inner)
    if name == "Sequential":
        return _sequential(path, config, depth)
    return None


def _sequential(path, config: dict, depth: int) -> dict | None:
    modules = config.get("modules")
    if not isinstance(modules, list) or len(modules) > 4096:
        fail(path, "model config: Sequential expects a list of module descriptions")
    shapes: dict = {}
    for index, child in enumerate(modules):
        inner = expected_tensors(path, child, depth + 1)
        if inner is None:
            return None
        shapes |= _prefixed(str(index), inner)
    return shapes


def check_tensors(path, expected: dict, stored: dict) -> None:
    """The stored ``model.*`` tensors are exactly the expected names, shapes and dtypes."""
    names = {f"model.{name}" for name in expected}
    if set(stored) != names:
        missing, extra = sorted(names - set(stored)), sorted(set(stored) - names)
        fail(path, f"the parameters do not match the model: missing {missing}, unexpected {extra}")
    for name, (shape, dtype) in expected.items():
        entry = stored[f"model.{name}"]
        if tuple(entry.shape) != tuple(shape):
            fail(
                path,
                f"model.{name} has shape {tuple(entry.shape)}, the model expects {tuple(shape)}",
            )
        if entry.dtype.newbyteorder("=") != dtype:
            fail(
                path,
                f"model.{name} has dtype {entry.dtype.name}, the model's config says {dtype.name}",
            )


def stored_count(table: dict) -> int:
    return sum(math.prod(e.shape) for e in table.values())
