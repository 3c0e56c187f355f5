"""Save and load models and training checkpoints: safetensors plus a JSON header, nothing pickled.

A file is a plain safetensors file (https://github.com/huggingface/safetensors): an 8-byte
little-endian header length, a JSON header, then raw tensor bytes. rnnlab's own description sits
in the header's ``__metadata__`` under the key ``"rnnlab"`` as a JSON string::

    {"format": "rnnlab", "format_version": 1, "library_version": "0.1.0",
     "model": {"class": "LSTMLayer", "config": {...}},   # registry.describe(model)
     "dtype": "float64", "params": ["W_f", ...], "sha256": "...",
     "optimizer": {"type": "Adam", "hyper": {...}, "step": 120} | null,
     "step": 120 | null, "rng": <numpy bit_generator.state> | null, "extra": {...} | null}

Tensors are named ``model.<param>`` (the model's ``params`` keys, e.g. ``model.W_f`` or
``model.0.W_f`` in a container) and ``optimizer.<buffer>.<param>``. ``sha256`` covers every
tensor's name and bytes, so a flipped bit is caught, not loaded.

Writes are atomic: the bytes go to a temporary file in the target's directory, are flushed and
fsync'ed, and the file is renamed over the target (``os.replace``); an interrupted save leaves the
previous file as it was. Loading parses the header itself before handing the bytes to
``safetensors.numpy``, so a truncated, corrupt or foreign file (a pickle, a ``torch.save`` zip,
another library's safetensors) fails with a :class:`CheckpointError` naming the file and the
problem. The model is rebuilt with :func:`rnnlab.registry.build` from its class name: no code
from the file is ever run.
"""

from __future__ import annotations

import hashlib
import json
import numbers
import os
import struct
import tempfile
from typing import NamedTuple

import numpy as np

from .backend import normalize_device
from .registry import build, describe

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "SaveMixin",
    "load",
    "load_checkpoint",
    "save",
    "save_checkpoint",
]

FORMAT = "rnnlab"
FORMAT_VERSION = 1
_MAX_HEADER = 100 * 2**20  # safetensors' own limit on the JSON header
# numpy bit generators a checkpoint may name; never resolved by getattr on file content
_BIT_GENERATORS = {
    cls.__name__: cls
    for cls in (
        np.random.PCG64,
        np.random.PCG64DXSM,
        np.random.MT19937,
        np.random.Philox,
        np.random.SFC64,
    )
}


class CheckpointError(ValueError):
    """A file that is not a readable rnnlab checkpoint (the message names the file and why)."""


class Checkpoint(NamedTuple):
    """What :func:`load_checkpoint` returns."""

    model: object
    optimizer: object  # an rnnlab.optim optimiser bound to ``model``, or None
    step: int | None
    rng: np.random.Generator | None
    extra: dict | None
    metadata: dict


class SaveMixin:
    """Gives a module ``module.save(path)``; see :func:`save`."""

    def save(self, path, *, extra=None):
        """Write this module's class, configuration and parameters to ``path`` (safetensors)."""
        save(self, path, extra=extra)


# --------------------------------------------------------------------------------- writing
def _host(a):
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


def _digest(tensors: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        h.update(name.encode())
        h.update(str(arr.dtype).encode() + str(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def _write_all(f, data: bytes) -> None:
    f.write(data)


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same directory, fsync, rename."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            _write_all(f, data)
            f.flush()
            os.fsync(f.fileno())
        mode = os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _model_tensors(model) -> dict:
    if not (hasattr(model, "params") and hasattr(model, "get_config")):
        raise TypeError(
            f"model: expected an rnnlab module (params and get_config), got {type(model).__name__}"
        )
    return {f"model.{name}": np.ascontiguousarray(_host(p)) for name, p in model.params.items()}


def _rng_state(rng):
    if rng is None:
        return None
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng: expected a numpy Generator or None, got {type(rng).__name__}")
    state = rng.bit_generator.state
    if state["bit_generator"] not in _BIT_GENERATORS:
        raise ValueError(f"rng: cannot save a {state['bit_generator']} generator")
    json.dumps(state)  # fail here, not after half a write
    return state


def _model_rng_state(model) -> dict:
    """States of the Generators the model draws from while running (dropout, zoneout)."""
    if hasattr(model, "rng_state"):
        return model.rng_state()
    rng = getattr(model, "zoneout_rng", None)  # a bare recurrent layer
    return {} if rng is None else {"zoneout": rng.bit_generator.state}


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
    except (ValueError, TypeError, KeyError) as exc:
        _fail(path, f"cannot restore the model's random streams: {exc}")


def _encode(model, optimizer=None, step=None, rng=None, extra=None) -> bytes:
    from safetensors.numpy import save as st_save

    from ._version import __version__

    tensors = _model_tensors(model)
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "model": describe(model),
        "dtype": str(next(iter(tensors.values())).dtype) if tensors else None,
        "params": list(model.params),
        "optimizer": None,
        "step": None,
        "rng": _rng_state(rng),
        "model_rng": _model_rng_state(model),
        "extra": extra,
    }
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
            raise ValueError(f"step: expected a non-negative integer, got {step!r}")
        header["step"] = int(step)
    if optimizer is not None:
        sd = optimizer.state_dict()
        header["optimizer"] = {"type": sd["type"], "hyper": sd["hyper"], "step": sd["step"]}
        for kind, buffers in sd["state"].items():
            for name, arr in buffers.items():
                tensors[f"optimizer.{kind}.{name}"] = np.ascontiguousarray(arr)
    header["sha256"] = _digest(tensors)
    try:
        text = json.dumps(header, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"extra: expected JSON-serialisable values, {exc}") from exc
    return st_save(tensors, metadata={FORMAT: text})


def save(model, path, *, extra=None) -> None:
    """Save a model (class, configuration, parameters) atomically to ``path``.

    Parameters
    ----------
    model : an rnnlab module (a layer, or a container of layers).
    path : str or os.PathLike; conventionally ``*.safetensors``.
    extra : optional JSON-serialisable dict stored in the header (notes, metrics).
    """
    atomic_write_bytes(path, _encode(model, extra=extra))


def save_checkpoint(path, model, optimizer=None, *, step=None, rng=None, extra=None) -> None:
    """Save a model with what resuming training needs: optimiser state, step count, RNG state.

    ``rng`` is the numpy Generator that drives data shuffling (the one passed to
    :func:`rnnlab.fit` as ``seed``); its exact state is stored so the next epoch's order is the
    one an uninterrupted run would have drawn.
    """
    atomic_write_bytes(path, _encode(model, optimizer, step, rng, extra))


# --------------------------------------------------------------------------------- reading
def _fail(path, why):
    raise CheckpointError(f"{os.fspath(path)}: {why}")


def _looks_like_safetensors(data: bytes) -> bool:
    if len(data) < 9:
        return False
    (n,) = struct.unpack("<Q", data[:8])
    return n <= len(data) - 8 and data[8:9] == b"{"


def _refuse_other_formats(path, data: bytes) -> None:
    if data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        _fail(path, "this is a Python pickle; rnnlab never unpickles files (they can run code)")
    if data[:4] == b"PK\x03\x04":
        _fail(
            path,
            "this is a zip archive (torch.save output?), not a safetensors file; "
            "rnnlab never unpickles files",
        )


def _read_header(path, data: bytes) -> dict:
    # A header length such as 0x480 starts with the bytes of a pickle's PROTO opcode, so the
    # signatures of other formats are only believed when the safetensors layout does not fit.
    if not _looks_like_safetensors(data):
        _refuse_other_formats(path, data)
    if len(data) < 8:
        _fail(path, f"truncated: {len(data)} bytes, too short for a safetensors header")
    (n,) = struct.unpack("<Q", data[:8])
    if n > _MAX_HEADER or n > len(data) - 8:
        _fail(
            path,
            f"not a safetensors file or truncated: the header claims {n} bytes, "
            f"the file has {len(data) - 8} after the length field",
        )
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        _fail(path, f"corrupt safetensors header (not JSON: {exc})")
    if not isinstance(header, dict):
        _fail(path, "corrupt safetensors header (not a JSON object)")
    expected = 0
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(isinstance(o, int) for o in offsets)
        ):
            _fail(path, f"corrupt safetensors header (bad entry for tensor {key!r})")
        expected = max(expected, offsets[1])
    if len(data) - 8 - n != expected:
        _fail(
            path,
            f"truncated or corrupt: the header describes {expected} bytes of tensor data, "
            f"the file holds {len(data) - 8 - n}",
        )
    meta = header.get("__metadata__") or {}
    if FORMAT not in meta:
        _fail(
            path,
            "a safetensors file without rnnlab metadata (written by another library?); "
            "rnnlab.load reads files written by rnnlab.save",
        )
    try:
        info = json.loads(meta[FORMAT])
    except json.JSONDecodeError as exc:
        _fail(path, f"corrupt rnnlab metadata ({exc})")
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        _fail(path, "corrupt rnnlab metadata (no format field)")
    version = info.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        _fail(
            path,
            f"format_version {version!r} is newer than this rnnlab reads "
            f"({FORMAT_VERSION}); upgrade rnnlab",
        )
    return info


def _decode(path):
    from safetensors import SafetensorError
    from safetensors.numpy import load as st_load

    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    info = _read_header(path, data)
    try:
        tensors = st_load(data)
    except SafetensorError as exc:
        _fail(path, f"corrupt safetensors data ({exc})")
    if _digest(tensors) != info.get("sha256"):
        _fail(path, "corrupt: the tensor bytes do not match the checksum in the header")
    return info, tensors


def _restore_model(path, info, tensors):
    try:
        model = build(info["model"])
    except (ValueError, TypeError, KeyError) as exc:
        _fail(path, f"cannot rebuild the model from its description: {exc}")
    expected = {f"model.{name}": p for name, p in model.params.items()}
    stored = {k for k in tensors if k.startswith("model.")}
    if stored != set(expected):
        _fail(path, f"parameters {sorted(stored)} do not match the model's {sorted(expected)}")
    for key, p in expected.items():
        arr = tensors[key]
        if tuple(arr.shape) != tuple(p.shape):
            _fail(path, f"{key} has shape {arr.shape}, the model expects {tuple(p.shape)}")
        p[...] = arr.astype(p.dtype, copy=False)
    if hasattr(model, "zero_grad"):
        model.zero_grad()
    _set_model_rng_state(path, model, info.get("model_rng"))
    return model


def load(path, *, device="cpu"):
    """Load a model saved by :func:`save` (or :func:`save_checkpoint`), in training mode.

    ``device`` ("cpu" or "cuda") is where the model is placed; files are device-independent
    (a model saved from the GPU is written from host copies).
    """
    device = normalize_device(device)
    info, tensors = _decode(path)
    return _place(_restore_model(path, info, tensors), device)


def _place(model, device):
    return model if device == "cpu" else model.to(device)


def _restore_rng(path, state):
    if state is None:
        return None
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if name not in _BIT_GENERATORS:
        _fail(path, f"unknown random bit generator {name!r}")
    bit_generator = _BIT_GENERATORS[name]()
    try:
        bit_generator.state = state
    except (ValueError, TypeError, KeyError) as exc:
        _fail(path, f"corrupt RNG state ({exc})")
    return np.random.Generator(bit_generator)


def load_checkpoint(path, *, device="cpu") -> Checkpoint:
    """Load what :func:`save_checkpoint` wrote: model, optimiser (bound to it), step, RNG.

    ``device``: where the model goes; the optimiser's state is created beside its parameters.
    """
    from .optim import optimizer_from_state_dict

    device = normalize_device(device)
    info, tensors = _decode(path)
    model = _place(_restore_model(path, info, tensors), device)
    optimizer = None
    opt_info = info.get("optimizer")
    if opt_info is not None:
        state: dict = {}
        for key, arr in tensors.items():
            if key.startswith("optimizer."):
                _, kind, name = key.split(".", 2)
                state.setdefault(kind, {})[name] = arr
        try:
            optimizer = optimizer_from_state_dict(model, {**opt_info, "state": state})
        except (ValueError, TypeError, KeyError) as exc:
            _fail(path, f"cannot restore the optimizer: {exc}")
    rng = _restore_rng(path, info.get("rng"))
    return Checkpoint(model, optimizer, info.get("step"), rng, info.get("extra"), info)
