"""Carving the arrays of one kernel call out of one buffer (one allocation, one pool lookup)."""

from __future__ import annotations

import itertools
import math

import numpy as np

from .workspace import POOL, views


def carve(name: str, shapes: list[tuple[int, ...]], dtype, pooled: bool = True):
    """C-contiguous arrays of ``shapes``, all views of one buffer.

    ``pooled`` buffers come from the workspace pool, views and all (reused once nothing refers
    to any of the views or the buffer); others are fresh, for results handed to the caller.
    """
    plan = _PLANS.get(key := (*shapes,))
    if plan is None:  # the offsets of a list of shapes, worked out once per list
        if len(_PLANS) > 256:
            _PLANS.clear()
        offsets = [0, *itertools.accumulate(math.prod(shape) for shape in shapes)]
        plan = _PLANS[key] = (
            offsets[-1],
            tuple(zip(offsets[:-1], offsets[1:], shapes, strict=True)),
        )
    total, pieces = plan
    if pooled:
        return POOL.take_views(name, pieces, total, dtype)
    return list(views(np.empty(total, dtype), pieces))


_PLANS: dict[tuple, tuple[int, tuple[tuple[int, int, tuple[int, ...]], ...]]] = {}


# An inference forward (rnnlab.no_grad) runs the sequence in chunks of steps whose buffers (the
# gates and states a training forward would keep) total at most this; they stay in L2/L3 and
# are reused from chunk to chunk, so its memory does not grow with T beyond the outputs.
INFERENCE_CHUNK_BYTES = 2 << 20


def chunk_steps(num_steps: int, bytes_per_step: int) -> int:
    """Steps per chunk of an inference forward (at least 1, at most ``num_steps``)."""
    return max(1, min(num_steps, INFERENCE_CHUNK_BYTES // max(bytes_per_step, 1)))


def lengths_array(lengths, num_steps: int, batch_size: int) -> np.ndarray:
    """The kernels' ``lengths`` (int64 (B,)): every sequence's valid steps, T when unpadded.

    The kernels take it always, so a padded and an unpadded batch run the same machine code:
    with every length equal to T the results are bit for bit those without ``lengths``.
    """
    if lengths is None:
        full = _FULL.get((num_steps, batch_size))
        if full is None:  # kernels only read it: one array per (T, B), kept
            if len(_FULL) > 64:
                _FULL.clear()
            full = _FULL[num_steps, batch_size] = np.full(batch_size, num_steps, np.int64)
        return full
    return np.ascontiguousarray(lengths, np.int64)


_FULL: dict[tuple[int, int], np.ndarray] = {}
