"""The three recurrent layers of the guide: RNNLayer, LSTMLayer and GRULayer.

Each class names its cell (the reference math is in :mod:`rnnlab.cells`), its gates and its
state; the shared machinery (parameters, validation, caches, dispatch to the kernels) is in
:mod:`rnnlab.recurrent`, and the gated layers' options (layer norm, zoneout) in
:mod:`rnnlab.layer_options`.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from .cells.gru_ln import LN_PARAM_NAMES as GRU_LN_NAMES
from .cells.lstm_ln import LN_PARAM_NAMES as LSTM_LN_NAMES
from .layer_options import GatedOptions
from .params import ParamDict, _make_rng
from .recurrent import ForwardRequiredError, _RecurrentLayer
from .registry import register
from .validation import check_state

__all__ = ["ForwardRequiredError", "GRULayer", "LSTMLayer", "ParamDict", "RNNLayer"]

# Re-exported for the modules and users that imported them from here.
_ = (_make_rng, _RecurrentLayer)


@register
class RNNLayer(_RecurrentLayer):
    """Vanilla RNN layer: h(t) = tanh(W_xh · x(t) + W_hh · h(t-1) + b_h), y(t) = W_hy · h(t) + b_y.

    Parameters
    ----------
    input_size, hidden_size : positive int
    output_size : positive int or None; None returns the hidden states (no output head).
    dtype : float32 (default) or float64.
    seed : int, numpy Generator or None; makes initialisation reproducible.
    batch_first : bool; x is (B, T, I) instead of (T, B, I).
    init : "xavier" (default) or "he" for the input and output weights.
    recurrent_init : "orthogonal" (default), "xavier" or "he" for the recurrent weights U.
    """

    cell = "rnn"
    gate_letters = ("h",)

    def _named_views(self, stacked):
        views = {"W_xh": stacked["W"], "W_hh": stacked["U"], "b_h": stacked["b"]}
        views.update({k: v for k, v in stacked.items() if k not in ("W", "U", "b")})
        return views

    def _run_forward(self, impl, x, h0, **options):
        return impl.forward(x, h0, self._w["W"], self._w["U"], self._w["b"], **options)

    def _run_backward(self, impl, dh, dh_final, **options):
        return impl.backward(dh, dh_final, self._cache, self._w["W"], self._w["U"], **options)


@register
class LSTMLayer(GatedOptions, _RecurrentLayer):
    """LSTM layer; the guide's equations are in :mod:`rnnlab.cells.lstm`.

    Takes RNNLayer's arguments plus ``forget_bias`` (initial value of b_f; 1.0 is a common
    choice that keeps early memories, Jozefowicz et al. 2015), ``layer_norm``, ``zoneout``
    (one rate for h and C, or a pair (p_h, p_C)) and ``zoneout_seed``:

    - ``layer_norm=True``: per-gate-block layer norm of W·x and U·h(t-1) and of C before its
      tanh (:mod:`rnnlab.cells.lstm_ln`), extra parameters ``ln_x_gain`` ... ``ln_C_bias``;
    - ``zoneout=p``: in training each unit of h and C keeps its previous value with probability
      p (masks from ``zoneout_rng``, seeded by ``zoneout_seed`` or ``seed``); in eval the
      expectation. See docs/sequences.md.
    State is a tuple (h, C).
    """

    cell = "lstm"
    gate_letters = ("f", "i", "c", "o")
    has_cell_state = True
    ln_param_names = LSTM_LN_NAMES

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int | None = None,
        *,
        forget_bias: float = 0.0,
        dtype: DTypeLike = np.float32,
        seed: int | np.random.Generator | None = None,
        batch_first: bool = False,
        init: str = "xavier",
        backend: str = "auto",
        recurrent_init: str = "orthogonal",
        layer_norm: bool = False,
        zoneout: float | tuple[float, float] | list[float] = 0.0,
        zoneout_seed: int | np.random.Generator | None = None,
    ) -> None:
        # float | Real tests what Real alone does (a float is one) but lets mypy see float.
        if isinstance(forget_bias, bool) or not isinstance(forget_bias, float | numbers.Real):
            raise TypeError(f"forget_bias: expected a real number, got {forget_bias!r}")
        if not np.isfinite(forget_bias):
            raise ValueError(f"forget_bias: expected a finite number, got {forget_bias}")
        self.forget_bias = float(forget_bias)
        super().__init__(
            input_size,
            hidden_size,
            output_size,
            dtype=dtype,
            seed=seed,
            batch_first=batch_first,
            init=init,
            backend=backend,
            recurrent_init=recurrent_init,
            layer_norm=layer_norm,
            zoneout=zoneout,
            zoneout_seed=zoneout_seed,
        )

    def _initialize(self, rng, input_init):
        super()._initialize(rng, input_init)
        self._w["b"][: self.hidden_size] = self.forget_bias

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"forget_bias": self.forget_bias}

    def _run_forward(self, impl, x, state, **options):
        h0, C0 = state
        w = self._w
        return impl.forward(x, h0, C0, w["W"], w["U"], w["b"], *self._norm_args(), **options)

    def _run_backward(self, impl, dh, final, **options):
        dh_final, dC_final = final
        dx, dh0, dC0, grads = impl.backward(
            dh,
            dh_final,
            dC_final,
            self._cache,
            self._w["W"],
            self._w["U"],
            *self._norm_args(),
            **options,
        )
        return dx, (dh0, dC0), grads

    def _check_initial_state(self, state, batch_size, single):
        if state is None:
            return self._zeros_state(batch_size), self._zeros_state(batch_size)
        if not isinstance(state, tuple | list) or len(state) != 2:
            raise TypeError(
                f"state: expected a tuple (h0, c0) for LSTMLayer, got {type(state).__name__}"
            )
        return tuple(
            check_state(name, s, batch_size, self.hidden_size, self.dtype, self.device, single)
            for name, s in zip(("h0", "c0"), state, strict=True)
        )

    def _check_final_gradient(self, grad, batch_size, single):
        if grad is None:
            return None, None
        if not isinstance(grad, tuple | list) or len(grad) != 2:
            raise TypeError(
                "d_final_state: expected a tuple (dh, dC) for LSTMLayer (either may be None), "
                f"got {type(grad).__name__}"
            )
        return tuple(
            None
            if g is None
            else check_state(name, g, batch_size, self.hidden_size, self.dtype, self.device, single)
            for name, g in zip(("d_final_state[0]", "d_final_state[1]"), grad, strict=True)
        )

    def _state_to_layout(self, state, single):
        return tuple(s[0] if single else s for s in state)

    @property
    def final_state(self) -> tuple[Any, Any]:
        """(h(T), C(T)), each (B, H) ((H,) for a single sequence)."""
        cache = self._require_forward("final_state")
        return self._state_to_layout((cache.h[-1], cache.C[-1]), self._layout.single)

    @property
    def cell_states(self) -> Any:
        """C(t) for every step, (T, B, H) ((T, H) for a single sequence); carried through padded
        steps, so ``[-1]`` is each sequence's final C."""
        C = self._require_forward("cell_states").C
        return C[:, 0] if self._layout.single else C

    def get_cell_states(self) -> Any:
        """The guide's ``getCellStates()``: ``get_cell_states()[-1]`` is the final C."""
        return self.cell_states


@register
class GRULayer(GatedOptions, _RecurrentLayer):
    """GRU layer; the equations of both forms are in :mod:`rnnlab.cells.gru`.

    ``reset_after=False`` (default) is the guide's and Cho et al.'s candidate
    h̃ = tanh(W_h x + U_h (r ⊙ h(t-1)) + b_h). ``reset_after=True`` is the cuDNN/PyTorch form
    h̃ = tanh(W_h x + b_h + r ⊙ (U_h h(t-1) + b_hn)), with the extra bias ``b_hn``.
    ``layer_norm=True``: per-gate-block layer norm of W·x and of the recurrent products
    (:mod:`rnnlab.cells.gru_ln`); ``zoneout=p``: each unit of h keeps its previous value with
    probability p in training (masks from ``zoneout_rng``, seeded by ``zoneout_seed`` or
    ``seed``), the expectation in eval. See docs/sequences.md.
    """

    cell = "gru"
    gate_letters = ("z", "r", "h")
    ln_param_names = GRU_LN_NAMES

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int | None = None,
        *,
        reset_after: bool = False,
        dtype: DTypeLike = np.float32,
        seed: int | np.random.Generator | None = None,
        batch_first: bool = False,
        init: str = "xavier",
        backend: str = "auto",
        recurrent_init: str = "orthogonal",
        layer_norm: bool = False,
        zoneout: float | tuple[float, float] | list[float] = 0.0,
        zoneout_seed: int | np.random.Generator | None = None,
    ) -> None:
        if not isinstance(reset_after, bool):
            raise TypeError(f"reset_after: expected True or False, got {reset_after!r}")
        self.reset_after = reset_after
        super().__init__(
            input_size,
            hidden_size,
            output_size,
            dtype=dtype,
            seed=seed,
            batch_first=batch_first,
            init=init,
            backend=backend,
            recurrent_init=recurrent_init,
            layer_norm=layer_norm,
            zoneout=zoneout,
            zoneout_seed=zoneout_seed,
        )

    def _extra_shapes(self):
        b_hn = {"b_hn": (self.hidden_size,)} if self.reset_after else {}
        return b_hn | super()._extra_shapes()  # then the layer-norm parameters, if any

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"reset_after": self.reset_after}

    def _grad_names(self):
        b_hn = ("b_hn",) if self.reset_after else ()
        return ("W", "U", "b", *b_hn) + (self.ln_param_names if self.layer_norm else ())

    def _run_forward(self, impl, x, h0, **options):
        w = self._w
        return impl.forward(
            x, h0, w["W"], w["U"], w["b"], w.get("b_hn"), *self._norm_args(), **options
        )

    def _run_backward(self, impl, dh, dh_final, **options):
        return impl.backward(
            dh,
            dh_final,
            self._cache,
            self._w["W"],
            self._w["U"],
            *self._norm_args(),
            self.reset_after,
            **options,
        )
