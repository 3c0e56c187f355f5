"""An optimiser step is all or nothing (issue 11.8): Ctrl-C never leaves half an update.

A real SIGINT is raised at every line the step executes (a trace function counts the lines of
rnnlab/optim.py and rnnlab/guards.py and raises the signal at the k-th, for every k). After
each, parameters, optimiser state and step count must be all as before or all as after one
uninterrupted step, and the interrupt must not be lost. Exceptions raised while the new values
are computed (a KeyboardInterrupt or MemoryError out of the arithmetic) leave everything old.
"""

from __future__ import annotations

import copy
import signal
import sys

import numpy as np
import pytest

import rnnlab.guards
import rnnlab.optim
from rnnlab.optim import SGD, Adam, AdamW

TRACED = {rnnlab.optim.__file__, rnnlab.guards.__file__}

CONFIGS = {
    "sgd": (SGD, {"lr": 0.1}),
    "sgd_momentum_decay": (SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}),
    "sgd_nesterov": (SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    "adam": (Adam, {"lr": 0.01}),
    "adam_l2": (Adam, {"lr": 0.01, "weight_decay": 0.1}),
    "adamw": (AdamW, {"lr": 0.01}),
}


def _setup(name):
    """An optimiser over three parameters, one step already taken (so state exists)."""
    rng = np.random.default_rng(0)
    params = {
        k: rng.standard_normal(shape) for k, shape in [("W", (3, 4)), ("U", (4,)), ("b", (2,))]
    }
    grads = {k: rng.standard_normal(p.shape) for k, p in params.items()}
    cls, hyper = CONFIGS[name]
    opt = cls(params, grads, **hyper)
    opt.step()
    for g in grads.values():
        g[...] = rng.standard_normal(g.shape)
    return params, opt


def _snapshot(params, opt):
    return (
        {k: p.copy() for k, p in params.items()},
        copy.deepcopy(opt.state_dict()),
    )


def _same(a, b):
    if a[1]["step"] != b[1]["step"] or a[0].keys() != b[0].keys():
        return False
    if any(not np.array_equal(a[0][k], b[0][k]) for k in a[0]):
        return False
    state_a, state_b = a[1]["state"], b[1]["state"]
    return all(
        state_a[kind].keys() == state_b[kind].keys()
        and all(np.array_equal(state_a[kind][n], state_b[kind][n]) for n in state_a[kind])
        for kind in state_a
    )


def _step_with_signal_at(opt, k):
    """Run ``opt.step()`` raising SIGINT at its k-th traced line; True if the signal fired."""
    seen = [0]

    def local(frame, event, arg):
        if event == "line":
            seen[0] += 1
            if seen[0] == k:
                signal.raise_signal(signal.SIGINT)
        return local

    def tracer(frame, event, arg):
        return local if frame.f_code.co_filename in TRACED else None

    sys.settrace(tracer)
    try:
        opt.step()
    finally:
        sys.settrace(None)
    return seen[0]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_a_signal_at_every_line_leaves_all_old_or_all_new(name):
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    params, opt = _setup(name)
    old = _snapshot(params, opt)
    opt.step()
    new = _snapshot(params, opt)
    assert not _same(old, new)
    lines = _step_with_signal_at(_setup(name)[1], 0)  # a dry run counts the lines
    outcomes = {"old": 0, "new": 0}
    for k in range(1, lines + 1):
        params, opt = _setup(name)
        with pytest.raises(KeyboardInterrupt):  # never lost, even when held back
            _step_with_signal_at(opt, k)
        now = _snapshot(params, opt)
        assert _same(now, old) or _same(now, new), f"half-applied step at line event {k}"
        outcomes["old" if _same(now, old) else "new"] += 1
    assert outcomes["old"] > 0  # both phases were hit
    assert outcomes["new"] > 0
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("error", [KeyboardInterrupt, MemoryError])
def test_an_exception_while_computing_leaves_everything_old(name, error, monkeypatch):
    cls = CONFIGS[name][0]
    for fail_at in (1, 2, 3):  # the first, a middle and the last parameter
        params, opt = _setup(name)
        old = _snapshot(params, opt)
        calls = [0]
        original = cls._compute

        def failing(self, *args, _original=original, _fail_at=fail_at, _calls=calls):
            _calls[0] += 1
            if _calls[0] == _fail_at:
                raise error
            return _original(self, *args)

        monkeypatch.setattr(cls, "_compute", failing)
        with pytest.raises(error):
            opt.step()
        monkeypatch.undo()
        assert _same(_snapshot(params, opt), old)


def test_a_step_on_a_model_after_an_interrupt_equals_an_uninterrupted_one():
    """Resume after Ctrl-C: the next step gives what an uninterrupted run gives."""
    from rnnlab import LSTMLayer

    def run(interrupt):
        layer = LSTMLayer(2, 3, dtype=np.float64, seed=0)
        opt = Adam(layer, lr=0.01)
        layer.forward(np.ones((4, 1, 2)))
        layer.backward(np.ones((4, 1, 3)))
        if interrupt:
            with pytest.raises(KeyboardInterrupt):
                _step_with_signal_at(opt, 5)
            if opt.step_count == 0:
                opt.step()
        else:
            opt.step()
        opt.step()
        return layer.params

    interrupted, clean = run(True), run(False)
    for key in clean:
        np.testing.assert_array_equal(interrupted[key], clean[key])
