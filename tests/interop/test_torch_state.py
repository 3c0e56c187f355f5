"""PyTorch extras: the state-dict view under PyTorch's names (loaded by real torch modules, also
through safetensors files) and nn.Linear heads, float64 parity 1e-10 and exact round trips."""

import numpy as np
import pytest
import safetensors.numpy
import safetensors.torch
import torch

from rnnlab import GRULayer, LSTMLayer, RNNLayer, models
from rnnlab.interop.torch_state import from_torch_with_head, state_dict_torch, to_torch_with_head
from tests.conftest import TORCH_FLOAT64_ATOL

FLOAT64_TOL = TORCH_FLOAT64_ATOL
INPUT_SIZE, HIDDEN_SIZE, OUTPUT_SIZE = 3, 4, 2
TORCH = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}


def randomize(model, rng):
    for name, value in model.params.items():
        model.params[name] = rng.normal(scale=0.7, size=value.shape)
    return model


def make_stack(kind, num_layers, bidirectional, rng, batch_first=False):
    options = {"reset_after": True} if kind == "gru" else {}
    stacks = {"rnn": models.RNN, "lstm": models.LSTM, "gru": models.GRU}
    stack = stacks[kind](
        INPUT_SIZE,
        HIDDEN_SIZE,
        num_layers,
        bidirectional=bidirectional,
        output_size=OUTPUT_SIZE,
        batch_first=batch_first,
        dtype=np.float64,
        **options,
    )
    return randomize(stack, rng)


class Net(torch.nn.Module):
    """What a PyTorch user writes: a recurrent module and a Linear head."""

    def __init__(self, kind, num_layers, bidirectional):
        super().__init__()
        self.rnn = TORCH[kind](
            INPUT_SIZE, HIDDEN_SIZE, num_layers, bidirectional=bidirectional, dtype=torch.float64
        )
        width = HIDDEN_SIZE * (2 if bidirectional else 1)
        self.head = torch.nn.Linear(width, OUTPUT_SIZE, dtype=torch.float64)

    def forward(self, x, state=None):
        y, final = self.rnn(x, state)
        return self.head(y), final


def as_torch(state):
    if isinstance(state, tuple):
        return tuple(torch.from_numpy(s) for s in state)
    return torch.from_numpy(state)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize(("num_layers", "bidirectional"), [(1, False), (2, True), (3, False)])
def test_state_dict_view_loads_into_torch_through_safetensors(
    kind, num_layers, bidirectional, tmp_path
):
    rng = np.random.default_rng(0)
    stack = make_stack(kind, num_layers, bidirectional, rng)
    path = tmp_path / "weights.safetensors"
    safetensors.numpy.save_file(state_dict_torch(stack, prefix="rnn.", head_prefix="head."), path)
    net = Net(kind, num_layers, bidirectional)
    net.load_state_dict(safetensors.torch.load_file(path), strict=True)
    LD = num_layers * (2 if bidirectional else 1)
    for num_steps, batch_size in [(1, 1), (6, 3)]:
        x = rng.normal(size=(num_steps, batch_size, INPUT_SIZE))
        h0 = rng.normal(size=(LD, batch_size, HIDDEN_SIZE))
        state = (h0, rng.normal(size=h0.shape)) if kind == "lstm" else h0
        y = stack.forward(x, state)
        with torch.no_grad():
            y_torch, final_torch = net(torch.from_numpy(x), as_torch(state))
        np.testing.assert_allclose(y, y_torch.numpy(), rtol=0, atol=FLOAT64_TOL)
        finals = stack.final_state if kind == "lstm" else (stack.final_state,)
        finals_torch = final_torch if kind == "lstm" else (final_torch,)
        for ours, theirs in zip(finals, finals_torch, strict=True):
            np.testing.assert_allclose(ours, theirs.numpy(), rtol=0, atol=FLOAT64_TOL)


def test_single_layer_state_dict_has_pytorch_names_and_split():
    layer = randomize(GRULayer(INPUT_SIZE, HIDDEN_SIZE, reset_after=True), np.random.default_rng(1))
    state = state_dict_torch(layer)
    assert sorted(state) == ["bias_hh_l0", "bias_ih_l0", "weight_hh_l0", "weight_ih_l0"]
    H = HIDDEN_SIZE
    # PyTorch's GRU blocks are r, z, n; b_hn is the n block of bias_hh
    np.testing.assert_array_equal(state["weight_ih_l0"][:H], layer.params["W_r"])
    np.testing.assert_array_equal(state["weight_ih_l0"][H : 2 * H], layer.params["W_z"])
    np.testing.assert_array_equal(state["bias_hh_l0"][2 * H :], layer.params["b_hn"])
    np.testing.assert_array_equal(state["bias_hh_l0"][: 2 * H], 0)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_linear_head_round_trip(kind, batch_first):
    rng = np.random.default_rng(2)
    stack = make_stack(kind, 2, True, rng, batch_first=batch_first)
    module, linear = to_torch_with_head(stack)
    assert module.batch_first == batch_first
    x = rng.normal(size=(3, 5, INPUT_SIZE))
    with torch.no_grad():
        y_torch = linear(module(torch.from_numpy(x))[0]).numpy()
    np.testing.assert_allclose(stack.forward(x), y_torch, rtol=0, atol=FLOAT64_TOL)
    back = from_torch_with_head(module, linear)
    assert type(back) is type(stack)
    assert back.get_config() == stack.get_config()
    for name, value in stack.params.items():
        np.testing.assert_array_equal(back.params[name], value, err_msg=name)


@pytest.mark.parametrize("cls", [RNNLayer, LSTMLayer])
def test_linear_head_on_a_single_layer(cls):
    rng = np.random.default_rng(3)
    layer = randomize(cls(INPUT_SIZE, HIDDEN_SIZE, OUTPUT_SIZE, dtype=np.float64), rng)
    module, linear = to_torch_with_head(layer)
    back = from_torch_with_head(module, linear)
    assert type(back) is cls
    np.testing.assert_array_equal(back._flat, layer._flat)
    x = rng.normal(size=(4, 2, INPUT_SIZE))
    with torch.no_grad():
        y_torch = linear(module(torch.from_numpy(x))[0]).numpy()
    np.testing.assert_allclose(layer.forward(x), y_torch, rtol=0, atol=FLOAT64_TOL)


def test_what_pytorch_lacks_is_refused():
    with pytest.raises(ValueError, match="reset_after=False"):
        state_dict_torch(GRULayer(INPUT_SIZE, HIDDEN_SIZE))
    mixed = models.Sequential(RNNLayer(INPUT_SIZE, HIDDEN_SIZE), LSTMLayer(HIDDEN_SIZE, 5))
    with pytest.raises(ValueError, match="single PyTorch module"):
        state_dict_torch(mixed)
    with pytest.raises(ValueError, match="proj_size"):
        from_torch_with_head(torch.nn.LSTM(INPUT_SIZE, HIDDEN_SIZE, proj_size=2))
    module = torch.nn.GRU(INPUT_SIZE, HIDDEN_SIZE)
    with pytest.raises(ValueError, match="in_features"):
        from_torch_with_head(module, torch.nn.Linear(HIDDEN_SIZE + 1, 2))
    with pytest.raises(TypeError, match="linear"):
        from_torch_with_head(module, torch.nn.Conv1d(1, 1, 1))
