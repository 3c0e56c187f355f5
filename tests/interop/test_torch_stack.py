"""PyTorch parity of deep and bidirectional stacks (float64): outputs, final states and every
gradient (parameters, input, initial states), through from_torch_stack / to_torch_stack."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnlab.interop._common import TORCH_BLOCK as _TORCH_BLOCK
from rnnlab.interop._common import reorder as _reorder
from rnnlab.interop.torch_stack import from_torch_stack, to_torch_stack
from rnnlab.layers import GRULayer, LSTMLayer
from rnnlab.models import GRU, LSTM, RNN, Bidirectional
from tests.models.helpers import TORCH_FLOAT32_RTOL, TORCH_FLOAT64_ATOL, randomize, rel_error

TORCH = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
SHAPES = [(2, True), (2, False), (1, True), (3, True)]
SHAPE_IDS = ["L2-bi", "L2-uni", "L1-bi", "L3-bi"]


def _close(actual, expected):
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else expected
    np.testing.assert_allclose(actual, expected, rtol=0, atol=TORCH_FLOAT64_ATOL)


def _sublayers(model):
    """(layer index, direction, rnnlab layer) for every piece of a stack."""
    for l, level in enumerate(model.layers):
        pieces = (
            [level.forward_layer, level.reverse_layer]
            if isinstance(level, Bidirectional)
            else [level]
        )
        for d, layer in enumerate(pieces):
            yield l, d, layer


def _run_both(kind, num_layers, bidirectional, batch_first=False, seed=0):
    torch.manual_seed(seed)
    T, B, I, H = 5, 3, 4, 3
    module = TORCH[kind](
        I, H, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first,
        dtype=torch.float64,
    )  # fmt: skip
    model = from_torch_stack(module)
    rng = np.random.default_rng(seed)
    D = 2 if bidirectional else 1
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I))
    states = [
        rng.standard_normal((num_layers * D, B, H)) for _ in range(2 if kind == "lstm" else 1)
    ]
    R = rng.standard_normal((*x.shape[:2], D * H))
    R_final = [rng.standard_normal(s.shape) for s in states]

    x_t = torch.tensor(x, requires_grad=True)
    states_t = [torch.tensor(s, requires_grad=True) for s in states]
    y_t, final_t = module(x_t, tuple(states_t) if kind == "lstm" else states_t[0])
    finals_t = list(final_t) if kind == "lstm" else [final_t]
    loss = (y_t * torch.from_numpy(R)).sum()
    for f, r in zip(finals_t, R_final, strict=True):
        loss = loss + (f * torch.from_numpy(r)).sum()
    loss.backward()

    pack = tuple if kind == "lstm" else (lambda parts: parts[0])
    y = model(x, pack(states))
    finals = list(model.final_state) if kind == "lstm" else [model.final_state]
    dx = model.backward(R, pack(R_final))
    initial = list(model.grad_initial_state) if kind == "lstm" else [model.grad_initial_state]
    return module, model, (y, y_t), (finals, finals_t), (dx, x_t.grad), (initial, states_t)


@pytest.mark.parametrize(("num_layers", "bidirectional"), SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_parity_outputs_states_and_every_gradient(kind, num_layers, bidirectional):
    module, model, ys, finals, dxs, initials = _run_both(kind, num_layers, bidirectional)
    _close(*ys)
    for ours, theirs in zip(*finals, strict=True):
        _close(ours, theirs)
    _close(*dxs)
    for ours, theirs in zip(initials[0], initials[1], strict=True):
        _close(ours, theirs.grad)
    H = model.hidden_size
    blocks = _TORCH_BLOCK[kind]
    count = 0
    for l, d, layer in _sublayers(model):
        suffix = f"_l{l}" + ("_reverse" if d else "")
        grad = {
            name: getattr(module, name + suffix).grad.numpy()
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        }
        _close(layer._g["W"], _reorder(grad["weight_ih"], blocks, H))
        _close(layer._g["U"], _reorder(grad["weight_hh"], blocks, H))
        # b = b_ih + b_hh: one gradient for both (GRU: except n's b_hn, inside r ⊙ (.))
        _close(layer._g["b"], _reorder(grad["bias_ih"], blocks, H))
        if kind == "gru":
            _close(layer._g["b_hn"], grad["bias_hh"][2 * H :])
        count += 1
    assert count == num_layers * (2 if bidirectional else 1)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_parity_batch_first(kind):
    _, _, ys, finals, dxs, _ = _run_both(kind, 2, True, batch_first=True, seed=1)
    _close(*ys)
    _close(*dxs)
    for ours, theirs in zip(*finals, strict=True):
        _close(ours, theirs)


@pytest.mark.parametrize(
    ("cls", "options"),
    [(RNN, {}), (LSTM, {"forget_bias": 1.0}), (GRU, {"reset_after": True})],
    ids=["rnn", "lstm", "gru"],
)
def test_to_torch_stack_and_round_trip(cls, options):
    rng = np.random.default_rng(3)
    model = cls(
        3,
        4,
        num_layers=2,
        bidirectional=True,
        dropout=0.25,
        batch_first=True,
        dtype=np.float64,
        seed=0,
        **options,
    )
    randomize(model, rng)
    module = to_torch_stack(model)
    assert module.num_layers == 2
    assert module.bidirectional
    assert module.batch_first
    assert module.dropout == 0.25
    x = rng.standard_normal((2, 5, 3))
    module.eval()
    y_t, _ = module(torch.from_numpy(x))
    _close(model.eval()(x), y_t)
    back = from_torch_stack(module)
    assert back.get_config() | {"forget_bias": 0.0} == model.get_config() | {"forget_bias": 0.0}
    for key, value in model.params.items():
        np.testing.assert_allclose(back.params[key], value, rtol=0, atol=1e-15)


def test_bidirectional_layer_converts_and_dtype_follows_module():
    bi = Bidirectional(LSTMLayer(2, 3, dtype=np.float64, seed=0))
    module = to_torch_stack(bi)
    assert module.bidirectional
    assert module.num_layers == 1
    x = np.random.default_rng(0).standard_normal((4, 1, 2))
    _close(bi(x), module(torch.from_numpy(x))[0])
    float32 = from_torch_stack(torch.nn.GRU(2, 3, num_layers=2))
    assert float32.dtype == np.float32
    assert float32.layer_options["reset_after"]


def test_errors():
    with pytest.raises(ValueError, match="proj_size"):
        from_torch_stack(torch.nn.LSTM(2, 4, num_layers=2, proj_size=2))
    with pytest.raises(ValueError, match="bias=False"):
        from_torch_stack(torch.nn.GRU(2, 3, bias=False))
    with pytest.raises(ValueError, match="nonlinearity"):
        from_torch_stack(torch.nn.RNN(2, 3, nonlinearity="relu"))
    with pytest.raises(TypeError, match=r"torch\.nn\.RNN, LSTM or GRU"):
        from_torch_stack(torch.nn.Linear(2, 3))
    with pytest.raises(ValueError, match="output head"):
        to_torch_stack(LSTM(2, 3, num_layers=2, output_size=1))
    with pytest.raises(ValueError, match="reset_after"):
        to_torch_stack(GRU(2, 3, num_layers=2))
    with pytest.raises(ValueError, match="reset_after"):
        to_torch_stack(Bidirectional(GRULayer(2, 3)))
    with pytest.raises(TypeError, match="model: expected"):
        to_torch_stack(LSTMLayer(2, 3))


def test_float32_parity_within_named_tolerance():
    torch.manual_seed(4)
    module = torch.nn.LSTM(4, 5, num_layers=2, bidirectional=True)
    model = from_torch_stack(module)
    assert model.dtype == np.float32
    x = np.random.default_rng(4).standard_normal((6, 3, 4)).astype(np.float32)
    R = np.random.default_rng(5).standard_normal((6, 3, 10)).astype(np.float32)
    x_t = torch.tensor(x, requires_grad=True)
    y_t, _ = module(x_t)
    (y_t * torch.from_numpy(R)).sum().backward()
    y = model(x)
    dx = model.backward(R)
    assert rel_error(y, y_t.detach().numpy()) < TORCH_FLOAT32_RTOL
    assert rel_error(dx, x_t.grad.numpy()) < TORCH_FLOAT32_RTOL
    W_t = _reorder(module.weight_hh_l1_reverse.grad.numpy(), _TORCH_BLOCK["lstm"], 5)
    assert rel_error(model.layers[1].reverse_layer._g["U"], W_t) < TORCH_FLOAT32_RTOL
