"""Class names <-> classes, for checkpoints and configs: nothing is ever unpickled or executed.

A module is described by ``{"class": name, "config": module.get_config()}``; :func:`build`
turns such a description back into a module through this explicit table of known classes.
"""

from __future__ import annotations

_CLASSES: dict[str, type] = {}


def register(cls: type) -> type:
    """Class decorator: make ``cls`` buildable from a description."""
    _CLASSES[cls.__name__] = cls
    return cls


def describe(module) -> dict:
    """``{"class": ..., "config": ...}`` for a module (JSON-serialisable)."""
    return {"class": type(module).__name__, "config": module.get_config()}


def build(description: dict):
    """Construct a module from :func:`describe`'s output (fresh parameters, not loaded ones)."""
    if not isinstance(description, dict) or "class" not in description:
        raise ValueError(
            f"description: expected a dict with 'class' and 'config', got {description!r}"
        )
    name = description["class"]
    if name not in _CLASSES:
        raise ValueError(
            f"description: unknown class {name!r}; known classes are {sorted(_CLASSES)}"
        )
    cls = _CLASSES[name]
    config = description.get("config", {})
    return cls.from_config(config) if hasattr(cls, "from_config") else cls(**config)


def known_classes() -> dict[str, type]:
    return dict(_CLASSES)
