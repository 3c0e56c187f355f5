"""save / load / save_checkpoint / load_checkpoint: models and training state to and from files.

Writing: describe the model (:func:`rnnlab.registry.describe`), gather its parameters (and the
optimiser's buffers), encode (:mod:`.format`) and write atomically (:mod:`.files`).
Reading: check the header, the description and every stored shape and dtype against the
model description first; only then read the tensor bytes, check the digest and finiteness,
build the model and copy the parameters in. Every failure is a :class:`CheckpointError`.
"""

from __future__ import annotations

import numbers
import os
import warnings
from typing import Any, NamedTuple

import numpy as np

from ..backend import normalize_device
from ..registry import build, describe
from .files import atomic_write_bytes, open_regular
from .format import (
    DIGEST_KEY,
    FORMAT,
    FORMAT_VERSION,
    CheckpointError,
    CheckpointWarning,
    encode,
    fail,
    parse_json,
    read_layout,
    read_tensors,
    tensor_digest,
)
from .schema import check_description, check_tensors, expected_tensors, stored_count

__all__ = ["Checkpoint", "SaveMixin", "load", "load_checkpoint", "save", "save_checkpoint"]

PathLike = str | os.PathLike[str]
# numpy bit generators a checkpoint may name; never resolved by getattr on file content
_BIT_GENERATORS = {
    cls.__name__: cls
    for cls in (np.random.PCG64, np.random.PCG64DXSM, np.random.MT19937, np.random.Philox,
                np.random.SFC64)
}  # fmt: skip
# what a constructor or a state setter may raise on odd values from a file
_BAD_VALUE = (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError)


class Checkpoint(NamedTuple):
    """What :func:`load_checkpoint` returns."""

    model: Any
    optimizer: Any  # an rnnlab.optim optimiser bound to ``model``, or None
    step: int | None
    rng: np.random.Generator | None
    extra: dict | None
    metadata: dict


class SaveMixin:
    """Gives a module ``module.save(path)``; see :func:`save`."""

    def save(self, path: PathLike, *, extra: dict | None = None) -> None:
        """Write this module's class, configuration and parameters to ``path`` (safetensors)."""
        save(self, path, extra=extra)


# --------------------------------------------------------------------------------- writing
def _host(a):
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


def _finite_tensor(name: str, array: np.ndarray) -> np.ndarray:
    if not np.isfinite(array).all():
        raise ValueError(
            f"{name}: holds NaN or inf; not saved (the file at the path is left as it was). "
            "A diverged model would load as garbage: fix the training or save an earlier one"
        )
    return array


def _model_tensors(model) -> dict:
    if not (hasattr(model, "params") and hasattr(model, "get_config")):
        raise TypeError(
            f"model: expected an rnnlab module (params and get_config), got {type(model).__name__}"
        )
    return {
        f"model.{name}": _finite_tensor(f"params[{name!r}]", np.ascontiguousarray(_host(p)))
        for name, p in model.params.items()
    }


def _rng_state(rng):
    if rng is None:
        return None
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng: expected a numpy Generator or None, got {type(rng).__name__}")
    state = rng.bit_generator.state
    if state["bit_generator"] not in _BIT_GENERATORS:
        raise ValueError(f"rng: cannot save a {state['bit_generator']} generator")
    return state


def _model_rng_state(model) -> dict:
    """States of the Generators the model draws from while running (dropout, zoneout)."""
    if hasattr(model, "rng_state"):
        return model.rng_state()
    rng = getattr(model, "zoneout_rng", None)  # a bare recurrent layer
    return {} if rng is None else {"zoneout": rng.bit_generator.state}


def _encode(model, optimizer=None, step=None, rng=None, extra=None) -> bytes:
    from .._version import __version__

    if extra is not None and not isinstance(extra, dict):
        raise TypeError(f"extra: expected a dict or None, got {type(extra).__name__}")
    if step is not None and (
        isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0
    ):
        raise ValueError(f"step: expected a non-negative integer, got {step!r}")
    tensors = _model_tensors(model)
    info = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "model": describe(model),
        "dtype": str(next(iter(tensors.values())).dtype) if tensors else None,
        "params": list(model.params),
        "optimizer": None,
        "step": None if step is None else int(step),
        "rng": _rng_state(rng),
        "model_rng": _model_rng_state(model),
        "extra": extra,
    }
    if optimizer is not None:
        sd = optimizer.state_dict()
        info["optimizer"] = {"type": sd["type"], "hyper": sd["hyper"], "step": sd["step"]}
        for kind, buffers in sd["state"].items():
            for name, arr in buffers.items():
                key = f"optimizer.{kind}.{name}"
                tensors[key] = _finite_tensor(key, np.ascontiguousarray(arr))
    try:
        return encode(info, tensors)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"extra: expected JSON-serialisable, finite values, {exc}") from exc


def save(model: Any, path: PathLike, *, extra: dict | None = None) -> None:
    """Save a model (class, configuration, parameters) atomically to ``path``.

    Parameters
    ----------
    model : an rnnlab module (a layer, or a container of layers).
    path : str or os.PathLike; conventionally ``*.safetensors``. A regular file there is
        replaced atomically; a symlink's target is replaced (the link stays); a directory,
        FIFO, device or socket is refused (see :func:`rnnlab.io.atomic_write_bytes`).
    extra : optional JSON-serialisable dict stored in the header (notes, metrics).

    Raises
    ------
    ValueError
        A parameter holds NaN or inf (nothing is written), or ``path`` is not a regular file.
    TypeError
        ``model`` is not an rnnlab module, or ``extra`` is not JSON-serialisable.
    """
    atomic_write_bytes(path, _encode(model, extra=extra))


def save_checkpoint(
    path: PathLike,
    model: Any,
    optimizer: Any = None,
    *,
    step: int | None = None,
    rng: np.random.Generator | None = None,
    extra: dict | None = None,
) -> None:
    """Save a model with what resuming training needs: optimiser state, step count, RNG state.

    ``rng`` is the numpy Generator that drives data shuffling (the one passed to
    :func:`rnnlab.fit` as ``seed``); its exact state is stored so the next epoch's order is the
    one an uninterrupted run would have drawn. Writes as :func:`save` does.
    """
    atomic_write_bytes(path, _encode(model, optimizer, step, rng, extra))


# --------------------------------------------------------------------------------- reading
def _check_metadata_keys(path, meta: dict, version: int) -> None:
    allowed = {FORMAT, DIGEST_KEY} if version >= 2 else {FORMAT}
    if set(meta) != allowed:
        fail(path, f"corrupt rnnlab metadata (keys {sorted(meta)}, expected {sorted(allowed)})")


def _check_optimizer_entries(path, info: dict, table: dict) -> None:
    """optimizer.<buffer>.<param>: a known buffer of a known parameter, its shape and dtype."""
    from ..optim import OPTIMIZERS

    opt = info["optimizer"]
    names = [k for k in table if not k.startswith("model.")]
    if opt is None:
        if names:
            fail(path, f"tensors {sorted(names)[:3]} belong to no model parameter or optimizer")
        return
    if opt["type"] not in OPTIMIZERS:
        fail(path, f"optimizer type {opt['type']!r} is not one of {sorted(OPTIMIZERS)}")
    kinds = OPTIMIZERS[opt["type"]].state_names
    for key in names:
        parts = key.split(".", 2)
        param = table.get(f"model.{parts[-1]}") if len(parts) == 3 else None
        if parts[0] != "optimizer" or parts[1] not in kinds or param is None:
            fail(path, f"tensor {key!r} is not a {opt['type']} buffer of a model parameter")
        if table[key].shape != param.shape or table[key].dtype != param.dtype:
            fail(path, f"{key} has shape {table[key].shape} and dtype {table[key].dtype.name}, "
                       f"its parameter {param.shape} and {param.dtype.name}")  # fmt: skip


def _bound_unknown_class(path, info: dict, table: dict) -> None:
    """A class without a shape rule: no size in its config may exceed the stored scalars."""
    limit = max(stored_count(table), 1)

    def walk(value, depth=0):
        if depth > 64:
            fail(path, "model description nested too deeply")
        if isinstance(value, dict):
            for item in value.values():
                walk(item, depth + 1)
        elif isinstance(value, list):
            for item in value:
                walk(item, depth + 1)
        elif isinstance(value, int) and not isinstance(value, bool) and value > limit:
            fail(path, f"model config holds {value}, more than the {limit} values stored")

    walk(info["model"])


def _check_model_entries(path, info: dict, table: dict) -> None:
    expected = expected_tensors(path, info["model"])
    if expected is None:
        _bound_unknown_class(path, info, table)
        return
    check_tensors(path, expected, {k: e for k, e in table.items() if k.startswith("model.")})
    if info["params"] != list(expected):
        fail(path, f"params {info['params'][:4]}... do not list the model's parameters in order")
    first = next(iter(expected.values()), None)
    if info["dtype"] != (None if first is None else first[1].name):
        fail(path, f"dtype {info['dtype']!r} is not the parameters' dtype")


def _read(path: PathLike) -> tuple[dict, dict]:
    """The checked description and tensors of a file; nothing built yet."""
    with open_regular(path, CheckpointError) as f:
        layout = read_layout(path, f, os.fstat(f.fileno()).st_size)
        info = parse_json(path, layout.meta[FORMAT], "rnnlab metadata")
        version = check_description(path, info)
        _check_metadata_keys(path, layout.meta, version)
        _check_model_entries(path, info, layout.table)
        _check_optimizer_entries(path, info, layout.table)
        tensors = read_tensors(path, f, layout, version)
    if version == 1:
        if tensor_digest(tensors) != info["sha256"]:
            fail(path, "corrupt: the tensor bytes do not match the checksum in the header")
        warnings.warn(
            f"{os.fspath(path)}: format version 1 (rnnlab 0.1): its header (config, optimizer, "
            "step, RNG, extra) is not covered by a checksum; save it again to upgrade",
            CheckpointWarning,
            stacklevel=3,
        )
    for name, array in tensors.items():
        if not np.isfinite(array).all():
            fail(path, f"{name} holds NaN or inf values")
    return info, tensors


def _restore_model(path, info: dict, tensors: dict):
    try:
        model = build(info["model"])
    except _BAD_VALUE as exc:
        fail(path, f"cannot rebuild the model from its description: {exc}")
    expected = {f"model.{name}": p for name, p in model.params.items()}
    stored = {k for k in tensors if k.startswith("model.")}
    if stored != set(expected):
        fail(path, f"parameters {sorted(stored)} do not match the model's {sorted(expected)}")
    for key, p in expected.items():
        arr = tensors[key]
        if tuple(arr.shape) != tuple(p.shape) or arr.dtype != p.dtype:
            fail(path, f"{key} is {arr.dtype.name}{arr.shape}, the model has "
                       f"{p.dtype.name}{tuple(p.shape)}")  # fmt: skip
        p[...] = arr
    if hasattr(model, "zero_grad"):
        model.zero_grad()
    _set_model_rng_state(path, model, info.get("model_rng"))
    return model


def _set_model_rng_state(path, model, state) -> None:
    if not state:
        return
    try:
        if hasattr(model, "set_rng_state"):
            model.set_rng_state(state)
        elif getattr(model, "zoneout_rng", None) is not None and set(state) == {"zoneout"}:
            model.zoneout_rng.bit_generator.state = state["zoneout"]
        else:
            raise ValueError(f"the model has no random streams named {sorted(state)}")
    except _BAD_VALUE as exc:
        fail(path, f"cannot restore the model's random streams: {exc}")


def load(path: PathLike, *, device: str = "cpu") -> Any:
    """Load a model saved by :func:`save` (or :func:`save_checkpoint`), in training mode.

    ``device`` ("cpu" or "cuda") is where the model is placed; files are device-independent
    (a model saved from the GPU is written from host copies).

    Raises
    ------
    CheckpointError
        The file is not a valid rnnlab file: truncated, a byte changed (checksum), a foreign
        format, a description or shape out of range. The message names the file and why.
    FileNotFoundError
        No file at ``path``.
    """
    device = normalize_device(device)
    info, tensors = _read(path)
    return _place(_restore_model(path, info, tensors), device)


def _place(model, device):
    return model if device == "cpu" else model.to(device)


def _restore_rng(path, state):
    if state is None:
        return None
    name = state.get("bit_generator")
    if not isinstance(name, str) or name not in _BIT_GENERATORS:
        fail(path, f"unknown random bit generator {name!r}")
    bit_generator = _BIT_GENERATORS[name]()
    try:
        bit_generator.state = state
    except _BAD_VALUE as exc:
        fail(path, f"corrupt RNG state ({exc})")
    return np.random.Generator(bit_generator)


def _restore_optimizer(path, model, opt_info, tensors):
    from ..optim import optimizer_from_state_dict

    state: dict = {}
    for key, arr in tensors.items():
        if key.startswith("optimizer."):
            _, kind, name = key.split(".", 2)
            state.setdefault(kind, {})[name] = arr
    try:
        return optimizer_from_state_dict(model, {**opt_info, "state": state})
    except _BAD_VALUE as exc:
        fail(path, f"cannot restore the optimizer: {exc}")


def load_checkpoint(path: PathLike, *, device: str = "cpu") -> Checkpoint:
    """Load what :func:`save_checkpoint` wrote: model, optimiser (bound to it), step, RNG.

    ``device``: where the model goes; the optimiser's state is created beside its parameters.
    Raises as :func:`load` does.
    """
    device = normalize_device(device)
    info, tensors = _read(path)
    model = _place(_restore_model(path, info, tensors), device)
    optimizer = None
    if info["optimizer"] is not None:
        optimizer = _restore_optimizer(path, model, info["optimizer"], tensors)
    rng = _restore_rng(path, info["rng"])
    return Checkpoint(model, optimizer, info["step"], rng, info["extra"], info)
