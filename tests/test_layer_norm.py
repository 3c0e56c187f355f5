"""Layer normalisation: the LN function against PyTorch, the LN cells against a PyTorch autograd
implementation of the documented equations, and the layer option (parameters, config, grads)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnnlab import GRULayer, LSTMLayer, registry
from rnnlab.cells import LN_EPS, gru_ln_backward, gru_ln_forward, lstm_ln_backward, lstm_ln_forward
from rnnlab.cells.layer_norm import layer_norm_backward, layer_norm_forward
from rnnlab.interop.torch import to_torch
from tests.conftest import GRADCHECK_EPS, GRADCHECK_RTOL, _numeric_gradient, rel_error

PARITY_RTOL = 1e-12  # float64, same equations, different operation order
PARITY_ATOL = 1e-12


def numeric_gradient(loss, arr):
    """Central differences of ``loss()`` over every entry of ``arr`` (the shared helper)."""
    return _numeric_gradient(loss, arr, GRADCHECK_EPS)


def close(a, b):
    np.testing.assert_allclose(a, b, rtol=PARITY_RTOL, atol=PARITY_ATOL)


def torch_ln(a, gain, bias, groups):
    """Per-block layer norm with per-unit gain and bias, from torch's F.layer_norm."""
    H = a.shape[-1] // groups
    blocks = a.reshape(*a.shape[:-1], groups, H)
    return F.layer_norm(blocks, (H,), eps=LN_EPS).reshape(a.shape) * gain + bias


@pytest.mark.parametrize("groups", [1, 3, 4])
def test_layer_norm_matches_torch(groups):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 3, groups * 5)) * 3.0 + 1.0
    gain, bias = rng.standard_normal(groups * 5), rng.standard_normal(groups * 5)
    dy = rng.standard_normal(a.shape)
    y, cache = layer_norm_forward(a, gain, bias, groups)
    da, dgain, dbias = layer_norm_backward(dy, cache, gain, groups)
    ta, tg, tb = (torch.tensor(v, requires_grad=True) for v in (a, gain, bias))
    ty = torch_ln(ta, tg, tb, groups)
    ty.backward(torch.tensor(dy))
    close(y, ty.detach().numpy())
    close(da, ta.grad.numpy())
    close(dgain, tg.grad.numpy())
    close(dbias, tb.grad.numpy())


def test_layer_norm_gradcheck_and_constant_block():
    rng = np.random.default_rng(1)
    a, gain, bias = rng.standard_normal((3, 8)), rng.standard_normal(8), rng.standard_normal(8)
    R = rng.standard_normal((3, 8))
    _, cache = layer_norm_forward(a, gain, bias, 2)
    grads = layer_norm_backward(R, cache, gain, 2)
    for arr, grad in zip((a, gain, bias), grads, strict=True):
        loss = lambda: float((layer_norm_forward(a, gain, bias, 2)[0] * R).sum())  # noqa: E731
        assert rel_error(grad, numeric_gradient(loss, arr)) < GRADCHECK_RTOL
    # Blocks of one unit (H = 1, σ² = 0): ε keeps them finite; output = bias, no gradient.
    y, cache = layer_norm_forward(a[:, :4], np.ones(4), np.arange(4.0), 4)
    np.testing.assert_array_equal(y, np.broadcast_to(np.arange(4.0), (3, 4)))
    np.testing.assert_array_equal(layer_norm_backward(R[:, :4], cache, np.ones(4), 4)[0], 0.0)
    # A constant block of several units: finite output (the bias) and finite gradient.
    y, cache = layer_norm_forward(np.full((3, 4), 3.0), np.ones(4), np.arange(4.0))
    np.testing.assert_array_equal(y, np.broadcast_to(np.arange(4.0), (3, 4)))
    assert np.isfinite(layer_norm_backward(R[:, :4], cache, np.ones(4))[0]).all()


def torch_lstm_ln(x, h0, C0, W, U, b, ln):
    gx, bx, gh, bh, gC, bC = ln
    H = h0.shape[-1]
    P = torch_ln(x @ W.T, gx, bx, 4) + b
    h, C, hs = h0, C0, []
    for t in range(x.shape[0]):
        a = P[t] + torch_ln(h @ U.T, gh, bh, 4)
        f, i, o = (torch.sigmoid(a[:, k * H : (k + 1) * H]) for k in (0, 1, 3))
        C = f * C + i * torch.tanh(a[:, 2 * H : 3 * H])
        h = o * torch.tanh(torch_ln(C, gC, bC, 1))
        hs.append(h)
    return torch.stack(hs), h, C


def torch_gru_ln(x, h0, W, U, b, b_hn, ln):
    gx, bx, gh, bh = ln
    H = h0.shape[-1]
    P = torch_ln(x @ W.T, gx, bx, 3) + b
    h, hs = h0, []
    for t in range(x.shape[0]):
        if b_hn is None:
            g = torch_ln(h @ U[: 2 * H].T, gh[: 2 * H], bh[: 2 * H], 2)
            z, r = (
                torch.sigmoid(P[t, :, :H] + g[:, :H]),
                torch.sigmoid(P[t, :, H : 2 * H] + g[:, H:]),
            )
            cand = P[t, :, 2 * H :] + torch_ln((r * h) @ U[2 * H :].T, gh[2 * H :], bh[2 * H :], 1)
        else:
            g = torch_ln(h @ U.T, gh, bh, 3)
            z, r = (
                torch.sigmoid(P[t, :, :H] + g[:, :H]),
                torch.sigmoid(P[t, :, H : 2 * H] + g[:, H : 2 * H]),
            )
            cand = P[t, :, 2 * H :] + r * (g[:, 2 * H :] + b_hn)
        h = z * h + (1 - z) * torch.tanh(cand)
        hs.append(h)
    return torch.stack(hs), h


def random_args(rng, G, T=5, B=3, I=4, H=3, cell_norm=False):
    arrays = {
        "x": rng.standard_normal((T, B, I)),
        "h0": rng.standard_normal((B, H)),
        "C0": rng.standard_normal((B, H)),
        "W": rng.standard_normal((G * H, I)),
        "U": rng.standard_normal((G * H, H)),
        "b": rng.standard_normal(G * H),
        "b_hn": rng.standard_normal(H),
    }
    sizes = [G * H] * 4 + ([H, H] if cell_norm else [])
    ln = [rng.standard_normal(n) + (1.0 if k % 2 == 0 else 0.0) for k, n in enumerate(sizes)]
    return arrays, ln


def test_lstm_ln_matches_torch_autograd():
    rng = np.random.default_rng(2)
    a, ln = random_args(rng, 4, cell_norm=True)
    dh, dh_T, dC_T = (rng.standard_normal(s) for s in ((5, 3, 3), (3, 3), (3, 3)))
    h, cache = lstm_ln_forward(a["x"], a["h0"], a["C0"], a["W"], a["U"], a["b"], ln)
    dx, dh0, dC0, grads = lstm_ln_backward(dh, dh_T, dC_T, cache, a["W"], a["U"], ln)
    names = ["x", "h0", "C0", "W", "U", "b"]
    t = {k: torch.tensor(a[k], requires_grad=True) for k in names}
    t_ln = [torch.tensor(v, requires_grad=True) for v in ln]
    th, th_T, tC_T = torch_lstm_ln(*(t[k] for k in names), t_ln)
    loss = (th * torch.tensor(dh)).sum() + (th_T * torch.tensor(dh_T)).sum()
    (loss + (tC_T * torch.tensor(dC_T)).sum()).backward()
    close(h, th.detach().numpy())
    close(cache.C[-1], tC_T.detach().numpy())
    for ours, theirs in zip([dx, dh0, dC0, *grads], [*t.values(), *t_ln], strict=True):
        close(ours, theirs.grad.numpy())


@pytest.mark.parametrize("reset_after", [False, True])
def test_gru_ln_matches_torch_autograd(reset_after):
    rng = np.random.default_rng(3)
    a, ln = random_args(rng, 3)
    b_hn = a["b_hn"] if reset_after else None
    dh, dh_T = rng.standard_normal((5, 3, 3)), rng.standard_normal((3, 3))
    h, cache = gru_ln_forward(a["x"], a["h0"], a["W"], a["U"], a["b"], b_hn, ln)
    dx, dh0, grads = gru_ln_backward(dh, dh_T, cache, a["W"], a["U"], ln, reset_after)
    names = ["x", "h0", "W", "U", "b"] + (["b_hn"] if reset_after else [])
    t = {k: torch.tensor(a[k], requires_grad=True) for k in names}
    t_ln = [torch.tensor(v, requires_grad=True) for v in ln]
    th, th_T = torch_gru_ln(*(t[k] for k in names[:5]), t.get("b_hn"), t_ln)
    ((th * torch.tensor(dh)).sum() + (th_T * torch.tensor(dh_T)).sum()).backward()
    close(h, th.detach().numpy())
    for ours, theirs in zip([dx, dh0, *grads], [*t.values(), *t_ln], strict=True):
        close(ours, theirs.grad.numpy())


def test_lstm_layer_norm_parameters():
    layer = LSTMLayer(3, 4, 2, layer_norm=True, seed=0)
    shapes = {k: v.shape for k, v in layer.params.items() if k.startswith("ln_")}
    assert shapes == {
        "ln_x_gain": (16,),
        "ln_x_bias": (16,),
        "ln_h_gain": (16,),
        "ln_h_bias": (16,),
        "ln_C_gain": (4,),
        "ln_C_bias": (4,),
    }
    plain = LSTMLayer(3, 4, 2, seed=0)
    assert layer.num_parameters() == plain.num_parameters() + 4 * 16 + 2 * 4
    for name, p in layer.params.items():
        if name.startswith("ln_"):
            np.testing.assert_array_equal(p, 1.0 if name.endswith("gain") else 0.0)
        else:  # the option does not change the initialisation of the shared parameters
            np.testing.assert_array_equal(p, plain.params[name], err_msg=name)
    assert set(layer.grads) == set(layer.params)


def test_gru_layer_norm_parameters_and_config_round_trip():
    layer = GRULayer(3, 4, layer_norm=True, reset_after=True, zoneout=0.1, zoneout_seed=7)
    ln = sorted(k for k in layer.params if k.startswith("ln_"))
    assert ln == ["ln_h_bias", "ln_h_gain", "ln_x_bias", "ln_x_gain"]
    assert layer.num_parameters() == GRULayer(3, 4, reset_after=True).num_parameters() + 4 * 12
    config = layer.get_config()
    assert config["layer_norm"] is True
    assert config["zoneout"] == 0.1
    assert config["zoneout_seed"] == 7
    rebuilt = registry.build(registry.describe(layer))
    assert rebuilt.get_config() == config
    assert {k: v.shape for k, v in rebuilt.params.items()} == {
        k: v.shape for k, v in layer.params.items()
    }


@pytest.mark.parametrize("cls", [LSTMLayer, GRULayer])
def test_layer_gradcheck_with_lengths_and_head(cls):
    """Layer-level: every named parameter (LN included) and x, through lengths and a head."""
    rng = np.random.default_rng(4)
    layer = cls(2, 3, 2, layer_norm=True, dtype=np.float64, seed=1)
    for p in layer.params.values():
        p[...] += 0.2 * rng.standard_normal(p.shape)
    x, R = rng.standard_normal((4, 2, 2)), rng.standard_normal((4, 2, 2))
    lengths = [4, 2]

    def loss():
        return float((layer.forward(x, lengths=lengths) * R).sum())

    layer.zero_grad()
    layer.forward(x, lengths=lengths)
    dx = layer.backward(R)
    assert rel_error(dx, numeric_gradient(loss, x)) < GRADCHECK_RTOL
    for name, p in layer.params.items():
        err = rel_error(layer.grads[name], numeric_gradient(loss, p))
        assert err < GRADCHECK_RTOL, f"{name}: {err:.2e}"


def test_layer_norm_must_be_bool():
    with pytest.raises(TypeError, match="layer_norm: expected True or False"):
        LSTMLayer(2, 3, layer_norm="yes")


@pytest.mark.parametrize("options", [{"layer_norm": True}, {"zoneout": 0.1}])
def test_to_torch_refuses_options_torch_lacks(options):
    with pytest.raises(ValueError, match="layer_norm and zoneout have no counterpart"):
        to_torch(LSTMLayer(2, 3, **options))
