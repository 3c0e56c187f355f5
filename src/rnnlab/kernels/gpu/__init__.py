"""GPU kernels: numba-cuda pointwise gate kernels driven step by step, matmuls through CuPy.

Nothing here is imported by ``import rnnlab``: :mod:`rnnlab.kernels` imports this package only
when a layer on device ``"cuda"`` runs, and this package imports ``numba.cuda`` only when
:func:`numba_cuda_status` or a kernel module is asked for.

Modules, one per cell: :mod:`.rnn`, :mod:`.lstm`, :mod:`.gru` (both forms), and
:mod:`.persistent` (the persistent-RNN forward kernels, behind ``RNNLAB_CUDA_PERSISTENT=1``).
Every driver has the signature and cache of the reference function it replaces.
"""

from __future__ import annotations

import functools
import importlib
import os

__all__ = ["PERSISTENT_ENV", "gpu_kernels", "numba_cuda_status", "persistent_enabled"]

PERSISTENT_ENV = "RNNLAB_CUDA_PERSISTENT"


@functools.cache
def numba_cuda_status() -> tuple[bool, str]:
    """``(True, "ok")`` when numba-cuda can launch kernels on CuPy arrays, else (False, why).

    The simulator (``NUMBA_ENABLE_CUDASIM=1``) runs kernels on NumPy arrays only, so it counts
    as unusable here: a layer on ``"cuda"`` holds CuPy arrays.
    """
    try:
        from numba import cuda
        from numba.core import config
    except ImportError as exc:
        return False, f"numba-cuda is not installed ({exc}); install it with 'rnnlab[gpu]'"
    if config.ENABLE_CUDASIM:
        return False, "numba.cuda is the CUDA simulator (NUMBA_ENABLE_CUDASIM=1)"
    try:
        available = cuda.is_available()
    except Exception as exc:  # a broken driver raises its own error types
        return False, f"numba.cuda cannot reach a CUDA device ({exc})"
    if not available:
        return False, "numba.cuda finds no CUDA device or driver"
    return True, "ok"


def persistent_enabled() -> bool:
    """True when ``RNNLAB_CUDA_PERSISTENT=1``: forwards try the persistent kernels first."""
    return os.environ.get(PERSISTENT_ENV, "0") == "1"


def gpu_kernels(cell: str, persistent: bool | None = None):
    """``(forward, backward)`` GPU drivers of ``cell`` ("rnn", "lstm" or "gru").

    ``persistent`` None reads :data:`PERSISTENT_ENV`. The persistent forward falls back to the
    per-step driver itself when the recurrent weights do not fit in shared memory.
    """
    module = importlib.import_module(f"{__name__}.{cell}")
    forward = getattr(module, f"{cell}_forward")
    backward = getattr(module, f"{cell}_backward")
    if persistent is None:
        persistent = persistent_enabled()
    if persistent:
        forward = getattr(importlib.import_module(f"{__name__}.persistent"), f"{cell}_forward")
    return forward, backward
