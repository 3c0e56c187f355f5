"""Carving the arrays of one kernel call out of one buffer (one allocation, one pool lookup)."""

from __future__ import annotations

import math

import numpy as np

from .workspace import POOL


def carve(name: str, shapes: list[tuple[int, ...]], dtype, pooled: bool = True):
    """C-contiguous arrays of ``shapes``, all views of one buffer.

    ``pooled`` buffers come from the workspace pool (reused once nothing refers to any of the
    views); others are fresh, for results handed to the caller.
    """
    sizes = [math.prod(s) for s in shapes]
    total = sum(sizes)
    base = POOL.take(name, (total,), dtype) if pooled else np.empty(total, dtype)
    out, offset = [], 0
    for shape, size in zip(shapes, sizes, strict=True):
        out.append(base[offset : offset + size].reshape(shape))
        offset += size
    return out
