"""What every time loop shares: the state carried to the next step, with padding and zoneout.

A cell step computes a new state ``s_new`` (h, or C for the LSTM) from ``s(t-1)``. Two options
change what is carried on as ``s(t)``, applied in this order:

    (Z) zoneout (Krueger et al. 2016), keep mask K(t) (B, H):
            s(t) = K(t) ⊙ s(t-1) + (1 - K(t)) ⊙ s_new
        K holds 0/1 samples (unit kept with probability p) in training, the constant p in
        evaluation (the expectation, p·s(t-1) + (1-p)·s_new).
    (M) padding, valid(t) = t < lengths (B, 1):
            s(t) = s_new where valid(t), s(t-1) on padded steps (the state is carried unchanged)

Backward, given the total gradient ``ds`` on s(t):

    (M) ds_new = ds where valid(t), else 0;   ds(t-1) += ds where padded, else 0
    (Z) ds(t-1) += K(t) ⊙ ds_new;            ds_new = (1 - K(t)) ⊙ ds_new

On a padded step ds_new is exactly zero, so the cell's own backward of that step yields zero
gradients for x(t) and the parameters: padded steps get no gradient, without a separate mask.
"""

from __future__ import annotations

from ..backend import xp_of
from ..masks import lengths_to_mask


def step_mask(lengths, num_steps, like):
    """(T, B, 1) bool mask of the valid steps in the namespace of ``like``, or None."""
    if lengths is None:
        return None
    xp = xp_of(like)
    return lengths_to_mask(xp.asarray(lengths), num_steps)[:, :, None]


def carry_forward(s_new, s_prev, keep_t=None, valid_t=None):
    """The state carried on: (Z) zoneout with keep mask ``keep_t``, then (M) padding."""
    if keep_t is not None:
        s_new = keep_t * s_prev + (1.0 - keep_t) * s_new  # (Z)
    if valid_t is not None:
        s_new = xp_of(s_new).where(valid_t, s_new, s_prev)  # (M)
    return s_new


def carry_backward(ds, keep_t=None, valid_t=None):
    """Split the gradient on s(t) into (ds_new, the direct part of ds(t-1)); see the module."""
    xp = xp_of(ds)
    ds_new, ds_prev = ds, None
    if valid_t is not None:
        ds_new = xp.where(valid_t, ds, 0.0)  # (M)
        ds_prev = xp.where(valid_t, 0.0, ds)
    if keep_t is not None:
        direct = keep_t * ds_new  # (Z)
        ds_prev = direct if ds_prev is None else ds_prev + direct
        ds_new = (1.0 - keep_t) * ds_new
    return ds_new, ds_prev


def mask_outputs(h, valid):
    """Zero the outputs of padded steps (h is the carried state; outputs are not)."""
    return h if valid is None else h * valid


def add(a, b):
    """a + b where b may be None (no direct gradient)."""
    return a if b is None else a + b
