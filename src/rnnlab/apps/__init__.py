"""The guide's example applications: one module per application (data, model, metric,
baseline), each trained by :func:`rnnlab.fit`.

=============  ===========================================================  ================
task           what                                                         metric
=============  ===========================================================  ================
sine           next step of sin(0.1 t) (the guide's code example)           RMSE
sunspots       yearly sunspot numbers, one year ahead                       RMSE
csv:PATH       the same forecaster on a column of your CSV file            RMSE
adding, copy   long-term-memory tasks of the comparison                     score 0..1
text           characters of Python's help text                             bits per char
vowels         speech: Japanese Vowels speaker identification              accuracy
motions        sensor data: BasicMotions activity recognition              accuracy
chorales       music: Bach chorales, next beat of the piano roll            NLL per step
dates          translation: written dates -> ISO dates (encoder-decoder)    exact match
textclass:CSV  sentiment / text classification on your labelled CSV         accuracy
=============  ===========================================================  ================

``get(name)`` returns a :class:`Task`; ``train(spec, **options)`` trains one. vowels, motions
and chorales need the optional packages of ``pip install 'rnnlab[apps]'``.
"""

from __future__ import annotations

from ._outputs import load_outputs, summary, write_outputs
from ._registry import Task, get, names, parse, train
from .seq2seq import Seq2Seq  # importing it registers it: rnnlab.load rebuilds translators

__all__ = [
    "Seq2Seq",
    "Task",
    "get",
    "load_outputs",
    "names",
    "parse",
    "summary",
    "train",
    "write_outputs",
]
