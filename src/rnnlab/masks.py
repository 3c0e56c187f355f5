"""Variable-length sequences: lengths, step masks and the many-to-one pick.

A padded batch is a (T, B, F) array in which sequence b is valid at steps t < lengths[b] and
padding after. The recurrent layers take ``forward(x, lengths=...)``; this module holds the
pieces they share and the many-to-one helper::

    h = lstm(x, lengths=lengths)                 # (T, B, H), zero at padded steps
    last = last_valid(h, lengths)                # (B, H): h at each sequence's last valid step
    ...
    dh = last_valid_backward(d_last, lengths, num_steps)   # (T, B, H), for lstm.backward(dh)

The mask convention everywhere: ``valid[t, b] = t < lengths[b]`` (True on real steps).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import numpy.typing as npt

from .backend import array_device, xp_of

__all__ = [
    "check_lengths",
    "last_valid",
    "last_valid_backward",
    "lengths_to_mask",
    "reverse_padded",
]


def check_lengths(
    lengths: Any, batch_size: int, num_steps: int, *, single: bool = False
) -> npt.NDArray[np.int64]:
    """Validate ``lengths`` at the public boundary; return it as a NumPy int64 array (B,).

    Parameters
    ----------
    lengths : sequence of ints or integer array (B,), each in 1..num_steps. A CuPy array is
        accepted (it is tiny and copied to the host). With ``single`` (one sequence given without
        a batch axis) a plain int is accepted too.
    batch_size, num_steps : the B and T of the padded batch.

    Raises
    ------
    TypeError
        for non-integer values (floats, bools, strings).
    ValueError
        for a wrong shape or a value outside 1..num_steps.
    """
    if isinstance(lengths, bool | str | bytes):
        raise TypeError(f"lengths: expected integers, got {lengths!r}")
    if isinstance(lengths, numbers.Integral):
        if not single:
            raise TypeError(
                f"lengths: expected a sequence of {batch_size} integers (one per batch entry), "
                f"got the single integer {lengths}"
            )
        lengths = [lengths]
    if array_device(lengths) == "cuda":
        lengths = lengths.get()
    arr = np.asarray(lengths)
    if arr.dtype == np.bool_ or arr.dtype.kind not in "iu":
        raise TypeError(f"lengths: expected integers, got dtype {arr.dtype} ({arr!r})")
    if arr.shape != (batch_size,):
        raise ValueError(
            f"lengths: expected shape ({batch_size},) (one length per batch entry), got {arr.shape}"
        )
    bad = np.flatnonzero((arr < 1) | (arr > num_steps))
    if bad.size:
        k = int(bad[0])
        raise ValueError(
            f"lengths: expected values in 1..{num_steps} (num_steps), got {int(arr[k])} "
            f"at index {k}"
        )
    return arr.astype(np.int64)


def lengths_to_mask(lengths: Any, num_steps: int) -> Any:
    """The step mask of a padded batch: ``valid[t, b] = t < lengths[b]``.

    Parameters
    ----------
    lengths : int array (B,), NumPy or CuPy (the mask lives in the same namespace).
    num_steps : T.

    Returns
    -------
    valid : bool array (T, B)
    """
    xp = xp_of(lengths)
    lengths = xp.asarray(lengths)
    return xp.arange(num_steps)[:, None] < lengths[None, :]


def _check_outputs(name, arr, lengths):
    if arr.ndim != 3:
        raise ValueError(f"{name}: expected 3 dimensions (T, B, F), got shape {tuple(arr.shape)}")
    num_steps, batch_size = arr.shape[:2]
    return check_lengths(lengths, batch_size, num_steps)


def last_valid(outputs: Any, lengths: Any, *, batch_first: bool = False) -> Any:
    """Each sequence's output at its own last valid step (many-to-one).

    Parameters
    ----------
    outputs : (T, B, F) array ((B, T, F) with ``batch_first``), NumPy or CuPy.
    lengths : ints (B,), each in 1..T.

    Returns
    -------
    last : (B, F), ``last[b] = outputs[lengths[b] - 1, b]``.
    """
    xp = xp_of(outputs)
    outputs = xp.asarray(outputs)
    if batch_first and outputs.ndim == 3:
        outputs = outputs.transpose(1, 0, 2)
    lengths = _check_outputs("outputs", outputs, lengths)
    batch = xp.arange(outputs.shape[1])
    return outputs[xp.asarray(lengths - 1), batch]  # (B, F), a copy (fancy indexing)


def last_valid_backward(
    d_last: Any, lengths: Any, num_steps: int, *, batch_first: bool = False
) -> Any:
    """Backward of :func:`last_valid`: scatter ``d_last`` back to the steps it was picked from.

    Parameters
    ----------
    d_last : (B, F) gradient with respect to ``last_valid``'s result.
    lengths : ints (B,), as given to :func:`last_valid`.
    num_steps : T of the outputs.

    Returns
    -------
    d_outputs : (T, B, F) ((B, T, F) with ``batch_first``), zero except at
        ``[lengths[b] - 1, b]`` where it holds ``d_last[b]``.
    """
    xp = xp_of(d_last)
    d_last = xp.asarray(d_last)
    if d_last.ndim != 2:
        raise ValueError(f"d_last: expected 2 dimensions (B, F), got shape {tuple(d_last.shape)}")
    if isinstance(num_steps, bool) or not isinstance(num_steps, numbers.Integral) or num_steps < 1:
        raise ValueError(f"num_steps: expected a positive integer, got {num_steps!r}")
    batch_size, features = d_last.shape
    lengths = check_lengths(lengths, batch_size, int(num_steps))
    d_outputs = xp.zeros((int(num_steps), batch_size, features), dtype=d_last.dtype)
    d_outputs[xp.asarray(lengths - 1), xp.arange(batch_size)] = d_last
    return d_outputs.transpose(1, 0, 2) if batch_first else d_outputs


def reverse_padded(x: Any, lengths: Any) -> Any:
    """Reverse each sequence within its own length; padded steps stay where they are.

    The backward direction of a bidirectional layer on a padded batch must start at each
    sequence's last valid step, not at step T-1 (which is padding for the shorter ones)::

        out[t, b] = x[lengths[b] - 1 - t, b]   for t < lengths[b],   x[t, b] otherwise

    The map is a permutation that is its own inverse, so it is also its own backward:
    ``dx = reverse_padded(d_out, lengths)``.

    Parameters
    ----------
    x : (T, B, ...) array, NumPy or CuPy
    lengths : ints (B,), each in 1..T

    Returns
    -------
    (T, B, ...) array, a copy
    """
    xp = xp_of(x)
    x = xp.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"x: expected at least 2 dimensions (T, B, ...), got shape {x.shape}")
    num_steps, batch_size = x.shape[:2]
    lengths = xp.asarray(check_lengths(lengths, batch_size, num_steps))
    t = xp.arange(num_steps)[:, None]  # (T, 1)
    source = xp.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)  # (T, B)
    return x[source, xp.arange(batch_size)[None, :]]
