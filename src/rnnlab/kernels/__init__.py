"""Kernel dispatch: which implementation of a cell's forward/backward a layer runs.

Every implementation of a cell has the signature and cache layout of the reference functions in
:mod:`rnnlab.cells`, so that any fast forward can feed the reference backward and vice versa.
The reference is the definition; ``backend="reference"`` forces it.
"""

from __future__ import annotations

from typing import NamedTuple

from .. import cells

BACKENDS = ("auto", "reference")


class CellKernels(NamedTuple):
    forward: object
    backward: object
    name: str


REFERENCE = {
    "rnn": CellKernels(cells.rnn_forward, cells.rnn_backward, "reference"),
    "lstm": CellKernels(cells.lstm_forward, cells.lstm_backward, "reference"),
    "gru": CellKernels(cells.gru_forward, cells.gru_backward, "reference"),
    # Layer-normalised cells (layer_norm=True): reference only for now.
    "lstm_ln": CellKernels(cells.lstm_ln_forward, cells.lstm_ln_backward, "reference"),
    "gru_ln": CellKernels(cells.gru_ln_forward, cells.gru_ln_backward, "reference"),
}


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    return backend


def select(cell: str, backend: str, device: str) -> CellKernels:
    """The kernels a layer of ``cell`` runs with ``backend`` on ``device``."""
    return REFERENCE[cell]
