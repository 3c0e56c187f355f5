"""Inference forwards: what a layer keeps after a forward under :func:`rnnlab.no_grad`.

Under ``with rnnlab.no_grad():`` a layer's forward keeps no backward cache. It returns its
outputs as usual and keeps only the final state (``final_state`` works as after any forward);
``backward``, ``hidden_states`` and ``cell_states`` raise :class:`InferenceModeError`, which says
why.

How much memory the forward itself needs depends on the implementation that runs:

- the Numba kernels (``backend="auto"`` on the CPU; :mod:`rnnlab.kernels.cpu`) have an
  inference entry point per cell that works through the sequence in chunks of steps whose gate
  and state buffers total at most :data:`rnnlab.kernels.cpu.buffers.INFERENCE_CHUNK_BYTES`
  (reused from chunk to chunk): the activation memory is that constant plus the returned
  outputs, instead of the 6-7 arrays of (T, B, H) a training forward keeps;
- every other implementation (the reference, layer norm, zoneout, the GPU) runs its training
  forward and drops the cache at once: the same result, only the memory saving is missing.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

__all__ = ["InferenceCache", "InferenceModeError", "check_kept", "run"]


class InferenceModeError(RuntimeError, ValueError):
    """``backward`` (or a per-step state) asked for after a forward under ``no_grad``.

    Like ``ForwardRequiredError``, both a RuntimeError (the layer is in the wrong state) and a
    ValueError (the call is invalid).
    """


class InferenceCache(NamedTuple):
    """All a forward under ``no_grad`` keeps: the final states, each (1, B, H)."""

    h: Any  # h(T), carried through padded steps, as cache.h[-1:] of a training forward
    C: Any  # C(T) for the LSTM, else None


def run(layer: Any, impl: Any, x: Any, initial: Any, options: dict) -> tuple[Any, InferenceCache]:
    """The layer's forward without a backward cache: (outputs h, :class:`InferenceCache`)."""
    if getattr(impl, "infer", None) is not None:
        return layer._run_forward(_as_inference(impl), x, initial, **options)
    h, cache = layer._run_forward(impl, x, initial, **options)
    C = getattr(cache, "C", None)
    # copies, so that nothing keeps the whole sequence's arrays alive
    return h, InferenceCache(cache.h[-1:].copy(), None if C is None else C[-1:].copy())


@functools.cache
def _as_inference(impl: Any) -> Any:
    """``impl`` (a CellKernels) with its inference entry point as the forward, built once per
    kernel set (``_replace`` cost ~1.5 µs a call at the small sizes)."""
    return impl._replace(forward=impl.infer)


def check_kept(cache: Any, what: str) -> None:
    """Raise unless ``what`` is available from ``cache`` (only the final state after no_grad)."""
    if isinstance(cache, InferenceCache) and what != "final_state":
        raise InferenceModeError(
            f"{what}: the last forward ran under rnnlab.no_grad() and kept only the final "
            "state; run forward(x) again outside no_grad() to backpropagate or to read the "
            "per-step states"
        )
