"""Kernel dispatch: which implementation of a cell's forward/backward a layer runs.

Every implementation of a cell has the signature and cache layout of the reference functions in
:mod:`rnnlab.cells`, so that any fast forward can feed the reference backward and vice versa.
The reference is the definition; ``backend="reference"`` forces it.

Backends:

- ``"auto"`` (default): the Numba kernels of :mod:`rnnlab.kernels.cpu` on the CPU when Numba
  imports, else the reference. The environment variable ``RNNLAB_BACKEND=reference`` turns
  ``"auto"`` into the reference everywhere (for debugging a model without editing it); it is
  read at every forward, so it can be set while a program runs.
- ``"reference"``: the readable NumPy/CuPy functions of :mod:`rnnlab.cells`.
- ``"numba"``: the Numba kernels, an error if Numba is missing or the arrays are on a GPU.

``import rnnlab`` imports no Numba module and compiles nothing: :mod:`rnnlab.kernels.cpu` is
imported on the first forward that uses it, and its kernels load from Numba's on-disk cache
(or compile, the first time on a machine).
"""

from __future__ import annotations

import functools
import importlib
import os
from typing import NamedTuple

from .. import cells

BACKENDS = ("auto", "reference", "numba")
ENV_VAR = "RNNLAB_BACKEND"
CELLS = ("rnn", "lstm", "gru")


class CellKernels(NamedTuple):
    forward: object
    backward: object
    name: str
    # forward's signature, returning (h, rnnlab.inference.InferenceCache): what a forward under
    # rnnlab.no_grad() runs; None: the training forward, its cache dropped (rnnlab.inference)
    infer: object = None


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


@functools.cache
def numba_status() -> tuple[bool, str]:
    """``(True, "ok")`` when Numba (and SciPy, whose BLAS it calls) import, else the reason."""
    try:
        importlib.import_module("numba")
        importlib.import_module("scipy.linalg.cython_blas")
    except ImportError as exc:
        return False, f"the numba backend needs numba and scipy ({exc})"
    return True, "ok"


@functools.cache
def numba_kernels(cell: str) -> CellKernels:
    """The Numba kernels of ``cell`` (imports :mod:`rnnlab.kernels.cpu` on first use)."""
    available, reason = numba_status()
    if not available:
        raise ImportError(reason)
    module = importlib.import_module(f".cpu.{cell}", __name__)
    return CellKernels(
        getattr(module, f"{cell}_forward"),
        getattr(module, f"{cell}_backward"),
        "numba",
        getattr(module, f"{cell}_infer"),
    )


def resolve(backend: str, device: str) -> str:
    """The concrete backend (``"reference"`` or ``"numba"``) that ``backend`` means here."""
    check_backend(backend)
    if backend == "numba":
        if device != "cpu":
            raise ValueError(f"backend: 'numba' runs on the CPU only, the layer is on {device!r}")
        return "numba"
    if backend == "reference" or device != "cpu":
        return "reference"
    forced = os.environ.get(ENV_VAR, "").strip().lower()
    if forced == "reference":
        return "reference"
    if forced not in ("", "auto", "numba"):
        raise ValueError(f"{ENV_VAR}: expected 'auto', 'reference' or 'numba', got {forced!r}")
    return "numba" if numba_status()[0] else "reference"


def select(cell: str, backend: str, device: str) -> CellKernels:
    """The kernels a layer of ``cell`` runs with ``backend`` on ``device``.

    On the CPU the answer depends only on the arguments and ``RNNLAB_BACKEND`` (read at every
    call), so it is remembered per combination: choosing took ~2 µs a forward at small sizes.
    """
    if device == "cpu":
        return _select_cpu(cell, backend, os.environ.get(ENV_VAR, ""))
    return _select(cell, backend, device)


# Options of the cell functions the Numba kernels implement (padded batches); layer norm
# ("lstm_ln", "gru_ln") and zoneout run the reference.
NUMBA_OPTIONS = frozenset({"lengths"})


def select_for(cell: str, options: dict, backend: str, device: str) -> CellKernels:
    """:func:`select` for a layer whose cell functions take ``options`` (keyword arguments):
    the reference wherever the fast kernels lack a cell or an option."""
    supported = NUMBA_OPTIONS if device == "cpu" else frozenset()
    fast = cell in CELLS and (not options or options.keys() <= supported)
    return select(cell, backend if fast else "reference", device)


@functools.cache
def _select_cpu(cell: str, backend: str, env_value: str) -> CellKernels:
    # env_value is part of the key only: _select reads the variable itself (a bad value raises,
    # and exceptions are not cached, so it raises again at every call)
    return _select(cell, backend, "cpu")


def _select(cell: str, backend: str, device: str) -> CellKernels:
    forced_reference = os.environ.get(ENV_VAR, "").strip().lower() == "reference"
    if device == "cuda" and backend == "auto" and not forced_reference:
        impl = _select_gpu(cell)
        if impl is not None:
            return impl
    if resolve(backend, device) == "numba":
        return numba_kernels(cell)
    return REFERENCE[cell]


def _select_gpu(cell: str) -> CellKernels | None:
    """The numba-cuda kernels when they can run on CuPy arrays; None means the reference on
    CuPy (it is array-namespace generic, so it runs on the GPU unchanged, op by op)."""
    from . import gpu

    usable, _ = gpu.numba_cuda_status()
    if not usable:
        return None
    persistent = gpu.persistent_enabled()
    forward, backward = gpu.gpu_kernels(cell, persistent)
    return CellKernels(forward, backward, "numba-cuda-persistent" if persistent else "numba-cuda")
