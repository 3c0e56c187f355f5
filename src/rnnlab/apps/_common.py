"""What every application shares: optional packages, the guide's layer, loss curves, BLAS."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from ..callbacks import History
from ..layers import GRULayer, LSTMLayer, RNNLayer
from ..optim import Adam
from ..train import fit

CELLS = {"rnn": RNNLayer, "lstm": LSTMLayer, "gru": GRULayer}
CELL_NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
#: The guide's practical tips: Adam, gradient clip 5.0.
GRADIENT_CLIP = 5.0
INSTALL_HINT = "pip install 'rnnlab[apps]'"


class MissingPackageError(ImportError, RuntimeError):
    """An optional package is missing. Also a RuntimeError, so that the CLI reports it as one
    line ("pip install ...") rather than a traceback."""


def require(module: str, what: str) -> ModuleType:
    """Import an optional package, or explain which extra provides it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingPackageError(
            f"{what} need the optional package {module!r}; install it with: {INSTALL_HINT}"
        ) from None


def make_layer(
    cell: str,
    input_size: int,
    hidden_size: int,
    output_size: int | None,
    *,
    seed: int | np.random.Generator | None,
    dtype: DTypeLike = np.float32,
    recurrent_init: str = "orthogonal",
) -> Any:
    """A layer of ``cell`` ("rnn", "lstm", "gru") with an output head, seeded.

    LSTMs get the forget-gate bias 1.0 (Jozefowicz et al. 2015), as the guide advises.
    """
    if cell not in CELLS:
        raise ValueError(f"cell: expected one of {sorted(CELLS)}, got {cell!r}")
    kwargs: dict[str, Any] = {"forget_bias": 1.0} if cell == "lstm" else {}
    return CELLS[cell](
        input_size,
        hidden_size,
        output_size,
        seed=seed,
        dtype=dtype,
        recurrent_init=recurrent_init,
        **kwargs,
    )


def fit_with_adam(model: Any, *data: Any, lr: float, **options: Any) -> History:
    """:func:`rnnlab.fit` with the applications' recipe: Adam at ``lr`` and the gradient norm
    clipped at ``GRADIENT_CLIP``; ``data`` and ``options`` go to ``fit`` as they are."""
    return fit(model, *data, optimizer=Adam(model, lr=lr), clip=GRADIENT_CLIP, **options)


def hidden_for_budget(cell: str, input_size: int, output_size: int, budget: int) -> int:
    """The largest hidden size whose parameter count (with head) does not exceed ``budget``.

    Parameters of a cell with G gate blocks: G(I·H + H² + H) + O·H + O.
    """
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[cell]
    a, b, c = gates, gates * (input_size + 1) + output_size, output_size - budget
    hidden = int((-b + np.sqrt(b * b - 4 * a * c)) / (2 * a))
    return max(hidden, 1)


def subsample(values: Sequence[float], points: int = 50) -> list[float]:
    """At most ``points`` means of consecutive chunks: a loss curve small enough for JSON."""
    every = max(1, len(values) // points)
    return [float(np.mean(values[i : i + every])) for i in range(0, len(values), every)]


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Small matrices on a shared machine: one BLAS thread is several times faster.

    The CPU kernels are loaded first, and with them SciPy's BLAS: ``threadpool_limits`` only
    limits libraries loaded before it is entered (measured: a GRU kernel's backward ran 15x
    slower with SciPy's BLAS loaded inside the limit, its threads fighting other processes).
    """
    from .. import kernels

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scipy
        yield
        return
    for cell in CELLS:
        # ImportError: no Numba here; ValueError: RNNLAB_BACKEND names something else.
        with contextlib.suppress(ImportError, ValueError):
            kernels.select(cell, "auto", "cpu")
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def one_hot(ids: ArrayLike, size: int, dtype: DTypeLike = np.float32) -> np.ndarray:
    """Integer ids (...) -> (..., size) one-hot vectors."""
    out = np.zeros((*np.shape(ids), size), dtype=dtype)
    np.put_along_axis(out, np.asarray(ids)[..., None], 1.0, axis=-1)
    return out


def check_choice(name: str, value: object, choices: Sequence[object]) -> None:
    if value not in choices:
        raise ValueError(f"{name}: expected one of {list(choices)}, got {value!r}")
