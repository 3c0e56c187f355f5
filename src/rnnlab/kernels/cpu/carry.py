"""Padded batches in the kernels: (M) of :mod:`rnnlab.cells.carry`.

Each kernel takes ``lengths`` (int64 (B,), T for an unpadded sequence) and, on a padded step of
sequence b (t >= lengths[b]), carries the state unchanged forward and passes the state's
gradient straight back, with zero gate gradients (so no gradient reaches x or the weights).
The padded rows still compute the step, as the reference does, so caches agree entry by entry.
"""

from __future__ import annotations

from .config import njit


@njit
def restore_carried(d_next, carried, lengths, t):
    """Rows of step t that are padded: their gradient on the previous state is ``carried``."""
    for b in range(d_next.shape[0]):
        if t >= lengths[b]:
            d_next[b] = carried[b]
