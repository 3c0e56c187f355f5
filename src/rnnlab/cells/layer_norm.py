"""Layer normalisation (Ba, Kiros & Hinton 2016), forward and backward, per block of units.

For a vector a of H pre-activations (one gate block of one batch entry)::

    (1) μ = (1/H) Σ_j a_j
    (2) σ² = (1/H) Σ_j (a_j - μ)²                 biased variance, as the paper and PyTorch
    (3) s = 1 / sqrt(σ² + ε)                       ε = LN_EPS = 1e-5, inside the square root
    (4) â = (a - μ) · s
    (5) y = gain ⊙ â + bias                        gain (init 1) and bias (init 0), learned, (H,)

The recurrent cells normalise each gate block on its own: ``a`` (..., G·H) is read as G blocks of
H units, each with its own μ and σ (``num_groups`` = G), while gain and bias are (G·H,), one per
unit.
ε inside the square root keeps s finite when a block is constant (σ² = 0, e.g. H = 1, where
â = 0 and y = bias: a block of one unit carries no signal through its normalisation).

Backward, with dy the gradient on y (same shape as a)::

    (5) dgain = Σ dy ⊙ â,   dbias = Σ dy     (summed over every leading axis), dâ = dy ⊙ gain
    (1-4) da = s · (dâ - mean(dâ) - â ⊙ mean(dâ ⊙ â))      means over the H units of the block

The last line is the whole Jacobian of (1)-(4): the two means remove the components of dâ along
the directions that normalisation takes out (a constant shift and a rescaling of the block).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..backend import xp_of

LN_EPS = 1e-5  # PyTorch's nn.LayerNorm default; inside the square root, see (3)


class LayerNormCache(NamedTuple):
    """What forward keeps for backward."""

    a_hat: Any  # (..., G*H) normalised input â
    inv_std: Any  # (..., G, 1) s = 1 / sqrt(σ² + ε) per block


def _blocks(a, num_groups):
    """View (..., G*H) as (..., G, H)."""
    return a.reshape(*a.shape[:-1], num_groups, a.shape[-1] // num_groups)


def layer_norm_forward(
    a: Any, gain: Any, bias: Any, num_groups: int = 1, eps: float = LN_EPS
) -> tuple[Any, LayerNormCache]:
    """Normalise ``a`` over each block of its last axis, then scale and shift.

    Parameters
    ----------
    a : (..., G*H) array
    gain, bias : (G*H,) arrays, gain and bias
    num_groups : G, the number of blocks the last axis is split into

    Returns
    -------
    y : (..., G*H)
    cache : LayerNormCache
    """
    xp = xp_of(a)
    a_blocks = _blocks(a, num_groups)  # (..., G, H)
    mu = a_blocks.mean(axis=-1, keepdims=True)  # (1)
    centred = a_blocks - mu
    var = (centred * centred).mean(axis=-1, keepdims=True)  # (2)
    inv_std = 1.0 / xp.sqrt(var + eps)  # (3)
    a_hat = (centred * inv_std).reshape(a.shape)  # (4)
    return a_hat * gain + bias, LayerNormCache(a_hat, inv_std)  # (5)


def layer_norm_backward(
    dy: Any, cache: LayerNormCache, gain: Any, num_groups: int = 1
) -> tuple[Any, Any, Any]:
    """Undo :func:`layer_norm_forward`.

    Parameters
    ----------
    dy : (..., G*H) gradient on the output
    cache : LayerNormCache from forward
    gain : (G*H,) gain used in forward

    Returns
    -------
    da : (..., G*H)
    dgain, dbias : (G*H,), summed over every leading axis
    """
    a_hat, inv_std = cache
    dgain, dbias = layer_norm_param_grads(dy, a_hat)
    d_hat = _blocks(dy * gain, num_groups)  # (..., G, H)
    a_hat_blocks = _blocks(a_hat, num_groups)
    da = inv_std * (  # (1)-(4)
        d_hat
        - d_hat.mean(axis=-1, keepdims=True)
        - a_hat_blocks * (d_hat * a_hat_blocks).mean(axis=-1, keepdims=True)
    )
    return da.reshape(dy.shape), dgain, dbias


def layer_norm_param_grads(dy, a_hat):
    """(5) alone: dgain = Σ dy ⊙ â and dbias = Σ dy over every leading axis, each (G*H,)."""
    width = dy.shape[-1]
    return (dy * a_hat).reshape(-1, width).sum(axis=0), dy.reshape(-1, width).sum(axis=0)


def block_slice(cache, start, stop):
    """The cache of blocks ``start:stop`` alone (for a cell that normalises blocks apart)."""
    a_hat, inv_std = cache
    H = a_hat.shape[-1] // inv_std.shape[-2]
    return LayerNormCache(a_hat[..., start * H : stop * H], inv_std[..., start:stop, :])
