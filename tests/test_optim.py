"""Optimisers, clipping and schedules against torch.optim, in float64."""

import math

import numpy as np
import pytest
import torch

from rnnlab import LSTMLayer, optim, schedules

TOL = 1e-12  # relative, float64, over hundreds of steps
SHAPES = {"W": (4, 3), "U": (4, 4), "b": (4,)}


def _pair(seed=0):
    """rnnlab (params, grads) dicts and torch parameters with the same values."""
    rng = np.random.default_rng(seed)
    params = {k: rng.normal(size=s) for k, s in SHAPES.items()}
    grads = {k: np.zeros(s) for k, s in SHAPES.items()}
    tparams = [torch.tensor(p.copy(), requires_grad=True) for p in params.values()]
    return params, grads, tparams


def _run(make_ours, make_torch, steps=300, seed=0):
    """Feed both optimisers the same gradient sequence (a function of the parameters)."""
    params, grads, tparams = _pair(seed)
    ours, theirs = make_ours(params, grads), make_torch(tparams)
    rng = np.random.default_rng(seed + 1)
    for _ in range(steps):
        noise = {k: rng.normal(size=s) for k, s in SHAPES.items()}
        for (k, p), tp in zip(params.items(), tparams, strict=True):
            g = np.sin(p) + 0.1 * noise[k]  # depends on p, so an update error would compound
            grads[k][...] = g
            tp.grad = torch.tensor(np.sin(tp.detach().numpy()) + 0.1 * noise[k])
        ours.step()
        theirs.step()
    return params, tparams


def _assert_close(params, tparams, tol=TOL):
    for p, tp in zip(params.values(), tparams, strict=True):
        np.testing.assert_allclose(p, tp.detach().numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lr": 1e-3},
        {"lr": 1e-2, "betas": (0.8, 0.99), "eps": 1e-6},
        {"lr": 3e-3, "weight_decay": 0.1},
    ],
)
def test_adam_matches_torch(kwargs):
    params, tparams = _run(
        lambda p, g: optim.Adam(p, g, **kwargs),
        lambda tp: torch.optim.Adam(tp, **kwargs, foreach=False),
    )
    _assert_close(params, tparams)


def test_adamw_matches_torch():
    kw = {"lr": 5e-3, "weight_decay": 0.05}
    params, tparams = _run(
        lambda p, g: optim.AdamW(p, g, **kw), lambda tp: torch.optim.AdamW(tp, **kw, foreach=False)
    )
    _assert_close(params, tparams)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lr": 0.05},
        {"lr": 0.05, "momentum": 0.9},
        {"lr": 0.05, "momentum": 0.9, "nesterov": True},
        {"lr": 0.05, "momentum": 0.5, "dampening": 0.3, "weight_decay": 0.01},
    ],
)
def test_sgd_matches_torch(kwargs):
    params, tparams = _run(
        lambda p, g: optim.SGD(p, g, **kwargs),
        lambda tp: torch.optim.SGD(tp, **kwargs, foreach=False),
    )
    _assert_close(params, tparams)


def test_optimizer_on_a_layer_updates_it_in_place_and_zero_grad_clears():
    layer = LSTMLayer(2, 3, 1, dtype=np.float64, seed=0)
    before = {k: v.copy() for k, v in layer.params.items()}
    opt = optim.Adam(layer, lr=0.1)
    layer.forward(np.ones((4, 2, 2)))
    layer.backward(np.ones((4, 2, 1)))
    opt.step()
    changed = [k for k in before if not np.array_equal(before[k], layer.params[k])]
    assert set(changed) == set(before)  # every parameter got a gradient and moved
    opt.zero_grad()
    assert all(not g.any() for g in layer.grads.values())


def test_state_dict_round_trip_continues_identically():
    params, grads, _ = _pair()
    a = optim.Adam(params, grads, lr=0.01)
    for _ in range(3):
        for k in grads:
            grads[k][...] = np.cos(params[k])
        a.step()
    sd = a.state_dict()
    params_b = {k: v.copy() for k, v in params.items()}
    grads_b = {k: v.copy() for k, v in grads.items()}
    b = optim.Adam(params_b, grads_b, lr=0.5)
    b.load_state_dict(sd)
    assert b.lr == 0.01
    assert b.step_count == 3
    for opt, p, g in ((a, params, grads), (b, params_b, grads_b)):
        for k in g:
            g[k][...] = np.cos(p[k])
        opt.step()
    for k in params:
        np.testing.assert_array_equal(params[k], params_b[k])


def test_bad_arguments_are_named():
    params, grads, _ = _pair()
    with pytest.raises(ValueError, match="lr"):
        optim.Adam(params, grads, lr=-1.0)
    with pytest.raises(TypeError, match="grads"):
        optim.SGD(params, lr=0.1)
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD(params, grads, lr=0.1, nesterov=True)
    bad = dict(grads, b=np.zeros(5))
    with pytest.raises(ValueError, match=r"grads\['b'\]"):
        optim.SGD(params, bad, lr=0.1)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam(params, grads, betas=(0.9, 1.0))


@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(max_norm):
    _, grads, tparams = _pair()
    rng = np.random.default_rng(3)
    for g, tp in zip(grads.values(), tparams, strict=True):
        g[...] = rng.normal(size=g.shape) * 3
        tp.grad = torch.tensor(g.copy())
    total = optim.clip_grad_norm(grads, max_norm)
    expected = torch.nn.utils.clip_grad_norm_(tparams, max_norm, foreach=False)
    assert total == pytest.approx(float(expected), rel=TOL)
    for g, tp in zip(grads.values(), tparams, strict=True):
        np.testing.assert_allclose(g, tp.grad.numpy(), rtol=TOL, atol=TOL)
    assert optim.grad_norm(grads) == pytest.approx(min(total, max_norm), rel=1e-6)


def test_clip_grad_norm_inf_norm_and_value_match_torch():
    _, grads, tparams = _pair()
    for g, tp in zip(grads.values(), tparams, strict=True):
        g[...] = np.linspace(-4, 4, g.size).reshape(g.shape)
        tp.grad = torch.tensor(g.copy())
    total = optim.clip_grad_norm(grads, 1.0, norm_type=math.inf)
    assert total == float(torch.nn.utils.clip_grad_norm_(tparams, 1.0, norm_type=math.inf))
    for g, tp in zip(grads.values(), tparams, strict=True):
        np.testing.assert_allclose(g, tp.grad.numpy(), rtol=TOL)
        g[...] = np.linspace(-4, 4, g.size).reshape(g.shape)
        tp.grad = torch.tensor(g.copy())
    optim.clip_grad_value(grads, 1.5)
    torch.nn.utils.clip_grad_value_(tparams, 1.5)
    for g, tp in zip(grads.values(), tparams, strict=True):
        np.testing.assert_array_equal(g, tp.grad.numpy())


def test_clip_grad_norm_leaves_non_finite_gradients_for_the_caller():
    grads = {"a": np.array([1.0, np.inf]), "b": np.array([2.0])}
    assert optim.clip_grad_norm(grads, 1.0) == math.inf
    np.testing.assert_array_equal(grads["b"], [2.0])
    with pytest.raises(ValueError, match="max_norm"):
        optim.clip_grad_norm(grads, 0.0)


def _lrs(ours, theirs, metrics):
    got, want = [], []
    for m in metrics:
        ours.step(m)
        if isinstance(theirs, torch.optim.lr_scheduler.ReduceLROnPlateau):
            theirs.step(m)
        else:
            theirs.optimizer.step()
            theirs.step()
        got.append(ours.optimizer.lr)
        want.append(theirs.optimizer.param_groups[0]["lr"])
    return got, want


@pytest.mark.parametrize(
    ("ours_cls", "theirs_cls", "kwargs"),
    [
        (schedules.StepLR, torch.optim.lr_scheduler.StepLR, {"step_size": 3, "gamma": 0.5}),
        (
            schedules.CosineAnnealingLR,
            torch.optim.lr_scheduler.CosineAnnealingLR,
            {"T_max": 7, "eta_min": 1e-4},
        ),
        (
            schedules.ReduceLROnPlateau,
            torch.optim.lr_scheduler.ReduceLROnPlateau,
            {"factor": 0.5, "patience": 2, "cooldown": 1, "min_lr": 1e-3},
        ),
    ],
)
def test_schedules_match_torch(ours_cls, theirs_cls, kwargs):
    params, grads, tparams = _pair()
    ours = ours_cls(optim.SGD(params, grads, lr=0.1), **kwargs)
    theirs = theirs_cls(torch.optim.SGD(tparams, lr=0.1), **kwargs)
    # a loss that improves, then plateaus, then improves a little: exercises every branch
    metrics = [1.0, 0.8, 0.7, 0.7, 0.71, 0.7, 0.69999, 0.6, 0.6, 0.6, 0.6, 0.6] * 3
    got, want = _lrs(ours, theirs, metrics)
    np.testing.assert_allclose(got, want, rtol=TOL, atol=0)
    assert len(set(got)) > 2  # the schedule did change the rate several times


def test_schedule_state_round_trip_and_errors():
    params, grads, _ = _pair()
    sched = schedules.ReduceLROnPlateau(optim.SGD(params, grads, lr=0.1), patience=0)
    sched.step(1.0)
    sched.step(2.0)
    state = sched.state_dict()
    other = schedules.ReduceLROnPlateau(optim.SGD(params, grads, lr=0.1), patience=0)
    other.load_state_dict(state)
    assert other.best == 1.0
    with pytest.raises(TypeError, match="metric"):
        sched.step()
    with pytest.raises(ValueError, match="step_size"):
        schedules.StepLR(sched.optimizer, step_size=0)
