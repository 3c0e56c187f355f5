"""from_torch / to_torch: round trips, dtypes, layouts and the errors for what cannot convert."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab import GRULayer, LSTMLayer, RNNLayer, models
from rnnlab.interop import from_torch, to_torch
from tests.conftest import TORCH_FLOAT64_ATOL, randomize_params

LAYERS = [
    (RNNLayer, {}, torch.nn.RNN),
    (LSTMLayer, {}, torch.nn.LSTM),
    (GRULayer, {"reset_after": True}, torch.nn.GRU),
]
IDS = ["rnn", "lstm", "gru"]


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize(("cls", "extra", "torch_cls"), LAYERS, ids=IDS)
def test_layer_to_torch_and_back_is_exact(cls, extra, torch_cls, batch_first):
    layer = cls(3, 4, dtype=np.float64, batch_first=batch_first, **extra)
    randomize_params(layer, np.random.default_rng(0))
    module = to_torch(layer)
    assert type(module) is torch_cls
    assert module.batch_first is batch_first
    assert module.weight_ih_l0.dtype == torch.float64
    back = from_torch(module)
    assert type(back) is cls
    assert back.get_config() == layer.get_config()
    for name, p in layer.params.items():
        np.testing.assert_array_equal(back.params[name], p, err_msg=name)


@pytest.mark.parametrize(("cls", "extra", "torch_cls"), LAYERS, ids=IDS)
def test_to_torch_computes_what_the_layer_computes(cls, extra, torch_cls):
    rng = np.random.default_rng(1)
    layer = cls(2, 3, dtype=np.float64, **extra)
    randomize_params(layer, rng)
    module = to_torch(layer)
    x = rng.standard_normal((5, 2, 2))
    with torch.no_grad():
        y_torch = module(torch.from_numpy(x))[0].numpy()
    np.testing.assert_allclose(layer(x), y_torch, rtol=0, atol=TORCH_FLOAT64_ATOL)


@pytest.mark.parametrize(("cls", "extra", "torch_cls"), LAYERS, ids=IDS)
def test_torch_to_layer_and_back_keeps_weights_and_function(cls, extra, torch_cls):
    """Weights come back exactly; the two biases come back folded (sum preserved)."""
    module = torch_cls(2, 3, dtype=torch.float64)
    with torch.no_grad():
        for p in module.parameters():
            p.uniform_(-1, 1, generator=torch.Generator().manual_seed(p.numel()))
    again = to_torch(from_torch(module))
    for name in ("weight_ih_l0", "weight_hh_l0"):
        torch.testing.assert_close(getattr(again, name), getattr(module, name), rtol=0, atol=0)
    H = 3
    added = slice(None) if torch_cls is not torch.nn.GRU else slice(0, 2 * H)
    torch.testing.assert_close(
        (again.bias_ih_l0 + again.bias_hh_l0)[added],
        (module.bias_ih_l0 + module.bias_hh_l0)[added],
        rtol=0,
        atol=1e-15,
    )
    if torch_cls is torch.nn.GRU:  # b_in and b_hn are separate terms: kept exactly
        torch.testing.assert_close(again.bias_ih_l0[2 * H :], module.bias_ih_l0[2 * H :])
        torch.testing.assert_close(again.bias_hh_l0[2 * H :], module.bias_hh_l0[2 * H :])
    x = torch.from_numpy(np.random.default_rng(2).standard_normal((4, 1, 2)))
    with torch.no_grad():
        torch.testing.assert_close(again(x)[0], module(x)[0], rtol=0, atol=TORCH_FLOAT64_ATOL)


def test_from_torch_dtype_follows_the_module_or_the_argument():
    module32 = torch.nn.LSTM(2, 3)
    assert from_torch(module32).dtype == np.float32
    assert from_torch(module32.double()).dtype == np.float64
    layer = from_torch(module32, dtype=np.float64)
    assert layer.dtype == np.float64
    np.testing.assert_array_equal(layer.params["W_i"], module32.weight_ih_l0.detach()[:3].numpy())


def test_from_torch_lstm_gate_blocks_by_hand():
    """PyTorch's i, f, g, o rows land in W_i, W_f, W_c, W_o; biases are summed."""
    module = torch.nn.LSTM(1, 1, dtype=torch.float64)
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.tensor([[1.0], [2.0], [3.0], [4.0]]))
        module.weight_hh_l0.copy_(torch.tensor([[5.0], [6.0], [7.0], [8.0]]))
        module.bias_ih_l0.copy_(torch.tensor([0.1, 0.2, 0.3, 0.4]))
        module.bias_hh_l0.copy_(torch.tensor([10.0, 20.0, 30.0, 40.0]))
    p = from_torch(module).params
    assert [p[f"W_{g}"].item() for g in "fico"] == [2.0, 1.0, 3.0, 4.0]
    assert [p[f"U_{g}"].item() for g in "fico"] == [6.0, 5.0, 7.0, 8.0]
    np.testing.assert_allclose([p[f"b_{g}"].item() for g in "fico"], [20.2, 10.1, 30.3, 40.4])


def test_from_torch_gru_gate_blocks_by_hand():
    """PyTorch's r, z, n rows land in W_r, W_z, W_h; b_hn is PyTorch's n block of bias_hh."""
    module = torch.nn.GRU(1, 1, dtype=torch.float64)
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.tensor([[1.0], [2.0], [3.0]]))
        module.weight_hh_l0.copy_(torch.tensor([[4.0], [5.0], [6.0]]))
        module.bias_ih_l0.copy_(torch.tensor([0.1, 0.2, 0.3]))
        module.bias_hh_l0.copy_(torch.tensor([10.0, 20.0, 30.0]))
    layer = from_torch(module)
    assert layer.reset_after is True
    p = layer.params
    assert [p[f"W_{g}"].item() for g in "zrh"] == [2.0, 1.0, 3.0]
    assert [p[f"U_{g}"].item() for g in "zrh"] == [5.0, 4.0, 6.0]
    np.testing.assert_allclose([p[f"b_{g}"].item() for g in "zrh"], [20.2, 10.1, 0.3])
    assert p["b_hn"].item() == 30.0


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("make", "batch_first"),
    [
        (lambda bf: LSTMLayer(2, 3, 2, dtype=np.float64, batch_first=bf), False),
        (lambda bf: GRULayer(2, 3, 2, reset_after=True, dtype=np.float64, batch_first=bf), True),
        (lambda bf: models.LSTM(2, 3, 2, output_size=2, dtype=np.float64, batch_first=bf), True),
        (
            lambda bf: models.RNN(
                2, 3, 2, bidirectional=True, output_size=2, dtype=np.float64, batch_first=bf
            ),
            False,
        ),
    ],
    ids=["lstm-layer", "gru-layer", "lstm-stack", "rnn-bidirectional-stack"],
)
def test_to_torch_converts_a_checkpointed_model_with_its_head(make, batch_first, tmp_path):
    """docs/training.md: to_torch(rnnlab.load(path)) converts a saved model, head included."""
    rng = np.random.default_rng(7)
    model = make(batch_first)
    randomize_params(model, rng)
    rnnlab.save(model, tmp_path / "m.safetensors")
    module = to_torch(rnnlab.load(tmp_path / "m.safetensors"))
    assert type(module).__name__ == "RecurrentWithHead"
    assert module.rnn.batch_first is batch_first
    x = rng.normal(size=(4, 3, 2))
    with torch.no_grad():
        y, _ = module(torch.from_numpy(x))
    np.testing.assert_allclose(y.numpy(), model.forward(x), rtol=0, atol=TORCH_FLOAT64_ATOL)
    keys = set(module.state_dict())
    assert {"head.weight", "head.bias", "rnn.weight_ih_l0"} <= keys


def test_to_torch_rejects_the_guides_gru():
    with pytest.raises(ValueError, match="reset_after=False"):
        to_torch(GRULayer(2, 3))


def test_to_torch_rejects_other_objects():
    with pytest.raises(TypeError, match=r"model: expected an rnnlab RNNLayer.*got Thing"):
        to_torch(object.__new__(type("Thing", (), {"output_size": None})))
    with pytest.raises(TypeError, match=r"model: expected an rnnlab .*got dict"):
        to_torch({"W": np.zeros((3, 2))})


@pytest.mark.parametrize(
    ("module", "match"),
    [
        (lambda: torch.nn.LSTM(2, 3, num_layers=2), "num_layers=2"),
        (lambda: torch.nn.GRU(2, 3, bidirectional=True), "bidirectional=True"),
        (lambda: torch.nn.LSTM(2, 4, proj_size=2), "proj_size=2"),
        (lambda: torch.nn.RNN(2, 3, bias=False), "bias=False"),
    ],
    ids=["num_layers", "bidirectional", "proj_size", "bias"],
)
def test_from_torch_rejects_what_rnnlab_has_no_form_for(module, match):
    with pytest.raises(ValueError, match=match):
        from_torch(module())


def test_from_torch_rejects_a_relu_rnn():
    with pytest.raises(ValueError, match="nonlinearity='relu'"):
        from_torch(torch.nn.RNN(2, 3, nonlinearity="relu"))


def test_from_torch_rejects_other_modules():
    with pytest.raises(TypeError, match=r"module: expected torch\.nn\.RNN.*got Linear"):
        from_torch(torch.nn.Linear(2, 3))


@pytest.mark.parametrize(
    ("layer", "match"),
    [
        (lambda: LSTMLayer(2, 3, layer_norm=True), "no exact .*layer_norm=True"),
        (lambda: GRULayer(2, 3, reset_after=True, layer_norm=True), "layer_norm=True"),
        (lambda: LSTMLayer(2, 3, zoneout=0.1), "no exact .*zoneout=0.1"),
        (lambda: LSTMLayer(2, 3, zoneout=(0.0, 0.2)), r"zoneout=\[0\.0, 0\.2\]"),
        (lambda: GRULayer(2, 3, reset_after=True, zoneout=0.3), "zoneout=0.3"),
    ],
    ids=["lstm-ln", "gru-ln", "lstm-zoneout", "lstm-zoneout-C", "gru-zoneout"],
)
def test_to_torch_rejects_options_pytorch_does_not_have(layer, match):
    """A silent conversion would drop them and compute another function."""
    with pytest.raises(ValueError, match=match):
        to_torch(layer())


def test_to_torch_accepts_init_only_options():
    layer = LSTMLayer(2, 3, forget_bias=1.0, zoneout=0.0, zoneout_seed=3)
    assert to_torch(layer).bias_ih_l0[:6].detach().numpy().tolist() == [0.0] * 3 + [1.0] * 3
