"""``recurrent_init``: the recurrent matrices U orthogonal (default), Xavier or He uniform."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab import GRULayer, LSTMLayer, RNNLayer, load, save

CLASSES = [RNNLayer, LSTMLayer, GRULayer]


@pytest.mark.parametrize("cls", CLASSES)
def test_default_is_orthogonal_per_gate_block(cls):
    layer = cls(3, 16, seed=0, dtype=np.float64)
    assert layer.get_config()["recurrent_init"] == "orthogonal"
    U = layer._w["U"]
    for k in range(layer.num_gates):
        block = U[k * 16 : (k + 1) * 16]
        np.testing.assert_allclose(block @ block.T, np.eye(16), atol=1e-12)


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize(("name", "limit"), [("xavier", np.sqrt(6 / 32)), ("he", np.sqrt(6 / 16))])
def test_xavier_and_he_draw_uniform_blocks_with_their_limits(cls, name, limit):
    layer = cls(3, 16, seed=0, dtype=np.float64, recurrent_init=name)
    U = layer._w["U"]
    assert np.abs(U).max() <= limit
    assert np.abs(U).max() > 0.9 * limit  # spread over the whole interval, not a smaller one
    block = U[:16]
    assert not np.allclose(block @ block.T, np.eye(16), atol=0.1)  # not orthogonal
    assert layer.get_config()["recurrent_init"] == name


def test_same_seed_same_input_weights_whatever_the_recurrent_init():
    """Only U changes: the draws for W come first in each gate block, in the same order."""
    a = LSTMLayer(3, 4, seed=5, recurrent_init="orthogonal")
    b = LSTMLayer(3, 4, seed=5, recurrent_init="xavier")
    np.testing.assert_array_equal(a.params["W_f"], b.params["W_f"])
    assert not np.array_equal(a.params["U_f"], b.params["U_f"])


def test_unknown_recurrent_init_is_refused_by_name():
    with pytest.raises(
        ValueError, match=r"recurrent_init: expected one of .*'orthogonal'.*got 'glorot'"
    ):
        GRULayer(2, 3, recurrent_init="glorot")


def test_checkpoint_keeps_the_recurrent_init(tmp_path):
    layer = GRULayer(2, 3, 1, seed=0, recurrent_init="he")
    save(layer, tmp_path / "g.safetensors")
    loaded = load(tmp_path / "g.safetensors")
    assert loaded.recurrent_init == "he"
    np.testing.assert_array_equal(loaded.params["U_z"], layer.params["U_z"])
