"""Trainers as ``rnnlab train`` calls them: each applies the task's defaults and returns
(model, info) with what ``predict`` and ``generate`` need later."""

from __future__ import annotations

from pathlib import Path

from . import chars, memory, series


def _basic(cell, hidden, steps, lr, seed, progress) -> dict:
    out = {"cell": cell or "gru", "seed": seed, "progress": progress}
    out.update({k: v for k, v in (("hidden", hidden), ("steps", steps), ("lr", lr)) if v})
    return out


def _series(kind, path=None, *, column=None, window=None, **options) -> tuple[object, dict]:
    window = window or 20
    values = series.series_of(kind, path, column, window)
    layer, info = series.train_forecaster(values, window=window, **_basic(**_defaults(options)))
    if kind == "sunspots":
        years, _ = series.load_sunspots()
        info["plot"]["years"] = years[-info["test_points"] :].tolist()
    return layer, {**info, "cell": options.get("cell") or "gru"}


def _defaults(options: dict) -> dict:
    return {k: options.get(k) for k in ("cell", "hidden", "steps", "lr")} | {
        "seed": options.get("seed", 0),
        "progress": options.get("progress", False),
    }


def sine(**options) -> tuple[object, dict]:
    return _series("sine", **options)


def sunspots(**options) -> tuple[object, dict]:
    return _series("sunspots", **options)


def csv(path: Path, **options) -> tuple[object, dict]:
    return _series("csv", path, **options)


def adding(*, seq_len=None, **options) -> tuple[object, dict]:
    layer, info = memory.train_memory(
        "adding", seq_len=seq_len or 20, **_basic(**_defaults(options))
    )
    return layer, {**info, "cell": options.get("cell") or "gru"}


def copy(*, seq_len=None, **options) -> tuple[object, dict]:
    layer, info = memory.train_memory("copy", seq_len=seq_len or 20, **_basic(**_defaults(options)))
    return layer, {**info, "cell": options.get("cell") or "gru"}


def text(**options) -> tuple[object, dict]:
    chosen = _basic(**_defaults(options))
    chosen.setdefault("hidden", 32)
    chosen.setdefault("steps", 300)
    chosen.setdefault("lr", 1e-2)
    layer, vocab, info = chars.train_text(**chosen)
    info["vocab"] = vocab.get_config()["chars"]
    info["sample"] = chars.generate(layer, vocab, "def ", 200, seed=chosen["seed"])
    return layer, {**info, "cell": chosen["cell"]}


def vowels(**options) -> tuple[object, dict]:
    from .vowels import train_vowels

    chosen = _basic(**_defaults(options))
    layer, info = train_vowels(**chosen)
    return layer, {**info, "cell": chosen["cell"]}


def motions(**options) -> tuple[object, dict]:
    from .motions import train_motions

    chosen = _basic(**_defaults(options))
    layer, info = train_motions(**chosen)
    return layer, {**info, "cell": chosen["cell"]}


def chorales(**options) -> tuple[object, dict]:
    from .chorales import train_chorales

    chosen = _basic(**_defaults(options))
    chosen["cell"] = options.get("cell")  # None: all three cells, the GRU kept
    return train_chorales(**chosen)


def dates(**options) -> tuple[object, dict]:
    from .dates import train_dates

    chosen = _basic(**_defaults(options))
    chosen.pop("cell")
    model, info = train_dates(**chosen)
    return model, {**info, "cell": "gru"}


def textclass(path: Path, **options) -> tuple[object, dict]:
    from .textclass import train_textclass

    chosen = _basic(**_defaults(options))
    chosen.pop("cell")
    model, info = train_textclass(path, **chosen)
    return model, {**info, "cell": "gru"}
