"""Deep recurrent networks: ``num_layers`` stacked layers, optionally bidirectional.

Layer l reads layer l-1's hidden states (after inter-layer dropout in training mode), as in
PyTorch's ``nn.LSTM(num_layers=...)``::

    h⁰(t) = x(t)
    hˡ(t) = cell(W^l · dropout(hˡ⁻¹(t)) + U^l · hˡ(t-1) + b^l)      l = 1 .. num_layers
    y(t) = W_hy · h^L(t) + b_y                                         only with output_size

The cell math is the layers' (:mod:`rnnlab.layers`): a stack only wires them. States follow
PyTorch's layout: h0 and the final h are (num_layers * num_directions, B, H), entry
``l * num_directions + d`` for layer l, direction d (0 forward, 1 reverse); LSTM states are
pairs (h, C) of such arrays.
"""

from __future__ import annotations

import numbers
from typing import Any, Self

import numpy as np
from numpy.typing import DTypeLike

from .. import guards
from ..backend import xp_of
from ..layers import GRULayer, LSTMLayer, RNNLayer
from ..registry import register
from ..validation import (
    as_float_array,
    check_size,
    from_layout,
    normalize_input,
    steps_to_layout,
    to_layout,
)
from .base import Module, make_rng, spawn_seeds
from .basic import Dense, Dropout
from .bidirectional import Bidirectional, batch_lengths, valid_mask

__all__ = ["GRU", "LSTM", "RNN"]

# Keys of a layer's config that the stack sets itself; anything else is a cell option.
_STACK_KEYS = (
    "input_size",
    "hidden_size",
    "output_size",
    "dtype",
    "batch_first",
    "init",
    "backend",
)


class _Stack(Module):
    layer_class: type = RNNLayer
    is_recurrent = True

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        *,
        bidirectional=False,
        dropout=0.0,
        output_size=None,
        batch_first=False,
        dtype=np.float32,
        seed=None,
        init="xavier",
        backend="auto",
        **layer_options,
    ):
        self.num_layers = check_size("num_layers", num_layers)
        for name, flag in (("bidirectional", bidirectional), ("batch_first", batch_first)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name}: expected True or False, got {flag!r}")
        self.bidirectional, self.batch_first = bidirectional, batch_first
        self.num_directions = 2 if bidirectional else 1
        seeds = spawn_seeds(make_rng(seed), 2 * self.num_layers + 2)
        common = {"dtype": dtype, "init": init, "backend": backend, **layer_options}
        self.layers = []
        for l in range(self.num_layers):
            layer_input = input_size if l == 0 else self.num_directions * hidden_size
            layer = self._build_layer(layer_input, hidden_size, seeds[2 * l], common)
            if bidirectional:
                layer = Bidirectional(layer, seed=seeds[2 * l + 1])
            self.layers.append(layer)
        first = self.layers[0].forward_layer if bidirectional else self.layers[0]
        self.input_size, self.hidden_size = first.input_size, first.hidden_size
        self.dtype, self.init, self.backend = first.dtype, first.init, first.backend
        self.layer_options = {k: v for k, v in first.get_config().items() if k not in _STACK_KEYS}
        self.has_cell_state = first.has_cell_state
        dropout_rng = make_rng(seeds[-2])  # one Generator, drawn from in layer order
        self.dropout = _check_dropout(dropout)
        self.dropouts = [Dropout(self.dropout, seed=dropout_rng) for _ in self.layers[1:]]
        self.output_size = check_size("output_size", output_size, allow_none=True)
        features = self.num_directions * self.hidden_size
        self.head = None
        if self.output_size is not None:
            self.head = Dense(features, self.output_size, dtype=dtype, seed=seeds[-1], init=init)
        self.in_features = self.input_size
        self.out_features = self.output_size or features
        self._cache = None
        self.grad_initial_state = None

    def _build_layer(self, input_size, hidden_size, seed, options):
        try:
            return self.layer_class(input_size, hidden_size, seed=seed, **options)
        except TypeError as exc:
            if "unexpected keyword" not in str(exc):
                raise
            raise TypeError(
                f"{type(self).__name__}: every option beyond the stack's own is passed to "
                f"{self.layer_class.__name__}, which rejected it: {exc}"
            ) from exc

    # ------------------------------------------------------------ structure
    def children(self) -> list[tuple[str, Any]]:
        return [(str(l), layer) for l, layer in enumerate(self.layers)]

    def _head_views(self, attribute):
        # The head is the guide's output layer: W_hy, b_y, as on a single layer.
        if self.head is None:
            return {}
        views = getattr(self.head, attribute)
        return {"W_hy": views["W"], "b_y": views["b"]}

    def _leaf_params(self):
        return self._head_views("params")

    def _leaf_grads(self):
        return self._head_views("grads")

    def _own_generators(self):
        return {f"dropout.{l}": dropout.rng for l, dropout in enumerate(self.dropouts)}

    def to(self, device: str) -> Self:
        super().to(device)
        for module in [self.head, *self.dropouts]:
            if module is not None:
                module.to(device)
        return self

    def train(self, mode: bool = True) -> Self:
        super().train(mode)
        for dropout in self.dropouts:
            dropout.train(mode)
        return self

    def get_config(self) -> dict:
        return {
            "input_size": self.input_size,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "bidirectional": self.bidirectional,
            "dropout": self.dropout,
            "output_size": self.output_size,
            "batch_first": self.batch_first,
            "dtype": self.dtype.name,
            "init": self.init,
            "backend": self.backend,
            **self.layer_options,
        }

    # ------------------------------------------------------------ states
    def _state_names(self):
        return ("h0", "c0") if self.has_cell_state else ("h0",)

    def _split_state(self, name, value, batch_size, single, allow_none_parts=False):
        """A PyTorch-shaped state (or its gradient) -> one state per layer, in layer format."""
        if value is None:
            return [None] * self.num_layers
        names = self._state_names()
        if self.has_cell_state:
            if not isinstance(value, tuple | list) or len(value) != 2:
                raise TypeError(
                    f"{name}: expected a tuple (h, c) of arrays "
                    f"({self.num_layers * self.num_directions}, B, {self.hidden_size}) for "
                    f"{type(self).__name__}, got {type(value).__name__}"
                )
            parts = list(value)
        else:
            parts = [value]
        arrays = []
        for part_name, part in zip(names, parts, strict=True):
            if part is None and allow_none_parts:
                arrays.append(None)
                continue
            arrays.append(self._check_stacked(f"{name}[{part_name}]", part, batch_size, single))
        per_direction = []
        for k in range(self.num_layers * self.num_directions):
            entries = tuple(None if a is None else a[k] for a in arrays)
            per_direction.append(entries if self.has_cell_state else entries[0])
        if self.bidirectional:
            return [tuple(per_direction[2 * l : 2 * l + 2]) for l in range(self.num_layers)]
        return per_direction

    def _check_stacked(self, name, value, batch_size, single):
        """(L*D, B, H), or (L*D, H) for a single sequence; returns (L*D, B, H)."""
        arr = as_float_array(name, value, self.dtype, self.device)
        LD, H = self.num_layers * self.num_directions, self.hidden_size
        if single and arr.shape == (LD, H):
            return arr[:, None, :]
        if arr.shape != (LD, batch_size, H):
            expected = f"({LD}, {batch_size}, {H}) (num_layers * num_directions, batch, hidden)"
            if single:
                expected += f" or ({LD}, {H})"
            raise ValueError(f"{name}: expected shape {expected}, got {tuple(arr.shape)}")
        return arr

    def _stack_states(self, per_layer, single):
        """One state per layer (layer format) -> PyTorch-shaped arrays."""
        per_direction = []
        for state in per_layer:
            per_direction.extend(state if self.bidirectional else [state])
        xp = xp_of(per_direction[0][0] if self.has_cell_state else per_direction[0])
        parts = zip(*per_direction, strict=True) if self.has_cell_state else [per_direction]
        stacked = tuple(xp.stack(list(part)) for part in parts)  # each (L*D, B, H)
        if single:
            stacked = tuple(a[:, 0] for a in stacked)
        return stacked if self.has_cell_state else stacked[0]

    @property
    def final_state(self) -> Any:
        """h_n (L*D, B, H) — for LSTM (h_n, c_n) — as PyTorch returns it."""
        layout = self._require_forward("final_state")
        return self._stack_states([layer.final_state for layer in self.layers], layout.single)

    # ------------------------------------------------------------ forward / backward
    @guards.forward_guard
    def forward(self, x: Any, state: Any = None, lengths: Any = None) -> Any:
        """Run all layers over x.

        Parameters
        ----------
        x : (T, B, I), (B, T, I) with ``batch_first``, (T, I), or a list of T steps.
        state : None (zeros) or the initial state in PyTorch's layout, h0
            (num_layers * num_directions, B, H); for LSTM a tuple (h0, c0).
        lengths : None, or B valid lengths of a padded batch (passed to every layer).

        Returns
        -------
        y : (T, B, num_directions * H), or (T, B, output_size) with a head; in x's layout.
        The final state is :attr:`final_state`.
        """
        x_tm, layout = normalize_input(
            x, self.input_size, self.dtype, self.device, self.batch_first
        )
        batch_size = x_tm.shape[1]
        states = self._split_state("state", state, batch_size, layout.single)
        num_steps = x_tm.shape[0]
        self._valid = None
        extra = {}
        if lengths is not None:
            extra["lengths"] = batch_lengths(lengths, batch_size, num_steps, layout.single)
            self._valid = valid_mask(extra["lengths"], num_steps, xp_of(x_tm))[:, :, None]
        h = x_tm  # (T, B, I)
        for l, layer in enumerate(self.layers):
            if l > 0:
                h = self.dropouts[l - 1].forward(h)
            h = layer.forward(h, states[l], **extra)  # (T, B, D*H)
        y = h
        if self.head is not None:
            y = self.head.forward(h)
            if self._valid is not None:
                y = y * self._valid  # padded steps output zero, head bias included (as a layer)
        self._cache = layout
        self._shape = (x_tm.shape[0], batch_size)
        self.grad_initial_state = None
        return to_layout(y, layout)

    @guards.backward_guard
    def backward(self, dy: Any, d_final_state: Any = None) -> Any:
        """BPTT through every layer, last to first; accumulates into ``grads``; returns dx.

        ``d_final_state`` is None or the gradient on :attr:`final_state`, same layout (for
        LSTM a tuple (dh_n, dc_n), either of which may be None). Afterwards
        ``grad_initial_state`` holds the gradient on the initial state, in the same layout.
        """
        layout = self._require_forward()
        num_steps, batch_size = self._shape
        dy_tm = from_layout(
            "dy", dy, layout, num_steps, batch_size, self.out_features, self.dtype, self.device,
            "the forward output",
        )  # fmt: skip
        d_finals = self._split_state(
            "d_final_state", d_final_state, batch_size, layout.single, allow_none_parts=True
        )
        if self._valid is not None:
            dy_tm = dy_tm * self._valid  # padded outputs are constants: their dy is ignored
        dh = dy_tm if self.head is None else self.head.backward(dy_tm)
        for l in reversed(range(self.num_layers)):
            dh = self.layers[l].backward(dh, d_finals[l])
            if l > 0:
                dh = self.dropouts[l - 1].backward(dh)
        self.grad_initial_state = self._stack_states(
            [layer.grad_initial_state for layer in self.layers], layout.single
        )
        return steps_to_layout(dh, layout)


def _check_dropout(p):
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"dropout: expected a probability in [0, 1), got {p!r}")
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout: expected a probability in [0, 1), got {p}")
    return float(p)


@register
class RNN(_Stack):
    """Stacked vanilla RNN (tanh); every argument but ``num_layers``, ``bidirectional`` and
    ``dropout`` (between layers, training only) is passed to each RNNLayer. Parameter keys:
    ``"0.W_xh"``, ``"1.forward.W_hh"`` (bidirectional), ``"W_hy"``.
    """

    layer_class = RNNLayer

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        bidirectional: bool = False,
        dropout: float = 0.0,
        output_size: int | None = None,
        batch_first: bool = False,
        dtype: DTypeLike = np.float32,
        seed: int | np.random.Generator | None = None,
        init: str = "xavier",
        backend: str = "auto",
        recurrent_init: str = "orthogonal",
    ) -> None:
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bidirectional=bidirectional,
            dropout=dropout,
            output_size=output_size,
            batch_first=batch_first,
            dtype=dtype,
            seed=seed,
            init=init,
            backend=backend,
            recurrent_init=recurrent_init,
        )


@register
class LSTM(_Stack):
    """Stacked LSTM; RNN's arguments plus LSTMLayer's options (forget_bias, layer_norm, zoneout).
    States are tuples (h, C) of (num_layers * num_directions, B, H) arrays."""

    layer_class = LSTMLayer

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        bidirectional: bool = False,
        dropout: float = 0.0,
        output_size: int | None = None,
        batch_first: bool = False,
        dtype: DTypeLike = np.float32,
        seed: int | np.random.Generator | None = None,
        init: str = "xavier",
        backend: str = "auto",
        recurrent_init: str = "orthogonal",
        forget_bias: float = 0.0,
        layer_norm: bool = False,
        zoneout: float | tuple[float, float] | list[float] = 0.0,
        zoneout_seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bidirectional=bidirectional,
            dropout=dropout,
            output_size=output_size,
            batch_first=batch_first,
            dtype=dtype,
            seed=seed,
            init=init,
            backend=backend,
            recurrent_init=recurrent_init,
            forget_bias=forget_bias,
            layer_norm=layer_norm,
            zoneout=zoneout,
            zoneout_seed=zoneout_seed,
        )


@register
class GRU(_Stack):
    """Stacked GRU; RNN's arguments plus ``reset_after`` (False: the guide's GRU, the default of
    GRULayer; True: PyTorch's nn.GRU) and GRULayer's options (layer_norm, zoneout)."""

    layer_class = GRULayer

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        bidirectional: bool = False,
        dropout: float = 0.0,
        output_size: int | None = None,
        batch_first: bool = False,
        dtype: DTypeLike = np.float32,
        seed: int | np.random.Generator | None = None,
        init: str = "xavier",
        backend: str = "auto",
        recurrent_init: str = "orthogonal",
        reset_after: bool = False,
        layer_norm: bool = False,
        zoneout: float | tuple[float, float] | list[float] = 0.0,
        zoneout_seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bidirectional=bidirectional,
            dropout=dropout,
            output_size=output_size,
            batch_first=batch_first,
            dtype=dtype,
            seed=seed,
            init=init,
            backend=backend,
            recurrent_init=recurrent_init,
            reset_after=reset_after,
            layer_norm=layer_norm,
            zoneout=zoneout,
            zoneout_seed=zoneout_seed,
        )
