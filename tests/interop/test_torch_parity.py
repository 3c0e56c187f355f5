"""PyTorch parity: outputs, final states and every gradient, over random shapes.

A random one-layer ``nn.RNN``/``nn.LSTM``/``nn.GRU`` is converted with ``from_torch``; both run
the same input and initial state and backpropagate the same loss
L = Σ y ⊙ R + Σ h(T) ⊙ R_h (+ Σ C(T) ⊙ R_C). PyTorch's gradients are mapped back to the guide's
names with a table written here, independently of ``rnnlab.interop``: PyTorch stacks LSTM gates
as i, f, g(=C̃), o and GRU gates as r, z, n, and keeps two bias vectors.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from rnnlab.interop import from_torch
from tests.conftest import (
    HYPOTHESIS_SETTINGS,
    TORCH_FLOAT32_RTOL,
    TORCH_FLOAT64_ATOL,
)

TORCH_CLASSES = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
# The guide's gate letter of PyTorch's row block k.
TORCH_GATE_LETTERS = {"lstm": ("i", "f", "c", "o"), "gru": ("r", "z", "h")}
TORCH_DTYPES = {np.float64: torch.float64, np.float32: torch.float32}


def random_torch_module(kind, I, H, dtype, batch_first, rng):
    """A PyTorch module whose parameters (both biases included) come from ``rng``."""
    module = TORCH_CLASSES[kind](I, H, batch_first=batch_first, dtype=TORCH_DTYPES[dtype])
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.from_numpy(0.5 * rng.standard_normal(tuple(p.shape))))
    return module


def torch_to_guide(kind, H, weight_ih, weight_hh, bias_ih, bias_hh):
    """PyTorch tensors (values or gradients) -> dict keyed by the guide's names.

    For gradients both PyTorch biases receive the same gradient wherever they are only added;
    the caller checks that too. For values the biases are summed, except GRU's n block where
    b_hh is b_hn (inside r ⊙ (U_h h + b_hn)).
    """
    w_ih, w_hh = weight_ih.detach().numpy(), weight_hh.detach().numpy()
    b_ih, b_hh = bias_ih.detach().numpy(), bias_hh.detach().numpy()
    if kind == "rnn":
        return {"W_xh": w_ih, "W_hh": w_hh, "b_h": b_ih + b_hh}
    out = {}
    for k, g in enumerate(TORCH_GATE_LETTERS[kind]):
        rows = slice(k * H, (k + 1) * H)
        out[f"W_{g}"], out[f"U_{g}"] = w_ih[rows], w_hh[rows]
        out[f"b_{g}"] = b_ih[rows] if kind == "gru" and g == "h" else b_ih[rows] + b_hh[rows]
    if kind == "gru":
        out["b_hn"] = b_hh[2 * H :]
    return out


def torch_run(module, kind, x, h0, c0, R, R_h, R_C):
    """Forward and backward in PyTorch; returns outputs and gradients as NumPy arrays."""
    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(h0[None], requires_grad=True)  # PyTorch's (num_layers, B, H)
    module.zero_grad()
    if kind == "lstm":
        c0t = torch.tensor(c0[None], requires_grad=True)
        y, (hn, cn) = module(xt, (h0t, c0t))
        loss = (y * torch.from_numpy(R)).sum() + (hn[0] * torch.from_numpy(R_h)).sum()
        loss = loss + (cn[0] * torch.from_numpy(R_C)).sum()
    else:
        y, hn = module(xt, h0t)
        loss = (y * torch.from_numpy(R)).sum() + (hn[0] * torch.from_numpy(R_h)).sum()
    loss.backward()
    result = {"y": y.detach().numpy(), "h_T": hn[0].detach().numpy(), "dx": xt.grad.numpy()}
    result["dh0"] = h0t.grad[0].numpy()
    if kind == "lstm":
        result["C_T"], result["dc0"] = cn[0].detach().numpy(), c0t.grad[0].numpy()
    return result


# float32 errors are measured relative to the scale of a group of related arrays, not of each
# array alone: a gradient like dU_c with H=1 is one number, a sum over T*B terms that may cancel
# to 1/100 of their size, and float32 cannot hold such a result to 1e-5 of itself (PyTorch does
# not either). Forward values are sums of tanh/sigmoid products bounded by 1 (h = z h_prev +
# (1-z) h̃), so their scale is at least 1.
GROUPS = {
    "forward": ("y", "h_T", "C_T"),
    "input gradients": ("dx", "dh0", "dc0"),
}


def group_of(name):
    for group, names in GROUPS.items():
        if name in names:
            return group
    return "parameter gradients"


def assert_matches_reference(ours, ref, dtype):
    assert set(ours) == set(ref)
    scales = {"forward": 1.0}
    for name, value in ref.items():
        group = group_of(name)
        scales[group] = max(scales.get(group, 0.0), float(np.max(np.abs(value))))
    for name, value in ref.items():
        actual = ours[name]
        assert actual.dtype == dtype, (name, actual.dtype)
        assert actual.shape == value.shape, (name, actual.shape, value.shape)
        if dtype == np.float64:
            np.testing.assert_allclose(actual, value, rtol=0, atol=TORCH_FLOAT64_ATOL, err_msg=name)
        else:
            err = np.max(np.abs(actual - value)) / scales[group_of(name)]
            assert err < TORCH_FLOAT32_RTOL, f"{name}: error {err:.2e} relative to its group"


def check_converted_params(kind, H, module, layer):
    """The converted parameters are PyTorch's, renamed and folded (exactly)."""
    expected = torch_to_guide(
        kind, H, module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0, module.bias_hh_l0
    )
    assert set(expected) == set(layer.params)
    for name, value in expected.items():
        np.testing.assert_array_equal(layer.params[name], value.astype(layer.dtype), err_msg=name)


def torch_grads_by_guide_name(kind, H, module):
    g = {n: p.grad for n, p in module.named_parameters()}
    # Where a bias is only added, PyTorch's two bias gradients are equal, and each is ours.
    only_added = slice(None) if kind != "gru" else slice(0, 2 * H)
    torch.testing.assert_close(g["bias_ih_l0"][only_added], g["bias_hh_l0"][only_added])
    bias_hh = g["bias_hh_l0"] if kind == "gru" else torch.zeros_like(g["bias_hh_l0"])
    grads = torch_to_guide(kind, H, g["weight_ih_l0"], g["weight_hh_l0"], g["bias_ih_l0"], bias_hh)
    if kind == "gru":  # b_z, b_r: one gradient, not the sum of PyTorch's two equal ones
        for k, letter in enumerate(TORCH_GATE_LETTERS["gru"][:2]):
            grads[f"b_{letter}"] = g["bias_ih_l0"][k * H : (k + 1) * H].numpy()
    return grads


def rnnlab_run(layer, kind, x, h0, c0, R, R_h, R_C):
    """Forward and backward in rnnlab, with the names of :func:`torch_run`."""
    y = layer.forward(x, (h0, c0) if kind == "lstm" else h0)
    layer.zero_grad()
    dx = layer.backward(R, (R_h, R_C) if kind == "lstm" else R_h)
    result = {"y": y, "dx": dx}
    if kind == "lstm":
        (result["h_T"], result["C_T"]) = layer.final_state
        (result["dh0"], result["dc0"]) = layer.grad_initial_state
    else:
        result["h_T"], result["dh0"] = layer.final_state, layer.grad_initial_state
    result |= {f"grad {name}": g for name, g in layer.grads.items()}
    return result


def check_parity(kind, dtype, T, B, I, H, batch_first, seed):
    """rnnlab at ``dtype`` against PyTorch on the same parameters and inputs.

    float64 is compared with PyTorch's float64 to an absolute 1e-10. float32 is compared with
    PyTorch run in float64 on the very same (float32-representable) numbers, to 1e-5 relative
    (see GROUPS): that measures our float32 error against the exact function. PyTorch's own
    float32 gradients are not a sharper reference: on one drawn case (LSTM, T=2, B=I=H=1) its
    float32 db_c was 1.2e-5 (relative) away from its float64 value, where rnnlab's was 1e-8
    away. Forward values are also compared float32 to float32.
    """
    rng = np.random.default_rng(seed)
    module = random_torch_module(kind, I, H, dtype, batch_first, rng)
    layer = from_torch(module)
    # The reference (the definition) against PyTorch; the fast kernels are held to the
    # reference in tests/test_kernels_cpu.py.
    layer.backend = "reference"
    assert layer.dtype == dtype
    assert layer.batch_first == batch_first
    assert getattr(layer, "reset_after", True)  # PyTorch's GRU is the reset-after form
    check_converted_params(kind, H, module, layer)

    def draw(*shape):
        return rng.standard_normal(shape).astype(dtype)

    x = draw(B, T, I) if batch_first else draw(T, B, I)
    h0, c0, R_h, R_C = draw(B, H), draw(B, H), draw(B, H), draw(B, H)
    R = draw(*x.shape[:2], H)
    inputs = (x, h0, c0, R, R_h, R_C)
    ours = rnnlab_run(layer, kind, *inputs)

    if dtype == np.float32:
        same_precision = torch_run(module, kind, *inputs)
        forward = {n: ours[n] for n in GROUPS["forward"] if n in ours}
        assert_matches_reference(forward, {n: same_precision[n] for n in forward}, dtype)
        module = module.double()
        inputs = tuple(a.astype(np.float64) for a in inputs)
    ref = torch_run(module, kind, *inputs)
    ref |= {f"grad {n}": g for n, g in torch_grads_by_guide_name(kind, H, module).items()}
    assert_matches_reference(ours, ref, dtype)


shapes = st.tuples(
    st.integers(1, 6),  # T
    st.integers(1, 4),  # B
    st.integers(1, 4),  # I
    st.integers(1, 5),  # H
    st.booleans(),  # batch_first
    st.integers(0, 2**32 - 1),  # seed
)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@HYPOTHESIS_SETTINGS
@given(shape=shapes)
def test_parity_with_pytorch(kind, dtype, shape):
    check_parity(kind, dtype, *shape)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_parity_with_pytorch_at_all_sizes_one(kind):
    """T = B = I = H = 1 explicitly, whatever hypothesis happens to draw."""
    check_parity(kind, np.float64, 1, 1, 1, 1, False, 0)
