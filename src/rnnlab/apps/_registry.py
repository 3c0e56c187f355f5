"""The task table behind ``rnnlab train --task NAME``: names -> what trains them.

A task's module is imported only when the task is used, so that ``rnnlab`` starts fast and the
optional packages (sktime, music21, mido) are needed only by the tasks that read them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._common import check_choice, one_blas_thread

#: Options every task takes.
COMMON = ("seed", "progress")


@dataclass(frozen=True)
class Task:
    """One application as ``rnnlab train`` sees it.

    name : the task's name; ``argument`` says what follows ``NAME:`` (a CSV file), if anything.
    module, function : where its trainer lives in :mod:`rnnlab.apps`; the trainer returns
        (model, info) and info holds the held-out metric under ``metric``.
    options : the keyword options it takes beyond seed and progress.
    """

    name: str
    summary: str
    module: str
    function: str
    options: tuple[str, ...]
    metric: str
    higher_is_better: bool
    argument: str | None = None

    def trainer(self) -> Callable[..., tuple[Any, dict]]:
        module = importlib.import_module(f"rnnlab.apps.{self.module}")
        return getattr(module, self.function)


_BASIC = ("cell", "hidden", "steps", "lr")
_TASKS = {
    t.name: t
    for t in (
        Task(
            "sine", "next step of sin(0.1 t)", "_tasks", "sine", (*_BASIC, "window"), "rmse", False
        ),
        Task(
            "sunspots",
            "yearly sunspots, one year ahead",
            "_tasks",
            "sunspots",
            (*_BASIC, "window"),
            "rmse",
            False,
        ),
        Task(
            "csv",
            "next value of a column of your CSV",
            "_tasks",
            "csv",
            (*_BASIC, "window", "column"),
            "rmse",
            False,
            argument="PATH",
        ),
        Task(
            "adding",
            "the adding problem (long-term memory)",
            "_tasks",
            "adding",
            (*_BASIC, "seq_len"),
            "score",
            True,
        ),
        Task(
            "copy",
            "delayed recall of a symbol (long-term memory)",
            "_tasks",
            "copy",
            (*_BASIC, "seq_len"),
            "score",
            True,
        ),
        Task(
            "text",
            "characters of Python's help text",
            "_tasks",
            "text",
            _BASIC,
            "val_bits_per_char",
            False,
        ),
        Task(
            "vowels",
            "speech: Japanese Vowels speakers",
            "_tasks",
            "vowels",
            _BASIC,
            "accuracy",
            True,
        ),
        Task(
            "motions",
            "sensor data: BasicMotions activities",
            "_tasks",
            "motions",
            _BASIC,
            "accuracy",
            True,
        ),
        Task(
            "chorales",
            "music: Bach chorales, next beat",
            "_tasks",
            "chorales",
            _BASIC,
            "nll",
            False,
        ),
        Task(
            "dates",
            "translation: written dates to ISO",
            "_tasks",
            "dates",
            ("hidden", "steps", "lr"),
            "exact_match",
            True,
        ),
        Task(
            "textclass",
            "text classification of your labelled CSV",
            "_tasks",
            "textclass",
            ("hidden", "steps", "lr"),
            "accuracy",
            True,
            argument="PATH",
        ),
    )
}


def names() -> list[str]:
    """Task names, as ``--task`` takes them (``csv:PATH``, ``textclass:PATH``)."""
    return [t.name + (f":{t.argument}" if t.argument else "") for t in _TASKS.values()]


def get(name: str) -> Task:
    """The :class:`Task` called ``name`` (without any ``:PATH``)."""
    if name not in _TASKS:
        raise ValueError(f"task: expected one of {names()}, got {name!r}")
    return _TASKS[name]


def parse(spec: str) -> tuple[Task, Path | None]:
    """``"csv:data.csv"`` -> (the csv task, Path("data.csv")); ``"sine"`` -> (sine, None)."""
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"task: expected one of {names()}, got {spec!r}")
    name, _, argument = spec.partition(":")
    task = get(name)
    if task.argument and not argument:
        raise ValueError(f"task: {name}:{task.argument} needs a file name after '{name}:'")
    if not task.argument and argument:
        raise ValueError(f"task: {name} takes no ':' argument, got {spec!r}")
    return task, Path(argument) if argument else None


def train(spec: str, **options: Any) -> tuple[Any, dict]:
    """Train the task ``spec`` (``"vowels"``, ``"csv:data.csv"``...) with its defaults, changed by
    ``options`` (cell, hidden, steps, lr, window, seq_len, column, seed, progress; None means
    the task's default). Returns (model, info); info is JSON-able and holds the held-out metric.
    """
    task, path = parse(spec)
    given = {k: v for k, v in options.items() if v is not None}
    for key in given:
        if key not in task.options and key not in COMMON:
            flag = "--" + key.replace("_", "-")
            raise ValueError(f"{flag}: the {task.name} task does not use it")
    if "cell" in given:
        check_choice("cell", given["cell"], ("rnn", "lstm", "gru"))
    if "lr" in given and not given["lr"] > 0:
        raise ValueError(f"lr: expected a positive learning rate, got {given['lr']}")
    with one_blas_thread():
        model, info = task.trainer()(path, **given) if task.argument else task.trainer()(**given)
    info = {"task": spec, **info}
    return model, info
