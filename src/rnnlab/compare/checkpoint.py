"""Checkpoints of the models ``rnnlab train`` makes: safetensors plus JSON metadata, no pickle.

Uses :mod:`rnnlab.io` when it is available; until then a small safetensors writer with the same
guarantees: the layer is rebuilt from its registered class name and config (nothing executed),
and the file is written to a temporary name and renamed, so an interrupted save leaves the
previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .. import registry

METADATA_KEY = "rnnlab"


def save(path, layer, info: dict) -> Path:
    """Write ``layer``'s parameters and ``info`` (task, vocabulary, scaling...) to ``path``."""
    from safetensors.numpy import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"model": registry.describe(layer), "info": info, "format": 1}
    tensors = {name: np.ascontiguousarray(p) for name, p in layer.params.items()}
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, tmp, metadata={METADATA_KEY: json.dumps(meta)})
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path


def load(path):
    """Return ``(layer, info)`` from a checkpoint written by :func:`save`."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint: {path} does not exist")
    try:
        with safe_open(str(path), framework="numpy") as handle:
            header = handle.metadata() or {}
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise ValueError(f"checkpoint: {path} is not a readable safetensors file ({exc})") from None
    if METADATA_KEY not in header:
        raise ValueError(f"checkpoint: {path} has no rnnlab metadata; was it written by rnnlab?")
    meta = json.loads(header[METADATA_KEY])
    layer = registry.build(meta["model"])
    for name, value in tensors.items():
        layer.params[name] = value
    return layer, meta["info"]
