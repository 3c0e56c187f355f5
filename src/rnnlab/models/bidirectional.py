"""Bidirectional recurrent layers (Schuster & Paliwal 1997) and time reversal of padded batches.

A bidirectional layer reads the sequence twice, once forward and once backward in time, with
two layers of the same configuration and separate parameters, and concatenates the hidden
states at every step::

    h_fwd(t) = layer_fwd(x(1..t))          reads x(1), ..., x(t)
    h_rev(t) = layer_rev(x(T..t))          reads x(T), ..., x(t)
    y(t) = [h_fwd(t), h_rev(t)]            (T, B, 2H)

``layer_rev`` runs on the time-reversed input and its output is reversed back. In a padded
batch "reversed" means each sequence's valid prefix reversed in place (:func:`reverse_padded`),
so that the backward direction starts at each sequence's own last step, not at padding.
"""

from __future__ import annotations

import hashlib
import numbers
from typing import Any, Self, cast

import numpy as np

from .. import guards
from ..backend import to_device, xp_of
from ..layer_options import GatedOptions
from ..masks import check_lengths, lengths_to_mask
from ..masks import reverse_padded as masks_reverse_padded
from ..recurrent import _RecurrentLayer
from ..registry import build, describe, register
from ..validation import from_layout, normalize_input, steps_to_layout, to_layout
from .base import Module

__all__ = ["Bidirectional", "batch_lengths", "reverse_padded", "valid_mask"]


def batch_lengths(lengths, batch_size: int, num_steps: int, single: bool = False):
    """:func:`rnnlab.masks.check_lengths`: B ints in 1..T (a plain int for one sequence)."""
    return check_lengths(lengths, batch_size, num_steps, single=single)


def valid_mask(lengths, num_steps: int, xp=np):
    """``valid[t, b] = t < lengths[b]``: (T, B) booleans in namespace ``xp``."""
    return lengths_to_mask(xp.asarray(lengths), num_steps)


def reverse_padded(x: Any, lengths: Any = None, *, batch_first: bool = False) -> Any:
    """Reverse each sequence's first ``lengths[b]`` steps in time; padded steps stay in place.

    :func:`rnnlab.masks.reverse_padded` with the two cases a bidirectional layer also needs:
    no lengths (a plain reversal of all T steps) and batch-first arrays.

    Parameters
    ----------
    x : array (T, B, ...) — (B, T, ...) with ``batch_first``.
    lengths : None (reverse all T steps) or B integers in 1..T.

    Returns
    -------
    An array of x's shape: ``out[t, b] = x[lengths[b] - 1 - t, b]`` for ``t < lengths[b]`` and
    ``out[t, b] = x[t, b]`` otherwise. The map is its own inverse, so the same call undoes it
    (which is how a bidirectional layer's backward direction returns to the original order).
    """
    if getattr(x, "ndim", 0) < 2:
        raise ValueError(
            "x: expected at least 2 dimensions, (T, B, ...) or (B, T, ...) with batch_first, "
            f"got shape {tuple(getattr(x, 'shape', ()))}"
        )
    time_axis = 1 if batch_first else 0
    if lengths is None:
        return xp_of(x).flip(x, axis=time_axis)
    if not batch_first:
        return masks_reverse_padded(x, lengths)
    return masks_reverse_padded(x.swapaxes(0, 1), lengths).swapaxes(0, 1)


def _derived_seed(layer) -> int:
    """A seed for the reverse copy, fixed by the forward layer's parameter values."""
    digest = hashlib.sha256()
    for value in layer.params.values():
        digest.update(np.ascontiguousarray(to_device(value, "cpu")).tobytes())
    return int.from_bytes(digest.digest()[:8], "little") >> 1


def _add_batch_axis(state, single):
    """A single sequence's state (H,) (or a tuple of them) as the (1, H) a layer expects."""
    if not single or state is None:
        return state
    if isinstance(state, tuple | list):
        return tuple(_add_batch_axis(s, single) for s in state)
    arr = xp_of(state).asarray(state)
    return arr[None] if arr.ndim == 1 else arr


def _drop_batch_axis(state, single):
    if not single or state is None:
        return state
    if isinstance(state, tuple):
        return tuple(_drop_batch_axis(s, single) for s in state)
    return state[0]


def _pair(name, value):
    if value is None:
        return None, None
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise TypeError(
            f"{name}: expected a pair (forward direction, reverse direction) for Bidirectional, "
            f"got {type(value).__name__}"
        )
    return value


@register
class Bidirectional(Module):
    """Run a recurrent layer forward and backward in time and concatenate: y (T, B, 2H).

    Parameters
    ----------
    layer : RNNLayer, LSTMLayer or GRULayer without an output head. Its parameters are copied
        into the forward direction; the reverse direction is a new layer of the same
        configuration with its own parameters.
    seed : int, Generator or None for the reverse direction's initialisation. None derives a
        seed from the forward layer's parameters, so a seeded layer gives a reproducible pair.

    Notes
    -----
    ``batch_first`` is the wrapped layer's. States and state gradients are pairs
    ``(forward, reverse)``, each in the wrapped layer's format (h, or (h, C) for LSTM).
    ``params`` keys: ``"forward.W_f"``, ``"reverse.W_f"``, ...
    """

    is_recurrent = True

    def __init__(
        self, layer: _RecurrentLayer, *, seed: int | np.random.Generator | None = None
    ) -> None:
        if not isinstance(layer, _RecurrentLayer):
            raise TypeError(
                f"layer: expected an RNNLayer, LSTMLayer or GRULayer, got {type(layer).__name__}"
            )
        if layer.output_size is not None:
            raise ValueError(
                f"layer: expected a layer without an output head (output_size=None), got "
                f"output_size={layer.output_size}; put a Dense(2 * hidden_size, ...) after "
                "the Bidirectional layer instead"
            )
        if seed is not None and not isinstance(seed, numbers.Integral | np.random.Generator):
            raise TypeError(f"seed: expected None, an integer or a numpy Generator, got {seed!r}")
        self.layer_config = layer.get_config()
        self.batch_first = layer.batch_first
        # Children always see time-major input: this wrapper owns the user's layout.
        inner = self.layer_config | {"batch_first": False}
        cls = type(layer)
        self.forward_layer = cls(**inner, seed=0)
        for key, value in layer.params.items():
            self.forward_layer.params[key] = to_device(value, "cpu")
        zoneout_rng = getattr(layer, "zoneout_rng", None)  # only the gated layers have one
        if zoneout_rng is not None:
            # same random stream as the layer; forward_layer is of layer's (gated) class
            cast(GatedOptions, self.forward_layer).zoneout_rng = zoneout_rng
        self.reverse_layer = cls(**inner, seed=_derived_seed(layer) if seed is None else seed)
        self.input_size = layer.input_size
        self.hidden_size = layer.hidden_size
        self.in_features = layer.input_size
        self.out_features = 2 * layer.hidden_size
        self.dtype = layer.dtype
        self.has_cell_state = layer.has_cell_state
        self.train(layer.training)
        self._cache = None
        if layer.device != "cpu":
            self.to(layer.device)

    def children(self) -> list[tuple[str, Any]]:
        return [("forward", self.forward_layer), ("reverse", self.reverse_layer)]

    def get_config(self) -> dict:
        return {"layer": {"class": type(self.forward_layer).__name__, "config": self.layer_config}}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Self:
        return cls(build(config["layer"]))

    def __repr__(self) -> str:
        return f"Bidirectional({describe(self.forward_layer)['class']}({self.layer_config}))"

    def _forget(self):
        self._cache = None

    # ------------------------------------------------------------ forward / backward
    @guards.forward_guard
    def forward(self, x: Any, state: Any = None, lengths: Any = None) -> Any:
        """x (T, B, I) (or (B, T, I), (T, I), a list of steps) -> y (T, B, 2H) in x's layout.

        ``state`` is None or ``(state_forward, state_reverse)``; ``lengths`` (B,) marks padded
        batches and is passed to both directions.
        """
        x_tm, layout = normalize_input(
            x, self.input_size, self.dtype, self.device, self.batch_first
        )
        state_f, state_r = _pair("state", state)
        single = layout.single
        if lengths is not None:
            lengths = batch_lengths(lengths, x_tm.shape[1], x_tm.shape[0], single)
        extra = {} if lengths is None else {"lengths": lengths}
        y_f = self.forward_layer.forward(x_tm, _add_batch_axis(state_f, single), **extra)
        x_rev = reverse_padded(x_tm, lengths)
        y_r = self.reverse_layer.forward(x_rev, _add_batch_axis(state_r, single), **extra)
        y = xp_of(y_f).concatenate([y_f, reverse_padded(y_r, lengths)], axis=-1)  # (T, B, 2H)
        self._cache = (layout, lengths, x_tm.shape[0], x_tm.shape[1])
        self.grad_initial_state: tuple | None = None
        return to_layout(y, layout)

    @guards.backward_guard
    def backward(self, dy: Any, d_final_state: Any = None) -> Any:
        """Split dy into the two directions, run each one's BPTT, and add their dx."""
        layout, lengths, num_steps, batch_size = self._require_forward()
        H = self.hidden_size
        dy_tm = from_layout(
            "dy", dy, layout, num_steps, batch_size, 2 * H, self.dtype, self.device,
            "the forward output",
        )  # fmt: skip
        xp = xp_of(dy_tm)
        d_f, d_r = _pair("d_final_state", d_final_state)
        single = layout.single
        dx_f = self.forward_layer.backward(
            xp.ascontiguousarray(dy_tm[..., :H]), _add_batch_axis(d_f, single)
        )
        dy_r = reverse_padded(xp.ascontiguousarray(dy_tm[..., H:]), lengths)
        dx_r = self.reverse_layer.backward(dy_r, _add_batch_axis(d_r, single))
        dx = dx_f + reverse_padded(dx_r, lengths)  # (T, B, I)
        self.grad_initial_state = tuple(
            _drop_batch_axis(layer.grad_initial_state, single)
            for layer in (self.forward_layer, self.reverse_layer)
        )
        return steps_to_layout(dx, layout)

    @property
    def final_state(self) -> tuple[Any, ...]:
        """(forward direction's h(T), reverse direction's h at t=1); LSTM: (h, C) pairs."""
        layout = self._require_forward("final_state")[0]
        return tuple(
            _drop_batch_axis(layer.final_state, layout.single)
            for layer in (self.forward_layer, self.reverse_layer)
        )
