"""Checkpoints of the models ``rnnlab train`` makes, through :mod:`rnnlab.io`.

A checkpoint is the model (class, configuration, parameters; safetensors, written atomically,
nothing unpickled on load) plus what ``predict`` and ``generate`` need to use it — the task,
the series' scaling and last window, or the text's vocabulary — in the checkpoint's ``extra``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import io


def save(path: str | Path, layer: Any, info: dict) -> Path:
    """Write ``layer`` and ``info`` (JSON-able: task, scaling, vocabulary...) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    io.save_checkpoint(path, layer, extra=info)
    return path


def load(path: str | Path) -> tuple[Any, dict]:
    """Return ``(layer, info)`` from a checkpoint written by :func:`save`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint: {path} does not exist")
    loaded = io.load_checkpoint(path)
    if not loaded.extra or "kind" not in loaded.extra:
        raise ValueError(
            f"checkpoint: {path} holds a model but no task description; was it written by "
            "rnnlab train?"
        )
    return loaded.model, loaded.extra
