"""The three recurrent layers: validation, parameters, caches and dispatch to the cell math.

A layer owns its parameters in one contiguous buffer with named views (gate blocks adjacent, so
W_f..W_o is also one (4H, I) matrix), runs a cell's forward over a whole sequence, keeps what
backward needs, and accumulates gradients into a second buffer of the same layout.
"""

from __future__ import annotations

import copy
import numbers

import numpy as np

from . import kernels
from .backend import normalize_device, require_cupy, xp_of
from .cells.gru_ln import LN_PARAM_NAMES as GRU_LN_NAMES
from .cells.lstm_ln import LN_PARAM_NAMES as LSTM_LN_NAMES
from .initializers import input_initializer, orthogonal
from .io import SaveMixin
from .layer_options import GatedOptions
from .masks import check_lengths, lengths_to_mask
from .registry import register
from .validation import (
    check_dtype,
    check_size,
    check_state,
    from_layout,
    normalize_input,
    steps_to_layout,
    to_layout,
)

__all__ = ["ForwardRequiredError", "GRULayer", "LSTMLayer", "ParamDict", "RNNLayer"]


class ForwardRequiredError(RuntimeError, ValueError):
    """``backward`` (or a state property) used before any ``forward``.

    A RuntimeError (the layer is in the wrong state) and a ValueError (the call is invalid), so
    that callers catching either, as the bad-input contract promises, see it.
    """


class ParamDict(dict):
    """name -> array view into a layer's storage.

    Reading gives the live array (writing into it, ``p["W_f"][...] = 0``, changes the layer).
    Assigning a key copies the new values into the storage, after a shape check, so the layer
    and the dict can never drift apart; ``update`` and ``|=`` assign key by key the same way.
    The set of names is fixed: keys cannot be added or removed.
    """

    def __setitem__(self, key, value):
        if key not in self:
            raise KeyError(f"no parameter named {key!r}; the names are {list(self)}")
        target = dict.__getitem__(self, key)
        xp = xp_of(target)
        new = xp.asarray(value)
        if new.dtype.kind not in "fiu":
            raise TypeError(f"{key}: expected real numbers, got dtype {new.dtype}")
        if new.shape != target.shape:
            raise ValueError(f"{key}: expected shape {target.shape}, got {tuple(new.shape)}")
        target[...] = new

    def update(self, other=(), /, **kwargs):
        # dict.update would replace the views by the caller's arrays, detaching the dict from
        # the layer without a word; copy through __setitem__ instead.
        items = other.items() if hasattr(other, "items") else other
        for key, value in (*items, *kwargs.items()):
            self[key] = value

    def __ior__(self, other):
        self.update(other)
        return self

    def _fixed_keys(self, *args, **kwargs):
        raise TypeError("params: the parameter names of a layer are fixed; assign values instead")

    __delitem__ = pop = popitem = clear = setdefault = _fixed_keys

    def __copy__(self):
        return ParamDict(self)  # the same live views

    def __deepcopy__(self, memo):
        # A snapshot (e.g. the best parameters so far): the same names over copies of the
        # arrays, detached from the layer. dict's constructor bypasses __setitem__ on purpose.
        return ParamDict({name: copy.deepcopy(value, memo) for name, value in self.items()})


def _make_rng(seed, name="seed") -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        if seed < 0:  # NumPy's own message would not say which argument was wrong
            raise ValueError(f"{name}: expected a non-negative integer, got {seed}")
        return np.random.default_rng(int(seed))
    raise TypeError(f"{name}: expected None, an integer or a numpy Generator, got {seed!r}")


class _RecurrentLayer(SaveMixin):
    """Shared machinery; subclasses name the cell and call its forward/backward.

    ``SaveMixin`` adds ``layer.save(path)`` (see :mod:`rnnlab.io`).
    """

    cell = ""  # key into rnnlab.kernels
    gate_letters: tuple[str, ...] = ()
    has_cell_state = False

    def __init__(
        self,
        input_size,
        hidden_size,
        output_size=None,
        *,
        dtype=np.float32,
        seed=None,
        batch_first=False,
        init="xavier",
        backend="auto",
    ):
        self.input_size = check_size("input_size", input_size)
        self.hidden_size = check_size("hidden_size", hidden_size)
        self.output_size = check_size("output_size", output_size, allow_none=True)
        self.dtype = check_dtype(dtype)
        if not isinstance(batch_first, bool):
            raise TypeError(f"batch_first: expected True or False, got {batch_first!r}")
        self.batch_first = batch_first
        self.init = init
        self.backend = kernels.check_backend(backend)
        self.device = "cpu"
        shapes = self._stacked_shapes()
        total = sum(int(np.prod(s)) for s in shapes.values())
        self._bind(np.zeros(total, self.dtype), np.zeros(total, self.dtype))
        self._initialize(_make_rng(seed), input_initializer(init))
        self._cache = None
        self.training = True

    # ----------------------------------------------------------------- modes
    def train(self, mode: bool = True):
        """Training mode (the default); options like zoneout act only in training mode."""
        self.training = bool(mode)
        return self

    def eval(self):
        """Evaluation mode: deterministic forward."""
        return self.train(False)

    @classmethod
    def from_config(cls, config: dict):
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
        """Input weights Xavier (or He), recurrent weights orthogonal per gate, biases zero."""
        H = self.hidden_size
        for k in range(self.num_gates):
            block = slice(k * H, (k + 1) * H)
            self._w["W"][block] = input_init(rng, (H, self.input_size))
            self._w["U"][block] = orthogonal(rng, (H, H))
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

    def zero_grad(self):
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
        }

    def _describe(self) -> str:
        cfg = self.get_config()
        return ", ".join(f"{k}={v!r}" for k, v in cfg.items())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._describe()}, device={self.device!r})"

    # ----------------------------------------------------------------- devices
    def to(self, device: str):
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

    def to_gpu(self):
        return self.to("cuda")

    def to_cpu(self):
        return self.to("cpu")

    # ----------------------------------------------------------------- forward / backward
    def __call__(self, x, state=None, *, lengths=None):
        return self.forward(x, state, lengths=lengths)

    def forward(self, x, state=None, *, lengths=None):
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
        x_tm, layout = normalize_input(
            x, self.input_size, self.dtype, self.device, self.batch_first
        )
        num_steps, batch_size = x_tm.shape[:2]
        initial = self._check_initial_state(state, batch_size, layout.single)
        if lengths is not None:
            lengths = check_lengths(lengths, batch_size, num_steps, single=layout.single)
        options = self._cell_options(lengths, x_tm)
        # Fast kernels take the plain signatures; every option runs the reference for now.
        plain = not options and self._kernel_cell() == self.cell
        impl = kernels.select(
            self._kernel_cell(), self.backend if plain else "reference", self.device
        )
        h, cache = self._run_forward(impl, x_tm, initial, **options)
        y = h if self.output_size is None else h @ self._w["W_hy"].T + self._w["b_y"]
        self._valid = None
        if lengths is not None:
            self._valid = lengths_to_mask(xp_of(x_tm).asarray(lengths), num_steps)[:, :, None]
            if self.output_size is not None:
                y = y * self._valid  # padded steps output zero, head bias included
        self._cache = cache
        self._layout = layout
        self._impl = impl
        self._options = options
        self.grad_initial_state = None
        return to_layout(y, layout)

    def _kernel_cell(self) -> str:
        """The key into :mod:`rnnlab.kernels` of the cell this configuration runs."""
        return self.cell

    def _cell_options(self, lengths, x) -> dict:
        """Extra keyword arguments of the cell functions; empty for the plain path."""
        return {} if lengths is None else {"lengths": lengths}

    def backward(self, dy, d_final_state=None):
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
        h = self._cache.h
        num_steps, batch_size, _ = h.shape
        layout = self._layout
        features = self.hidden_size if self.output_size is None else self.output_size
        what = "the forward output"
        dy_tm = from_layout(
            "dy", dy, layout, num_steps, batch_size, features, self.dtype, self.device, what
        )
        if self._valid is not None:
            dy_tm = dy_tm * self._valid  # padded outputs are constants: their dy is ignored
        if self.output_size is None:
            dh = dy_tm
        else:
            dy_2d = dy_tm.reshape(-1, self.output_size)
            self._g["W_hy"] += dy_2d.T @ h.reshape(-1, self.hidden_size)  # y = h · W_hyᵀ + b_y
            self._g["b_y"] += dy_2d.sum(axis=0)
            dh = dy_tm @ self._w["W_hy"]
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
    def hidden_states(self):
        """h(t) for every step, (T, B, H) time-major ((T, H) for a single sequence).

        With ``lengths`` these are the carried states (a padded step repeats the last valid h),
        not the zeroed outputs.
        """
        h = self._require_forward("hidden_states").h
        return h[:, 0] if self._layout.single else h

    @property
    def final_state(self):
        """h(T), (B, H) ((H,) for a single sequence); with ``lengths``, each sequence's h at its
        own last valid step."""
        return self._state_to_layout(
            self._require_forward("final_state").h[-1], self._layout.single
        )

    def _require_forward(self, what):
        if self._cache is None:
            raise ForwardRequiredError(
                f"{what}: not available before forward; run forward(x) first"
            )
        return self._cache


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

    def __init__(self, input_size, hidden_size, output_size=None, *, forget_bias=0.0, **kwargs):
        if isinstance(forget_bias, bool) or not isinstance(forget_bias, numbers.Real):
            raise TypeError(f"forget_bias: expected a real number, got {forget_bias!r}")
        if not np.isfinite(forget_bias):
            raise ValueError(f"forget_bias: expected a finite number, got {forget_bias}")
        self.forget_bias = float(forget_bias)
        super().__init__(input_size, hidden_size, output_size, **kwargs)

    def _initialize(self, rng, input_init):
        super()._initialize(rng, input_init)
        self._w["b"][: self.hidden_size] = self.forget_bias

    def get_config(self):
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
    def final_state(self):
        """(h(T), C(T)), each (B, H) ((H,) for a single sequence)."""
        cache = self._require_forward("final_state")
        return self._state_to_layout((cache.h[-1], cache.C[-1]), self._layout.single)

    @property
    def cell_states(self):
        """C(t) for every step, (T, B, H) ((T, H) for a single sequence); carried through padded
        steps, so ``[-1]`` is each sequence's final C."""
        C = self._require_forward("cell_states").C
        return C[:, 0] if self._layout.single else C

    def get_cell_states(self):
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

    def __init__(self, input_size, hidden_size, output_size=None, *, reset_after=False, **kwargs):
        if not isinstance(reset_after, bool):
            raise TypeError(f"reset_after: expected True or False, got {reset_after!r}")
        self.reset_after = reset_after
        super().__init__(input_size, hidden_size, output_size, **kwargs)

    def _extra_shapes(self):
        b_hn = {"b_hn": (self.hidden_size,)} if self.reset_after else {}
        return b_hn | super()._extra_shapes()  # then the layer-norm parameters, if any

    def get_config(self):
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
