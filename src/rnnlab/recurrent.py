"""The machinery every recurrent layer shares: validation, parameters, caches and dispatch.

A layer owns its parameters in one contiguous buffer with named views (gate blocks adjacent, so
W_f..W_o is also one (4H, I) matrix), runs a cell's forward over a whole sequence, keeps what
backward needs, and accumulates gradients into a second buffer of the same layout. The three
layers themselves, which name their cell and its state, are in :mod:`rnnlab.layers`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Self

import numpy as np
from numpy.typing import DTypeLike

from . import fastpath, grad_mode, guards, inference, kernels
from .backend import normalize_device, require_cupy, times_rows, xp_of
from .initializers import input_initializer, recurrent_initializer
from .io import SaveMixin
from .masks import check_lengths, lengths_to_mask
from .params import ParamDict, make_rng
from .validation import (
    check_dtype,
    check_size,
    check_state,
    steps_to_layout,
    to_layout,
)

__all__ = ["ForwardRequiredError", "_RecurrentLayer"]


class ForwardRequiredError(RuntimeError, ValueError):
    """``backward`` (or a state property) used before any ``forward``.

    A RuntimeError (the layer is in the wrong state) and a ValueError (the call is invalid), so
    that callers catching either, as the bad-input contract promises, see it.
    """


class _RecurrentLayer(SaveMixin):
    """Shared machinery; subclasses name the cell and call its forward/backward.

    ``SaveMixin`` adds ``layer.save(path)`` (see :mod:`rnnlab.io`).
    """

    cell = ""  # key into rnnlab.kernels
    gate_letters: tuple[str, ...] = ()
    has_cell_state = False
    # Each cell's layer defines it: (impl, x, initial state, **options) -> (h, cache).
    _run_forward: Callable[..., tuple[Any, Any]]

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int | None = None,
        *,
        dtype: DTypeLike = np.float32,
        seed: int | np.random.Generator | None = None,
        batch_first: bool = False,
        init: str = "xavier",
        backend: str = "auto",
        recurrent_init: str = "orthogonal",
    ) -> None:
        self.input_size = check_size("input_size", input_size)
        self.hidden_size = check_size("hidden_size", hidden_size)
        self.output_size = check_size("output_size", output_size, allow_none=True)
        self.dtype = check_dtype(dtype)
        if not isinstance(batch_first, bool):
            raise TypeError(f"batch_first: expected True or False, got {batch_first!r}")
        self.batch_first = batch_first
        self.init = init
        recurrent_initializer(recurrent_init)  # a ValueError naming the argument, before any work
        self.recurrent_init = recurrent_init
        self.backend = kernels.check_backend(backend)
        self.device = "cpu"
        shapes = self._stacked_shapes()
        total = sum(int(np.prod(s)) for s in shapes.values())
        self._bind(np.zeros(total, self.dtype), np.zeros(total, self.dtype))
        self._initialize(make_rng(seed), input_initializer(init))
        self._cache = None
        self.training = True

    # ----------------------------------------------------------------- modes
    def train(self, mode: bool = True) -> Self:
        """Training mode (the default); options like zoneout act only in training mode."""
        self.training = bool(mode)
        return self

    def eval(self) -> Self:
        """Evaluation mode: deterministic forward."""
        return self.train(False)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Self:
        """Build a layer (with freshly initialised parameters) from :meth:`get_config`."""
        return cls(**config)

    def __deepcopy__(self, memo):
        """An independent layer: its own buffers, with params/grads views rebuilt over them."""
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        views = {"_flat", "_flat_grad", "_w", "_g", "params", "grads"}
        for key, value in self.__dict__.items():
            if key not in views:
                new.__dict__[key] = copy.deepcopy(value, memo)
        new._bind(self._flat.copy(), self._flat_grad.copy())
        return new

    # pickle: the buffers, config, mode, grads and RNG streams travel; the views are rebuilt on
    # arrival and what a forward keeps for its backward stays behind (with the per-process
    # bookkeeping about it, "_guard_*"), so an unpickled layer has no forward cache.
    _unpickled = ("_w", "_g", "params", "grads", "_cache", "_valid", "_layout", "_impl", "_options",
                  "_input_plan")  # fmt: skip

    def __getstate__(self) -> dict:
        """Pickle the buffers, config, mode and RNG streams; views and caches are rebuilt."""
        return {
            k: v
            for k, v in self.__dict__.items()
            if k not in self._unpickled and not k.startswith("_guard_")
        }

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._bind(self._flat, self._flat_grad)
        self._cache = None

    # ----------------------------------------------------------------- parameters
    @property
    def num_gates(self) -> int:
        return len(self.gate_letters)

    def _extra_shapes(self) -> dict:
        return {}

    def _stacked_shapes(self) -> dict[str, tuple[int, ...]]:
        """Layout of the flat buffer: stacked gate matrices first, then the output head."""
        G, H, I = self.num_gates, self.hidden_size, self.input_size
        shapes = {"W": (G * H, I), "U": (G * H, H), "b": (G * H,), **self._extra_shapes()}
        if self.output_size is not None:
            shapes |= {"W_hy": (self.output_size, H), "b_y": (self.output_size,)}
        return shapes

    def _bind(self, flat, flat_grad):
        """Build the stacked and the guide-named views over ``flat`` and ``flat_grad``."""
        self._flat, self._flat_grad = flat, flat_grad
        self._w, self._g = {}, {}
        offset = 0
        for name, shape in self._stacked_shapes().items():
            size = int(np.prod(shape))
            self._w[name] = flat[offset : offset + size].reshape(shape)
            self._g[name] = flat_grad[offset : offset + size].reshape(shape)
            offset += size
        self.params = ParamDict(self._named_views(self._w))
        self.grads = ParamDict(self._named_views(self._g))

    def _named_views(self, stacked: dict) -> dict:
        H = self.hidden_size
        views = {}
        for stacked_name in ("W", "U", "b"):
            for k, letter in enumerate(self.gate_letters):
                views[f"{stacked_name}_{letter}"] = stacked[stacked_name][k * H : (k + 1) * H]
        for name in stacked:
            if name not in ("W", "U", "b"):
                views[name] = stacked[name]
        return views

    def _initialize(self, rng, input_init):
        """Input weights Xavier (or He), recurrent weights U by ``recurrent_init``, biases zero."""
        H = self.hidden_size
        recurrent_init = recurrent_initializer(self.recurrent_init)
        for k in range(self.num_gates):
            block = slice(k * H, (k + 1) * H)
            self._w["W"][block] = input_init(rng, (H, self.input_size))
            self._w["U"][block] = recurrent_init(rng, (H, H))
        if self.output_size is not None:
            self._w["W_hy"][...] = input_init(rng, (self.output_size, H))

    def num_parameters(self) -> int:
        """Number of scalars in ``params`` (the guide's parameter count, plus any head)."""
        return int(self._flat.size)

    @property
    def nbytes(self) -> int:
        """Bytes held by the parameters (gradients and caches not counted)."""
        return int(self._flat.nbytes)

    def summary(self) -> str:
        """A table of every parameter: shape, count and bytes."""
        rows = [(name, str(tuple(p.shape)), p.size, p.nbytes) for name, p in self.params.items()]
        rows.append(("total", "", self.num_parameters(), self.nbytes))
        width = max(len("parameter"), *(len(r[0]) for r in rows))
        lines = [
            f"{type(self).__name__}({self._describe()})",
            f"{'parameter':<{width}}  {'shape':>10}  {'count':>9}  {'bytes':>9}",
        ]
        for name, shape, count, nbytes in rows:
            lines.append(f"{name:<{width}}  {shape:>10}  {count:>9,}  {nbytes:>9,}")
        return "\n".join(lines)

    def zero_grad(self) -> None:
        """Set every gradient to zero (backward accumulates)."""
        self._flat_grad[...] = 0

    def get_config(self) -> dict:
        """Constructor arguments, JSON-serialisable (what a checkpoint records)."""
        return {
            "input_size": self.input_size,
            "hidden_size": self.hidden_size,
            "output_size": self.output_size,
            "dtype": self.dtype.name,
            "batch_first": self.batch_first,
            "init": self.init,
            "backend": self.backend,
            "recurrent_init": self.recurrent_init,
        }

    def _describe(self) -> str:
        cfg = self.get_config()
        return ", ".join(f"{k}={v!r}" for k, v in cfg.items())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._describe()}, device={self.device!r})"

    # ----------------------------------------------------------------- devices
    def to(self, device: str) -> Self:
        """Move parameters and gradients to ``"cpu"`` or ``"cuda"``; returns the layer."""
        device = normalize_device(device)
        if device == self.device:
            return self
        if device == "cuda":
            cupy = require_cupy()
            flat, flat_grad = cupy.asarray(self._flat), cupy.asarray(self._flat_grad)
        else:
            flat, flat_grad = self._flat.get(), self._flat_grad.get()
        self._bind(flat, flat_grad)
        self.device = device
        # The cache and the initial-state gradient live on the old device: drop them rather
        # than keep arrays that the next backward would mix with the moved parameters.
        self._cache = None
        self.grad_initial_state = None
        return self

    def to_gpu(self) -> Self:
        return self.to("cuda")

    def to_cpu(self) -> Self:
        return self.to("cpu")

    # ----------------------------------------------------------------- forward / backward
    def __call__(self, x, state=None, *, lengths=None):
        return self.forward(x, state, lengths=lengths)

    @guards.forward_guard
    def forward(self, x: Any, state: Any = None, *, lengths: Any = None) -> Any:
        """Run the layer over a sequence.

        Parameters
        ----------
        x : array (T, B, I) — (B, T, I) with ``batch_first`` — or (T, I) for one sequence, or a
            list of T steps each (B, I), (1, I) or (I,).
        state : initial state, h0 (B, H) (for LSTM a tuple (h0, c0)); zeros when None.
        lengths : ints (B,) in 1..T, or None. A padded batch: sequence b is valid for its first
            ``lengths[b]`` steps. Padded steps carry the state unchanged, output zeros (head
            bias included) and get no gradient; ``final_state`` is each sequence's state at its
            own last valid step. See docs/sequences.md.

        Returns
        -------
        y : (T, B, O) with an output head, else the hidden states (T, B, H); in the layout of x.
        """
        x_tm, layout = fastpath.layer_input(self, x)  # normalize_input, once per signature
        num_steps, batch_size = x_tm.shape[:2]
        initial = self._check_initial_state(state, batch_size, layout.single)
        if lengths is not None:
            checked = check_lengths(lengths, batch_size, num_steps, single=layout.single)
            lengths = guards.own(checked, lengths)
        # The cache keeps these: private copies where they are still the caller's arrays.
        x_tm, initial = guards.own(x_tm, x), guards.own(initial, state)
        options = self._cell_options(lengths, x_tm)
        impl = kernels.select_for(self._kernel_cell(), options, self.backend, self.device)
        if grad_mode.is_grad_enabled():
            h, cache = self._run_forward(impl, x_tm, initial, **options)
        else:  # keeps only the final state (rnnlab.no_grad)
            h, cache = inference.run(self, impl, x_tm, initial, options)
        y = h if self.output_size is None else h @ self._w["W_hy"].T + self._w["b_y"]
        # The head's mask of valid steps; without a head the cells zero padded outputs and
        # ignore their gradients themselves.
        self._valid = None
        if lengths is not None and self.output_size is not None:
            self._valid = lengths_to_mask(xp_of(x_tm).asarray(lengths), num_steps)[:, :, None]
            y = y * self._valid  # padded steps output zero, head bias included
        self._cache = cache
        self._layout = layout
        self._impl = impl
        self._options = options
        self.grad_initial_state = None
        return guards.read_only(to_layout(y, layout))  # y may be the cache's h

    def _kernel_cell(self) -> str:
        """The key into :mod:`rnnlab.kernels` of the cell this configuration runs."""
        return self.cell

    def _cell_options(self, lengths, x) -> dict:
        """Extra keyword arguments of the cell functions; empty for the plain path."""
        return {} if lengths is None else {"lengths": lengths}

    @guards.backward_guard
    def backward(self, dy: Any, d_final_state: Any = None) -> Any:
        """Backpropagation through time; accumulates into ``grads``.

        Parameters
        ----------
        dy : gradient of the loss with respect to the forward output, same shape.
        d_final_state : optional gradient on the final state (h(T), or (h(T), C(T)) for LSTM).

        Returns
        -------
        dx : gradient with respect to x, in the layout x was given in.
        """
        if self._cache is None:
            raise ForwardRequiredError("backward: called before forward; run forward(x) first")
        inference.check_kept(self._cache, "backward")
        h = self._cache.h
        num_steps, batch_size, _ = h.shape
        layout = self._layout
        features = self.hidden_size if self.output_size is None else self.output_size
        dy_tm = fastpath.gradient_input(self, dy, layout, num_steps, batch_size, features)
        if self._valid is not None:  # a head's padded outputs are constants: dy is ignored
            dy_tm = dy_tm * self._valid
        if self.output_size is None:
            dh = dy_tm
        else:
            dy_2d = dy_tm.reshape(-1, self.output_size)
            self._g["W_hy"] += dy_2d.T @ h.reshape(-1, self.hidden_size)  # y = h · W_hyᵀ + b_y
            self._g["b_y"] += dy_2d.sum(axis=0)
            dh = times_rows(dy_tm, self._w["W_hy"])
        final = self._check_final_gradient(d_final_state, batch_size, layout.single)
        dx, d_initial, grads = self._run_backward(self._impl, dh, final, **self._options)
        for name, grad in zip(self._grad_names(), grads, strict=True):
            self._g[name] += grad
        self.grad_initial_state = self._state_to_layout(d_initial, layout.single)
        return steps_to_layout(dx, layout)

    def _grad_names(self):
        return ("W", "U", "b")

    # ----------------------------------------------------------------- states
    def _zeros_state(self, batch_size):
        return xp_of(self._flat).zeros((batch_size, self.hidden_size), self.dtype)

    def _check_initial_state(self, state, batch_size, single):
        if state is None:
            return self._zeros_state(batch_size)
        return check_state(
            "state", state, batch_size, self.hidden_size, self.dtype, self.device, single
        )

    def _check_final_gradient(self, grad, batch_size, single):
        if grad is None:
            return None
        return check_state(
            "d_final_state", grad, batch_size, self.hidden_size, self.dtype, self.device, single
        )

    def _state_to_layout(self, state, single):
        return state[0] if single else state

    @property
    def hidden_states(self) -> Any:
        """h(t) for every step, (T, B, H) time-major ((T, H) for a single sequence).

        With ``lengths`` these are the carried states (a padded step repeats the last valid h),
        not the zeroed outputs.
        """
        h = self._require_forward("hidden_states").h
        return h[:, 0] if self._layout.single else h

    @property
    def final_state(self) -> Any:
        """h(T), (B, H) ((H,) for a single sequence); with ``lengths``, each sequence's h at its
        own last valid step."""
        return self._state_to_layout(
            self._require_forward("final_state").h[-1], self._layout.single
        )

    def _require_forward(self, what):
        guards.check_owner(self, what)  # another thread's cache, or one being built, is not ours
        if self._cache is None:
            raise ForwardRequiredError(
                f"{what}: not available before forward; run forward(x) first"
            )
        inference.check_kept(self._cache, what)
        return guards.read_only_states(self._cache)  # what the state properties hand out
