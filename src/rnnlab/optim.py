"""Optimisers and gradient clipping, written to give PyTorch's updates number for number.

An optimiser works on the module protocol: a model's ``params`` and ``grads`` dicts (name ->
live array). Updates are in place, so the model sees them at once. Given a model, the optimiser
re-reads ``model.params``/``model.grads`` on every step, so a model that rebinds its arrays (a
move to the GPU) keeps working; its state (moments, momentum buffers) is kept per parameter name.

The guide's practical defaults are Adam with learning rate 1e-3 and gradient clipping at 5.0.

Update rules (g the gradient, p the parameter, t the step count starting at 1)::

    SGD       g += λ p;  b = g (first step) or μ b + (1 - τ) g;  g = g + μ b (Nesterov) or b
              p -= lr g
    Adam      g += λ p;  m += (1 - β1)(g - m);  v = β2 v + (1 - β2) g²
              p -= lr / (1 - β1^t) · m / (sqrt(v) / sqrt(1 - β2^t) + eps)
    AdamW     p *= 1 - lr λ, then Adam with λ = 0

eps is added *after* the bias correction of sqrt(v), as torch.optim.Adam does (the Adam
paper's algorithm 1 adds it to sqrt(v̂) too, Keras adds it before the correction).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from .backend import array_device, to_device, xp_of
from .guards import deferred_interrupts, mark_stepped
from .schedules import CosineAnnealingLR, ReduceLROnPlateau, StepLR

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "CosineAnnealingLR",
    "Optimizer",
    "ReduceLROnPlateau",
    "StepLR",
    "clip_grad_norm",
    "clip_grad_value",
    "grad_norm",
]


def _real(name, value, *, low=None, low_open=False, high=None, high_open=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {value!r}")
    value = float(value)
    bad = not math.isfinite(value)
    if low is not None:
        bad = bad or value < low or (low_open and value == low)
    if high is not None:
        bad = bad or value > high or (high_open and value == high)
    if bad:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ValueError(f"{name}: expected a finite number in {lo}{low}, {high}{hi}, got {value}")
    return value


def _grads_of(grads):
    """A dict of gradient arrays from a dict or a model (anything with ``grads``)."""
    if hasattr(grads, "grads") and not isinstance(grads, dict):
        grads = grads.grads
    if not isinstance(grads, dict):
        raise TypeError(f"grads: expected a dict name -> array or a model, got {type(grads)}")
    return grads


def grad_norm(grads: Any, norm_type: float = 2.0) -> float:
    """Total norm of all gradients together, as if concatenated into one vector."""
    grads = _grads_of(grads)
    if not grads:
        return 0.0
    arrays = list(grads.values())
    xp = xp_of(arrays[0])
    if norm_type == math.inf:
        return float(max(float(xp.abs(g).max()) if g.size else 0.0 for g in arrays))
    if norm_type != 2.0:
        raise ValueError(f"norm_type: expected 2 or math.inf, got {norm_type!r}")
    # Norm of the per-array norms, the order torch.nn.utils.clip_grad_norm_ reduces in.
    norms = [float(xp.sqrt(xp.sum(g * g))) for g in arrays]
    return float(math.sqrt(sum(n * n for n in norms)))


def clip_grad_norm(grads: Any, max_norm: float, norm_type: float = 2.0) -> float:
    """Scale all gradients in place so that their total norm is at most ``max_norm``.

    Same rule as ``torch.nn.utils.clip_grad_norm_``: the scale is
    ``min(1, max_norm / (total_norm + 1e-6))``.

    Parameters
    ----------
    grads : dict name -> array, or a model with ``grads``.
    max_norm : positive float.
    norm_type : 2 (default) or ``math.inf``.

    Returns
    -------
    float : the total norm *before* clipping (inf or NaN when a gradient is not finite; the
        gradients are then left untouched so the caller can report them).
    """
    max_norm = _real("max_norm", max_norm, low=0.0, low_open=True)
    grads = _grads_of(grads)
    total = grad_norm(grads, norm_type)
    if not math.isfinite(total):
        return total
    scale = min(1.0, max_norm / (total + 1e-6))
    if scale < 1.0:
        for g in grads.values():
            g *= scale
    return total


def clip_grad_value(grads: Any, clip_value: float) -> None:
    """Clamp every gradient entry into [-clip_value, clip_value], in place."""
    clip_value = _real("clip_value", clip_value, low=0.0, low_open=True)
    for g in _grads_of(grads).values():
        xp_of(g).clip(g, -clip_value, clip_value, out=g)


class Optimizer:
    """Base class: binds to parameters, keeps per-name state, serialises it.

    Parameters
    ----------
    params : a model (anything with ``params`` and ``grads`` dicts) or a dict name -> array.
    grads : dict name -> array with the same names and shapes, when ``params`` is a dict.
    """

    hyper_names: tuple[str, ...] = ()
    state_names: tuple[str, ...] = ()

    def __init__(self, params: Any, grads: Any = None, *, lr: float) -> None:
        if isinstance(params, dict):
            if grads is None:
                raise TypeError("grads: required when params is a dict (or pass a model)")
            self._model = None
            self._params, self._grads = params, _grads_of(grads)
        else:
            if not (hasattr(params, "params") and hasattr(params, "grads")):
                raise TypeError(
                    "params: expected a model with params and grads, or a dict name -> array, "
                    f"got {type(params).__name__}"
                )
            if grads is not None:
                raise TypeError("grads: pass either a model, or params and grads dicts")
            self._model = params
        self._check_pairs(*self._pairs())
        self.lr = _real("lr", lr, low=0.0)
        self.step_count = 0
        self.state: dict[str, dict] = {name: {} for name in self.state_names}

    def _pairs(self):
        if self._model is not None:
            return self._model.params, self._model.grads
        return self._params, self._grads

    @staticmethod
    def _check_pairs(params, grads):
        if list(params) != list(grads):
            raise ValueError(
                f"grads: expected the names of params {list(params)}, got {list(grads)}"
            )
        for name, p in params.items():
            if tuple(p.shape) != tuple(grads[name].shape):
                raise ValueError(
                    f"grads[{name!r}]: expected shape {tuple(p.shape)}, got {grads[name].shape}"
                )

    def zero_grad(self) -> None:
        """Set every gradient to zero (backward accumulates)."""
        if self._model is not None and hasattr(self._model, "zero_grad"):
            self._model.zero_grad()
            return
        for g in self._pairs()[1].values():
            g[...] = 0

    def step(self) -> None:
        """Apply one update to every parameter, in place: wholly or not at all.

        Every new value (parameters and state) is computed first, into new arrays; only then
        are they committed, with Ctrl-C held back until the commit is done. An exception or a
        KeyboardInterrupt therefore leaves parameters, state and ``step_count`` all as they
        were, or (an interrupt during the commit) all updated.
        """
        params, grads = self._pairs()
        self._follow_devices(params)
        step = self.step_count + 1
        updates = {name: self._compute(name, p, grads[name], step) for name, p in params.items()}
        with deferred_interrupts():
            self._commit(params, updates)
            self.step_count = step
        if self._model is not None:
            mark_stepped(self._model)  # a backward of an older forward would now be wrong

    def _commit(self, params: dict, updates: dict[str, tuple[Any, dict[str, Any]]]) -> None:
        for name, (new_p, new_state) in updates.items():
            params[name][...] = new_p
            for kind, buffer in new_state.items():
                self.state[kind][name] = buffer

    def _follow_devices(self, params):
        """Move state buffers to their parameter's device (the model was moved by ``.to()``).

        Checked every step because moving a model does not tell its optimiser; the check is a
        type lookup per buffer, and a move happens once, not in the loop.
        """
        for buffers in self.state.values():
            for name, buffer in buffers.items():
                device = array_device(params[name])
                if array_device(buffer) != device:
                    buffers[name] = to_device(buffer, device)

    def _compute(self, name: str, p: Any, g: Any, step: int) -> tuple[Any, dict[str, Any]]:
        """(new value of p, {state kind: new buffer}) for step number ``step``; no side effect."""
        raise NotImplementedError

    def _buffer(self, kind, name, like):
        """The state buffer, zeros before the first step; never written in place."""
        buffer = self.state[kind].get(name)
        return xp_of(like).zeros_like(like) if buffer is None else buffer

    # ----------------------------------------------------------------- serialisation
    def hyperparameters(self) -> dict:
        return {"lr": self.lr} | {k: getattr(self, k) for k in self.hyper_names}

    def state_dict(self) -> dict:
        """``{"type", "hyper", "step", "state"}``: JSON-able scalars and plain arrays (copies)."""
        hyper = {
            k: list(v) if isinstance(v, tuple) else v for k, v in self.hyperparameters().items()
        }
        state = {
            kind: {name: np.array(_to_host(a), copy=True) for name, a in buffers.items()}
            for kind, buffers in self.state.items()
        }
        return {
            "type": type(self).__name__,
            "hyper": hyper,
            "step": self.step_count,
            "state": state,
        }

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what :meth:`state_dict` returned (hyperparameters, step count, buffers)."""
        if state_dict.get("type") != type(self).__name__:
            raise ValueError(
                f"state_dict: expected type {type(self).__name__!r}, got {state_dict.get('type')!r}"
            )
        params = self._pairs()[0]
        hyper = dict(state_dict["hyper"])
        self.lr = _real("lr", hyper.pop("lr"), low=0.0)
        for k in self.hyper_names:
            value = hyper[k]
            setattr(self, k, tuple(value) if isinstance(value, list) else value)
        step = state_dict["step"]
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
            raise ValueError(f"state_dict['step']: expected a non-negative integer, got {step!r}")
        self.step_count = int(step)
        state: dict[str, dict] = {}
        for kind in self.state_names:
            buffers = state_dict["state"].get(kind, {})
            state[kind] = {}
            for name, arr in buffers.items():
                if name not in params:
                    raise ValueError(f"state_dict: {kind} for unknown parameter {name!r}")
                if tuple(arr.shape) != tuple(params[name].shape):
                    raise ValueError(
                        f"state_dict: {kind}[{name!r}] has shape {tuple(arr.shape)}, "
                        f"expected {tuple(params[name].shape)}"
                    )
                xp = xp_of(params[name])
                state[kind][name] = xp.array(arr, dtype=params[name].dtype, copy=True)
                if not bool(xp.isfinite(state[kind][name]).all()):
                    raise ValueError(f"state_dict: {kind}[{name!r}] holds NaN or inf")
        for kind in self._required_state() if self.step_count > 0 else ():
            missing = [name for name in params if name not in state[kind]]
            if missing:
                raise ValueError(
                    f"state_dict: {kind} buffers missing for {missing} after "
                    f"{self.step_count} steps (every parameter has one once a step was taken)"
                )
        self.state = state

    def _required_state(self) -> tuple[str, ...]:
        """The buffers every parameter has after the first step (a loaded state must too)."""
        return self.state_names

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({args})"


def _to_host(a):
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else a


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and weight decay.

    Matches ``torch.optim.SGD`` (the momentum buffer starts as the first gradient).
    """

    hyper_names = ("momentum", "dampening", "nesterov", "weight_decay")
    state_names = ("momentum_buffer",)

    def _required_state(self):
        return self.state_names if self.momentum != 0.0 else ()

    def __init__(
        self,
        params: Any,
        grads: Any = None,
        *,
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, grads, lr=lr)
        self.momentum = _real("momentum", momentum, low=0.0)
        self.dampening = _real("dampening", dampening, low=0.0, high=1.0)
        self.weight_decay = _real("weight_decay", weight_decay, low=0.0)
        if not isinstance(nesterov, bool):
            raise TypeError(f"nesterov: expected True or False, got {nesterov!r}")
        if nesterov and (self.momentum == 0.0 or self.dampening != 0.0):
            raise ValueError("nesterov: requires momentum > 0 and dampening = 0")
        self.nesterov = nesterov

    def _compute(self, name, p, g, step):
        if self.weight_decay != 0.0:
            g = g + self.weight_decay * p
        state: dict[str, Any] = {}
        if self.momentum != 0.0:
            b = self.state["momentum_buffer"].get(name)
            if b is None:
                b = g.copy()
            else:
                b = b * self.momentum
                b += (1.0 - self.dampening) * g
            state["momentum_buffer"] = b
            g = g + self.momentum * b if self.nesterov else b
        return p - self.lr * g, state


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with PyTorch's bias correction and eps placement.

    ``weight_decay`` adds λ·p to the gradient (L2 regularisation, as ``torch.optim.Adam``);
    for decoupled weight decay use :class:`AdamW`.
    """

    hyper_names = ("betas", "eps", "weight_decay")
    state_names = ("exp_avg", "exp_avg_sq")
    decoupled = False

    def __init__(
        self,
        params: Any,
        grads: Any = None,
        *,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, grads, lr=lr)
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            raise TypeError(f"betas: expected a pair (beta1, beta2), got {betas!r}")
        self.betas = (
            _real("betas[0]", betas[0], low=0.0, high=1.0, high_open=True),
            _real("betas[1]", betas[1], low=0.0, high=1.0, high_open=True),
        )
        self.eps = _real("eps", eps, low=0.0)
        self.weight_decay = _real("weight_decay", weight_decay, low=0.0)

    def _compute(self, name, p, g, step):
        beta1, beta2 = self.betas
        t = step
        if self.weight_decay != 0.0:
            if self.decoupled:
                p = p * (1.0 - self.lr * self.weight_decay)
            else:
                g = g + self.weight_decay * p
        m = self._buffer("exp_avg", name, p)
        v = self._buffer("exp_avg_sq", name, p)
        m = m + (1.0 - beta1) * (g - m)  # torch's lerp_ form of beta1 m + (1 - beta1) g
        v = v * beta2
        v += (1.0 - beta2) * g * g  # torch's addcmul_ order
        xp = xp_of(p)
        step_size = self.lr / (1.0 - beta1**t)
        denom = xp.sqrt(v) / (1.0 - beta2**t) ** 0.5 + self.eps
        return p - step_size * m / denom, {"exp_avg": m, "exp_avg_sq": v}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019), as ``torch.optim.AdamW``.

    The parameters shrink by ``1 - lr·weight_decay`` before the Adam step (default 1e-2).
    """

    decoupled = True

    def __init__(
        self,
        params: Any,
        grads: Any = None,
        *,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, grads, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


OPTIMIZERS = {cls.__name__: cls for cls in (SGD, Adam, AdamW)}


def optimizer_from_state_dict(model, state_dict: dict) -> Optimizer:
    """Rebuild an optimiser bound to ``model`` from :meth:`Optimizer.state_dict` output."""
    kind = state_dict.get("type")
    if kind not in OPTIMIZERS:
        raise ValueError(f"optimizer type: expected one of {sorted(OPTIMIZERS)}, got {kind!r}")
    hyper = dict(state_dict["hyper"])
    if "betas" in hyper:
        hyper["betas"] = tuple(hyper["betas"])
    opt = OPTIMIZERS[kind](model, **hyper)
    opt.load_state_dict(state_dict)
    return opt
