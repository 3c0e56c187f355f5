"""Trainers as ``rnnlab train`` calls them: options left out (absent from ``options``) take the
trainer's own defaults; each returns (model, info) with what ``predict`` and ``generate`` need.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import chars, memory, series

#: ``rnnlab train``'s defaults for the text task (the comparison's are larger: chars.train_text)
TEXT_DEFAULTS = {"hidden": 32, "steps": 300, "lr": 1e-2}


def _cell(info: dict, options: dict) -> dict:
    return {**info, "cell": options.get("cell", "gru")}


def _series(
    kind: str,
    path: Path | None = None,
    *,
    column: str | int | None = None,
    window: int | None = None,
    **options: Any,
) -> tuple[Any, dict]:
    window = window or 20
    values = series.series_of(kind, path, column, window)
    layer, info = series.train_forecaster(values, window=window, **options)
    if kind == "sunspots":
        years, _ = series.load_sunspots()
        info["plot"]["years"] = years[-info["test_points"] :].tolist()
    return layer, _cell(info, options)


def sine(**options: Any) -> tuple[object, dict]:
    return _series("sine", **options)


def sunspots(**options: Any) -> tuple[object, dict]:
    return _series("sunspots", **options)


def csv(path: Path, **options: Any) -> tuple[object, dict]:
    return _series("csv", path, **options)


def adding(*, seq_len: int | None = None, **options: Any) -> tuple[object, dict]:
    layer, info = memory.train_memory("adding", seq_len=seq_len or 20, **options)
    return layer, _cell(info, options)


def copy(*, seq_len: int | None = None, **options: Any) -> tuple[object, dict]:
    layer, info = memory.train_memory("copy", seq_len=seq_len or 20, **options)
    return layer, _cell(info, options)


def text(**options: Any) -> tuple[object, dict]:
    layer, vocab, info = chars.train_text(**{**TEXT_DEFAULTS, **options})
    info["vocab"] = vocab.get_config()["chars"]
    info["sample"] = chars.generate(layer, vocab, "def ", 200, seed=options.get("seed", 0))
    return layer, _cell(info, options)


def vowels(**options: Any) -> tuple[object, dict]:
    from .vowels import train_vowels

    layer, info = train_vowels(**options)
    return layer, _cell(info, options)


def motions(**options: Any) -> tuple[object, dict]:
    from .motions import train_motions

    layer, info = train_motions(**options)
    return layer, _cell(info, options)


def chorales(**options: Any) -> tuple[object, dict]:
    from .chorales import train_chorales

    return train_chorales(**options)  # without cell: all three cells, the GRU kept


def dates(**options: Any) -> tuple[object, dict]:
    from .dates import train_dates

    model, info = train_dates(**options)
    return model, {**info, "cell": "gru"}


def textclass(path: Path, **options: Any) -> tuple[object, dict]:
    from .textclass import train_textclass

    model, info = train_textclass(path, **options)
    return model, {**info, "cell": "gru"}
