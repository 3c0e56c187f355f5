"""What every model building block shares: parameters, gradients, modes, configs, devices.

A *leaf* module (Dense, Embedding) owns its arrays in ``_params`` / ``_grads``. A *container*
(Sequential, Bidirectional, the stacks) owns children and exposes their parameters under a
prefix, ``"0.W_f"``; its ``params`` and ``grads`` are rebuilt on every access from the children's
live arrays, so they can never go stale (not even after ``to("cuda")``), and assigning a key
copies into the child's storage.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Self

import numpy as np

from .. import guards
from ..backend import normalize_device, require_cupy, to_device, xp_of
from ..io import SaveMixin
from ..params import ParamDict, _make_rng
from ..recurrent import ForwardRequiredError, _RecurrentLayer
from ..validation import as_float_array

__all__ = ["Module", "format_summary", "make_rng", "spawn_seeds"]


def make_rng(seed) -> np.random.Generator:
    """A Generator from ``seed`` (None, an integer >= 0 or a Generator, used as is); the layers'
    rule and messages."""
    return _make_rng(seed)


def spawn_seeds(rng: np.random.Generator, count: int) -> list[int]:
    """``count`` integer seeds drawn from ``rng``: one per child, reproducible from one seed."""
    return [int(s) for s in rng.integers(0, 2**63 - 1, size=count)]


def format_summary(title: str, params: dict, extra_rows=()) -> str:
    """A table of parameters: name, shape, count, bytes, and the total."""
    rows = [(name, str(tuple(p.shape)), int(p.size), int(p.nbytes)) for name, p in params.items()]
    rows.append(("total", "", sum(r[2] for r in rows), sum(r[3] for r in rows)))
    width = max(len("parameter"), *(len(r[0]) for r in rows))
    shape_width = max(10, *(len(r[1]) for r in rows))
    lines = [title, *extra_rows]
    lines.append(f"{'parameter':<{width}}  {'shape':>{shape_width}}  {'count':>9}  {'bytes':>9}")
    for name, shape, count, nbytes in rows:
        lines.append(f"{name:<{width}}  {shape:>{shape_width}}  {count:>9,}  {nbytes:>9,}")
    return "\n".join(lines)


def is_recurrent(module) -> bool:
    """A module that runs over time (and so cares about layout, states and lengths)."""
    return isinstance(module, _RecurrentLayer) or getattr(module, "is_recurrent", False)


def output_features(module):
    """Features of the module's output, or None if it passes its input's through."""
    if isinstance(module, _RecurrentLayer):
        return module.output_size or module.hidden_size
    return getattr(module, "out_features", None)


def input_features(module):
    """Features the module expects on its input's last axis, None for any, "ids" for tokens."""
    if isinstance(module, _RecurrentLayer):
        return module.input_size
    return getattr(module, "in_features", None)


def check_float_input(name, x, dtype, device, in_features=None):
    """A float array of at least one dimension whose last axis is ``in_features``."""
    arr = as_float_array(name, x, dtype, device)
    if arr.ndim == 0:
        raise ValueError(f"{name}: expected at least one dimension (..., features), got a scalar")
    if in_features is not None and arr.shape[-1] != in_features:
        raise ValueError(
            f"{name}: expected last dimension {in_features} (in_features), "
            f"got {arr.shape[-1]} in shape {tuple(arr.shape)}"
        )
    return arr


def check_gradient(name, dy, expected_shape, dtype, device, what):
    """``dy`` must have exactly the shape of the output it is the gradient of."""
    arr = as_float_array(name, dy, dtype, device)
    if tuple(arr.shape) != tuple(expected_shape):
        raise ValueError(
            f"{name}: expected shape {tuple(expected_shape)} (the shape of {what}), "
            f"got {tuple(arr.shape)}"
        )
    return arr


class Module(SaveMixin):
    """Base class: the module protocol of rnnlab (see the package docstring).

    ``SaveMixin`` adds ``model.save(path)``; ``rnnlab.load(path)`` rebuilds the model.
    """

    training = True
    device = "cpu"
    # Every concrete module defines it (the constructor arguments, JSON-able); declared here
    # for the type checker only, so that hasattr(model, "get_config") still tells modules apart.
    get_config: Callable[[], dict[str, Any]]

    # ------------------------------------------------------------ structure
    def children(self) -> list[tuple[str, Any]]:
        """(prefix, child) pairs; leaves have none."""
        return []

    def _leaf_params(self) -> dict:
        return getattr(self, "_params", {})

    def _leaf_grads(self) -> dict:
        return getattr(self, "_grads", {})

    def _collect(self, attribute: str, own: dict) -> ParamDict:
        views = {}
        for prefix, child in self.children():
            for key, value in getattr(child, attribute).items():
                views[f"{prefix}.{key}"] = value
        views.update(own)  # a container's own parameters (a stack's head) come last
        return ParamDict(views)

    @property
    def params(self) -> ParamDict:
        """name -> live parameter array (children prefixed: ``"0.W_f"``)."""
        return self._collect("params", self._leaf_params())

    @property
    def grads(self) -> ParamDict:
        """name -> live gradient array, same keys and shapes as ``params``."""
        return self._collect("grads", self._leaf_grads())

    def num_parameters(self) -> int:
        """Number of scalars in ``params``."""
        return int(sum(p.size for p in self.params.values()))

    def zero_grad(self) -> Self:
        """Set every gradient to zero (backward accumulates)."""
        for g in self._leaf_grads().values():
            g[...] = 0
        for _, child in self.children():
            child.zero_grad()
        return self

    # ------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> Self:
        """Training mode (the default): dropout drops. Propagates to children."""
        self.training = bool(mode)
        for _, child in self.children():
            child.train(mode)
        return self

    def eval(self) -> Self:
        """Evaluation mode: deterministic forward (dropout is the identity)."""
        return self.train(False)

    # ------------------------------------------------------------ random streams
    def _own_generators(self) -> dict:
        return {}

    def generators(self) -> dict:
        """name -> every numpy Generator the module draws from while running (dropout masks,
        zoneout masks), children prefixed as in ``params``. A Generator shared by several
        modules appears under each name."""
        found = dict(self._own_generators())
        for prefix, child in self.children():
            if hasattr(child, "generators"):
                inner = child.generators()
            else:  # a recurrent layer: its zoneout stream, when it has one
                rng = getattr(child, "zoneout_rng", None)
                inner = {} if rng is None else {"zoneout": rng}
            found.update({f"{prefix}.{key}": rng for key, rng in inner.items()})
        return found

    def rng_state(self) -> dict:
        """The state of every Generator in :meth:`generators` (JSON-serialisable), so that a
        resumed run draws the same masks as an uninterrupted one."""
        return {name: rng.bit_generator.state for name, rng in self.generators().items()}

    def set_rng_state(self, state: dict) -> Self:
        """Restore :meth:`rng_state`'s output; the names must match exactly."""
        generators = self.generators()
        if not isinstance(state, dict) or set(state) != set(generators):
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"state: expected random states for {sorted(generators)}, got {got}")
        for name, rng in generators.items():
            rng.bit_generator.state = state[name]
        return self

    # ------------------------------------------------------------ configs
    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Self:
        """Build a module (fresh parameters) from :meth:`get_config`."""
        return cls(**config)

    def summary(self) -> str:
        """A table of every parameter: shape, count and bytes."""
        return format_summary(repr(self), self.params)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------ devices
    def to(self, device: str) -> Self:
        """Move parameters and gradients to ``"cpu"`` or ``"cuda"``; returns the module."""
        device = normalize_device(device)
        if device == "cuda":
            require_cupy()
        for store in (getattr(self, "_params", None), getattr(self, "_grads", None)):
            if store is None:
                continue
            for key in list(store):
                dict.__setitem__(store, key, to_device(store[key], device))
        for _, child in self.children():
            child.to(device)
        self.device = device
        self._forget()
        return self

    def to_gpu(self) -> Self:
        return self.to("cuda")

    def to_cpu(self) -> Self:
        return self.to("cpu")

    def _forget(self):
        """Drop what forward kept for backward (it may be on the old device)."""
        self._cache = None

    def __getstate__(self) -> dict:
        """Pickle everything but the forward cache (and the per-process bookkeeping about it,
        ``_guard_*``): an unpickled module starts with none."""
        state = {k: v for k, v in self.__dict__.items() if not k.startswith("_guard_")}
        if "_cache" in state:
            state["_cache"] = None
        return state

    def __deepcopy__(self, memo: dict) -> Module:
        """An independent module with everything copied, its forward cache included."""
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        new.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return new

    def _xp(self):
        params = self._leaf_params()
        return xp_of(*params.values()) if params else np

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def _require_forward(self, what: str = "backward"):
        guards.check_owner(self, what)  # another thread's cache, or one being built, is not ours
        cache = getattr(self, "_cache", None)
        if cache is None:
            raise ForwardRequiredError(
                f"{what}: not available before forward on {type(self).__name__}; "
                "run forward(x) first"
            )
        return cache
