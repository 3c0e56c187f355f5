"""Padded batches in the kernels: (M) of :mod:`rnnlab.cells.carry`.

Each kernel takes ``lengths`` (int64 (B,), T for an unpadded sequence) and, on a padded step of
sequence b (t >= lengths[b]), carries the state unchanged forward and passes the state's
gradient straight back, with zero gate gradients (so no gradient reaches x or the weights).
The padded rows still compute the step, as the reference does, so caches agree entry by entry.
"""

from __future__ import annotations

from .buffers import carve
from .config import njit


@njit
def copy_row(dst, src):
    """dst[:] = src for 1-D rows, as a plain loop: Numba's slice assignment compiles its general
    broadcasting machinery into every kernel that uses it (seconds of compile time)."""
    for j in range(dst.shape[0]):
        dst[j] = src[j]


@njit
def zero_row(dst):
    """dst[:] = 0 for a 1-D row (see :func:`copy_row`)."""
    zero = dst.dtype.type(0.0)
    for j in range(dst.shape[0]):
        dst[j] = zero


@njit
def restore_carried(d_next, carried, lengths, t, lo, hi):
    """Rows lo:hi of step t that are padded: their gradient on the previous state is
    ``carried``."""
    for b in range(lo, hi):
        if t >= lengths[b]:
            copy_row(d_next[b], carried[b])


@njit
def _padded_outputs(h, lengths, y):
    num_steps, batch_size, _ = h.shape
    for t in range(num_steps):
        for b in range(batch_size):
            if t < lengths[b]:
                copy_row(y[t, b], h[t, b])
            else:
                zero_row(y[t, b])


def padded_outputs(h, lengths):
    """The outputs of a padded batch: h with zeros on padded steps (h itself, the carried state,
    stays as the cache needs it). One compiled pass into a pooled buffer, instead of building a
    (T, B, 1) mask and a fresh product: that cost ~10 % of a forward+backward at (50,16,32,64)."""
    (y,) = carve("padded_outputs", [h.shape], h.dtype)
    _padded_outputs(h, lengths, y)
    return y
