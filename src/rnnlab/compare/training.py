"""Small training loops the comparison runs: one recurrent layer with its output head.

The sweeps train many tiny models for a fixed number of updates, so the loop is kept minimal
and deterministic: Adam (the guide's optimiser) on the layer's own ``params``/``grads``,
gradient clipping at the guide's 5.0, and losses read at the last step (many-to-one) or at
every step (many-to-many). When :mod:`rnnlab.optim` is available its Adam is used.
"""

from __future__ import annotations

import numpy as np

from .. import GRULayer, LSTMLayer, RNNLayer

CELLS = {"rnn": RNNLayer, "lstm": LSTMLayer, "gru": GRULayer}
CELL_NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}

#: The guide's practical tips: Adam, gradient clip 5.0.
GRADIENT_CLIP = 5.0


def make_layer(cell, input_size, hidden_size, output_size, *, seed, dtype=np.float32):
    """A layer of ``cell`` ("rnn", "lstm", "gru") with an output head, seeded."""
    if cell not in CELLS:
        raise ValueError(f"cell: expected one of {sorted(CELLS)}, got {cell!r}")
    kwargs = {"forget_bias": 1.0} if cell == "lstm" else {}
    return CELLS[cell](input_size, hidden_size, output_size, seed=seed, dtype=dtype, **kwargs)


def hidden_for_budget(cell, input_size, output_size, budget):
    """The largest hidden size whose parameter count (with head) does not exceed ``budget``.

    Parameters of a cell with G gate blocks: G(I·H + H² + H) + O·H + O.
    """
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[cell]
    a, b, c = gates, gates * (input_size + 1) + output_size, output_size - budget
    hidden = int((-b + np.sqrt(b * b - 4 * a * c)) / (2 * a))
    return max(hidden, 1)


def _adam_factory():
    try:  # the library's optimiser once the training issue has landed
        from ..optim import Adam
    except ImportError:
        return _Adam
    return lambda params, grads, lr: Adam(params, grads, lr=lr)


class _Adam:
    """Adam (Kingma & Ba 2015) with PyTorch's bias correction; a stand-in until rnnlab.optim."""

    def __init__(self, params, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.grads, self.lr, self.betas, self.eps = params, grads, lr, betas, eps
        self.m = {k: np.zeros_like(p) for k, p in params.items()}
        self.v = {k: np.zeros_like(p) for k, p in params.items()}
        self.t = 0

    def step(self):
        self.t += 1
        beta1, beta2 = self.betas
        correction1, correction2 = 1 - beta1**self.t, 1 - beta2**self.t
        for name, p in self.params.items():
            g = self.grads[name]
            self.m[name] = beta1 * self.m[name] + (1 - beta1) * g
            self.v[name] = beta2 * self.v[name] + (1 - beta2) * g * g
            denom = np.sqrt(self.v[name] / correction2) + self.eps
            p -= (self.lr / correction1) * self.m[name] / denom


def clip_gradients(grads, max_norm=GRADIENT_CLIP):
    """Scale all gradients so their joint norm is at most ``max_norm``; returns the norm before."""
    norm = float(np.sqrt(sum(float(np.sum(g * g)) for g in grads.values())))
    if norm > max_norm:
        for g in grads.values():
            g *= max_norm / (norm + 1e-12)
    return norm


def last_step_mse(y_last, target):
    """Mean squared error on the last step and its gradient."""
    err = y_last - target  # (B, O)
    return float(np.mean(err * err)), 2.0 * err / err.size


def cross_entropy(logits, labels):
    """Mean softmax cross-entropy over the leading axes; returns (loss, dlogits)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    flat = log_probs.reshape(-1, log_probs.shape[-1])
    picked = flat[np.arange(flat.shape[0]), labels.reshape(-1)]
    loss = -float(picked.mean())
    grad = np.exp(flat)
    grad[np.arange(flat.shape[0]), labels.reshape(-1)] -= 1.0
    return loss, (grad / flat.shape[0]).reshape(logits.shape).astype(logits.dtype)


def many_to_one_step(layer, x, target, loss, optimizer):
    """One update reading the output at the last step; returns (loss, gradient norm)."""
    y = layer.forward(x)  # (T, B, O)
    if loss == "mse":
        value, dy_last = last_step_mse(y[-1], target)
    else:
        value, dy_last = cross_entropy(y[-1], target)
    dy = np.zeros_like(y)
    dy[-1] = dy_last
    layer.zero_grad()
    layer.backward(dy)
    norm = clip_gradients(layer.grads)
    optimizer.step()
    return value, norm


def make_optimizer(layer, lr):
    return _adam_factory()(layer.params, layer.grads, lr)
