"""Sequential: modules applied one after another, with one forward, backward, params and grads.

Layout rule: arrays pass between modules unchanged, so every recurrent child must agree on
``batch_first`` (checked at construction); that value is the Sequential's ``batch_first``.
Dense, Embedding, Dropout and the activations act on the last axis or elementwise and work in
either layout. Recurrent children pass their hidden-state sequence (their output) along: (T, B, H)
time-major, (B, T, H) batch-first, (T, H) for one sequence.
"""

from __future__ import annotations

import inspect
from typing import Any, Self

import numpy as np

from .. import guards
from ..backend import xp_of
from ..registry import build, describe, register
from .base import (
    Module,
    check_gradient,
    format_summary,
    input_features,
    is_recurrent,
    output_features,
)
from .basic import _float_dtype
from .bidirectional import batch_lengths, valid_mask

__all__ = ["Sequential"]

_PROTOCOL = ("forward", "backward", "params", "grads", "get_config", "zero_grad")


def _device_of(array) -> str:
    return "cpu" if xp_of(array) is np else "cuda"


def _name(index, module) -> str:
    return f"modules[{index}] ({type(module).__name__})"


def _check_chain(modules):
    """Features must match between neighbours: caught here, not at the first forward."""
    features, source = None, None
    for index, module in enumerate(modules):
        need = input_features(module)
        if need == "ids" and index != 0:
            raise ValueError(
                f"{_name(index, module)}: takes integer token ids, so it must be the first "
                f"module; got it at position {index}"
            )
        if need not in (None, "ids") and features is not None and need != features:
            raise ValueError(
                f"{_name(index, module)}: expects {need} input features, but "
                f"{_name(*source)} produces {features}"
            )
        out = output_features(module)
        if out is not None:
            features, source = out, (index, module)


def _common_batch_first(modules) -> bool:
    flags = {
        (index, module.batch_first) for index, module in enumerate(modules) if is_recurrent(module)
    }
    values = {flag for _, flag in flags}
    if len(values) > 1:
        listing = ", ".join(
            f"{_name(i, modules[i])} batch_first={flag}" for i, flag in sorted(flags)
        )
        raise ValueError(
            "modules: expected every recurrent module to use the same batch_first (arrays pass "
            f"between modules unchanged), got {listing}"
        )
    return values.pop() if values else False


@register
class Sequential(Module):
    """Apply ``modules`` in order; ``backward`` runs them in reverse.

    Parameters
    ----------
    *modules : modules following rnnlab's protocol (layers, stacks, Bidirectional, Dense,
        Embedding, Dropout, Tanh, ReLU, another Sequential). A single list is accepted too.

    Notes
    -----
    ``params`` / ``grads`` keys are the child's keys prefixed with its index: ``"0.W_f"``,
    ``"2.W"``. ``forward(x, lengths=None)`` passes ``lengths`` to the recurrent modules only.
    """

    def __init__(self, *modules: Any) -> None:
        if len(modules) == 1 and isinstance(modules[0], list | tuple):
            modules = tuple(modules[0])
        if not modules:
            raise ValueError("modules: expected at least one module, got none")
        for index, module in enumerate(modules):
            missing = [attr for attr in _PROTOCOL if not hasattr(module, attr)]
            if missing or isinstance(module, type):
                raise TypeError(
                    f"modules[{index}]: expected an rnnlab module instance (forward, backward, "
                    f"params, grads, get_config), got {module!r}"
                )
        guards.check_distinct(modules)  # one module twice would mix its forward caches
        _check_chain(modules)
        self.batch_first = _common_batch_first(modules)
        self.modules = list(modules)
        known_in = [input_features(m) for m in modules if input_features(m) is not None]
        known_out = [output_features(m) for m in modules if output_features(m) is not None]
        self.in_features = known_in[0] if known_in else None
        self.out_features = known_out[-1] if known_out else None
        self.is_recurrent = any(is_recurrent(m) for m in modules)
        self.training = True
        self._cache = None

    def children(self) -> list[tuple[str, Any]]:
        return [(str(index), module) for index, module in enumerate(self.modules)]

    def __len__(self) -> int:
        return len(self.modules)

    def __getitem__(self, index):
        return self.modules[index]

    def __iter__(self):
        return iter(self.modules)

    def get_config(self) -> dict:
        return {"modules": [describe(module) for module in self.modules]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Self:
        if not isinstance(config, dict) or not isinstance(config.get("modules"), list):
            raise ValueError(f"config: expected {{'modules': [descriptions]}}, got {config!r}")
        return cls(*[build(description) for description in config["modules"]])

    def __repr__(self) -> str:
        inner = ",\n".join(f"  ({i}) {module!r}" for i, module in enumerate(self.modules))
        return f"Sequential(\n{inner}\n)"

    def summary(self) -> str:
        """One line per module (class, output features, parameters), then every parameter."""
        rows = []
        for index, module in enumerate(self.modules):
            count = sum(int(p.size) for p in module.params.values())
            out = output_features(module)
            rows.append(
                f"  {index:>2}  {type(module).__name__:<14} out={out if out else '-':<6} "
                f"parameters={count:,}"
            )
        return format_summary("Sequential", self.params, rows)

    @guards.forward_guard
    def forward(self, x: Any, lengths: Any = None) -> Any:
        """Run every module; ``lengths`` (B,) goes to recurrent modules when not None.

        With ``lengths``, the Sequential's output is zero at padded steps (whatever the last
        modules are) and backward ignores dy there, the rule of the recurrent layers.
        """
        self._valid = None
        for index, module in enumerate(self.modules):
            if lengths is not None and is_recurrent(module):
                if "lengths" not in inspect.signature(module.forward).parameters:
                    raise TypeError(
                        f"lengths: {_name(index, module)} does not accept lengths (padded "
                        "batches); this version of the layer cannot mask padded steps"
                    )
                x = module.forward(x, lengths=lengths)
            else:
                x = module.forward(x)
        if lengths is not None:
            self._valid = self._padding_mask(x, lengths)
            x = x * self._valid
            self._output_shape = tuple(x.shape)
        self._cache = True
        return x

    def _padding_mask(self, y, lengths):
        """valid steps of the output y, shaped to broadcast against it."""
        xp = xp_of(y)
        if y.ndim == 2:  # one sequence, (T, F)
            lengths = batch_lengths(lengths, 1, y.shape[0], single=True)
            return valid_mask(lengths, y.shape[0], xp)
        time_axis = 1 if self.batch_first else 0
        num_steps, batch_size = y.shape[time_axis], y.shape[1 - time_axis]
        valid = valid_mask(batch_lengths(lengths, batch_size, num_steps), num_steps, xp)
        valid = valid.T if self.batch_first else valid
        return valid.reshape(valid.shape + (1,) * (y.ndim - 2))

    @guards.backward_guard
    def backward(self, dy: Any) -> Any:
        """Backward through every module in reverse; returns dx (None after an Embedding)."""
        self._require_forward()
        if self._valid is not None:
            # padded outputs are constants: their dy is ignored (shape checked first, so that
            # the mask can never broadcast a wrong dy into a right-looking one)
            dy = check_gradient(
                "dy", dy, self._output_shape, _float_dtype(dy), _device_of(self._valid),
                "the forward output",
            ) * self._valid  # fmt: skip
        for module in reversed(self.modules):
            dy = module.backward(dy)
        return dy
