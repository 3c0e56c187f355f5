"""The options of the gated layers (LSTMLayer, GRULayer): ``layer_norm`` and ``zoneout``.

A mixin placed before ``_RecurrentLayer`` in the bases of LSTMLayer and GRULayer; every method
calls ``super()`` so the layer's own machinery (flat buffer, initialisation, config, forward)
stays in :mod:`rnnlab.layers`. What it adds:

- ``layer_norm=True``: the layer-norm gains and biases as extra named parameters in the flat
  buffer (gains start at 1, biases at 0), and the cells ``"lstm_ln"`` / ``"gru_ln"``.
- ``zoneout=p``: keep masks drawn every forward from ``zoneout_rng`` (training) or the constant
  p (eval), passed to the cells as their ``zoneout`` argument.

The math is in :mod:`rnnlab.cells.layer_norm`, ``lstm_ln``, ``gru_ln`` and ``carry``;
docs/sequences.md has the decisions.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .params import make_rng
from .zoneout import check_zoneout, keep_masks

__all__ = ["GatedOptions"]


class GatedOptions:
    """Mixin of LSTMLayer and GRULayer for the options below.

    Parameters
    ----------
    layer_norm : bool. Per-gate-block layer normalisation of W·x and U·h(t-1) (and, for the
        LSTM, of C before its tanh), with learned gains (init 1) and biases (init 0) as extra
        parameters ``ln_*``; equations in :mod:`rnnlab.cells.lstm_ln` / ``gru_ln``.
    zoneout : probability in [0, 1) (LSTM: also a pair (p_h, p_C)). In training mode each unit
        of h (and C) keeps its previous value with that probability, a fresh mask every forward;
        in evaluation mode the state is the expectation p·s(t-1) + (1-p)·s_new.
    zoneout_seed : int, numpy Generator or None. The masks come from ``self.zoneout_rng``, a
        Generator seeded from this, or when None from the initialisation generator (``seed``).
        Assign a fresh Generator to ``zoneout_rng`` to replay the same masks.
    """

    ln_param_names: tuple[str, ...] = ()  # set by the layer class, in the cells' ``ln`` order
    # Provided by _RecurrentLayer, which follows this mixin in every layer's bases.
    num_gates: int
    hidden_size: int
    has_cell_state: bool
    _w: dict[str, Any]

    def __init__(
        self,
        input_size,
        hidden_size,
        output_size=None,
        *,
        layer_norm=False,
        zoneout=0.0,
        zoneout_seed=None,
        **kwargs,
    ):
        if not isinstance(layer_norm, bool):
            raise TypeError(f"layer_norm: expected True or False, got {layer_norm!r}")
        self.layer_norm = layer_norm
        # Rates per state (h, then C for the LSTM); ``zoneout`` keeps the form it was given in.
        self._zoneout_rates = rates = check_zoneout(zoneout, 2 if self.has_cell_state else 1)
        self.zoneout = list(rates) if isinstance(zoneout, tuple | list) else rates[0]
        # An int seed is recorded in the config; a Generator cannot be, so it is recorded as None.
        self.zoneout_seed = zoneout_seed if isinstance(zoneout_seed, numbers.Integral) else None
        # None here: drawn from the initialisation generator in _initialize.
        self.zoneout_rng = None
        if zoneout_seed is not None:
            self.zoneout_rng = make_rng(zoneout_seed, "zoneout_seed")
        super().__init__(input_size, hidden_size, output_size, **kwargs)

    def _norm_shapes(self) -> dict:
        if not self.layer_norm:
            return {}
        G, H = self.num_gates, self.hidden_size
        sizes = (G * H,) * 4 + (H,) * (len(self.ln_param_names) - 4)
        return {name: (size,) for name, size in zip(self.ln_param_names, sizes, strict=True)}

    def _extra_shapes(self):
        return super()._extra_shapes() | self._norm_shapes()

    def _initialize(self, rng, input_init):
        super()._initialize(rng, input_init)
        for name in self._norm_shapes():
            if name.endswith("_gain"):
                self._w[name][...] = 1.0
        if self.zoneout_rng is None and any(self._zoneout_rates):
            # Drawn after the weights, so that the weights do not depend on the zoneout option.
            self.zoneout_rng = np.random.default_rng(rng.integers(2**63))

    def get_config(self):
        return super().get_config() | {
            "layer_norm": self.layer_norm,
            "zoneout": list(self.zoneout) if isinstance(self.zoneout, list) else self.zoneout,
            "zoneout_seed": None if self.zoneout_seed is None else int(self.zoneout_seed),
        }

    def _kernel_cell(self):
        return f"{self.cell}_ln" if self.layer_norm else self.cell

    def _norm_args(self) -> tuple:
        """() or (ln,), the tuple of layer-norm parameters the LN cells take after b."""
        if not self.layer_norm:
            return ()
        return (tuple(self._w[name] for name in self.ln_param_names),)

    def _grad_names(self):
        return super()._grad_names() + (self.ln_param_names if self.layer_norm else ())

    def _cell_options(self, lengths, x):
        options = super()._cell_options(lengths, x)
        if any(self._zoneout_rates):
            num_steps, batch_size = x.shape[:2]
            shape = (num_steps, batch_size, self.hidden_size)
            rates, training = self._zoneout_rates, self.training
            masks = keep_masks(self.zoneout_rng, rates, shape, self.dtype, x, training)
            options["zoneout"] = masks if self.has_cell_state else masks[0]
        return options
