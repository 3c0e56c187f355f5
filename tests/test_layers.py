"""The layers' public contract: the guide's numbers, params as live storage, input layouts,
states, seeds and initialisation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnlab import GRULayer, LSTMLayer, RNNLayer
from tests.conftest import HYPOTHESIS_SETTINGS, LAYER_IDS, LAYER_VARIANTS, randomize_params

CLASSES = [RNNLayer, LSTMLayer, GRULayer]
CLASS_IDS = ["rnn", "lstm", "gru"]


# ----------------------------------------------------------------------------- the guide's numbers
@pytest.mark.parametrize(
    ("I", "H", "expected"),
    [(1, 8, (80, 320, 240)), (10, 50, (3050, 12200, 9150))],
)
def test_parameter_counts_are_the_guides(I, H, expected):
    counts = tuple(cls(I, H).num_parameters() for cls in CLASSES)
    assert counts == expected
    # the guide's formula for the RNN, and 4x / 3x of it for LSTM / GRU
    assert counts[0] == I * H + H * H + H
    assert counts[1:] == (4 * counts[0], 3 * counts[0])
    assert GRULayer(I, H, reset_after=True).num_parameters() == expected[2] + H  # b_hn


@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
def test_output_head_adds_W_hy_and_b_y(cls):
    without, with_head = cls(10, 50), cls(10, 50, 3)
    assert with_head.num_parameters() == without.num_parameters() + 3 * 50 + 3
    assert with_head.num_parameters() == sum(p.size for p in with_head.params.values())


def test_parameter_bytes_are_the_guides():
    """The guide: RNN ~640 bytes, LSTM ~2.5 KB, GRU ~1.9 KB at (1, 8), 8-byte floats."""
    nbytes = [cls(1, 8, dtype=np.float64).nbytes for cls in CLASSES]
    assert nbytes == [640, 2560, 1920]
    assert [cls(1, 8).nbytes for cls in CLASSES] == [320, 1280, 960]  # float32 default


def test_summary_lists_every_parameter_with_shape_count_and_bytes():
    layer = LSTMLayer(10, 50, 2, dtype=np.float64)
    text = layer.summary()
    lines = text.splitlines()
    assert lines[0].startswith("LSTMLayer(")
    for name, p in layer.params.items():
        row = next(line for line in lines if line.split()[0] == name)
        assert str(tuple(p.shape)).replace(" ", "") in row.replace(" ", "")
        assert f"{p.size:,}" in row
        assert f"{p.nbytes:,}" in row
    total = next(line for line in lines if line.startswith("total"))
    assert f"{layer.num_parameters():,}" in total  # 12,302
    assert f"{layer.nbytes:,}" in total  # 98,416


# ----------------------------------------------------------------------------- params and grads
EXPECTED_NAMES = {
    "rnn": {"W_xh": "HI", "W_hh": "HH", "b_h": "H"},
    "lstm": {f"{m}_{g}": s for m, s in (("W", "HI"), ("U", "HH"), ("b", "H")) for g in "fico"},
    "gru": {f"{m}_{g}": s for m, s in (("W", "HI"), ("U", "HH"), ("b", "H")) for g in "zrh"},
}
EXPECTED_NAMES["gru_reset_after"] = EXPECTED_NAMES["gru"] | {"b_hn": "H"}


@pytest.mark.parametrize("head", [None, 2])
@pytest.mark.parametrize("variant", LAYER_VARIANTS, ids=LAYER_IDS)
def test_param_and_grad_names_and_shapes(variant, head):
    name, cls, extra = variant
    layer = cls(3, 5, head, **extra)
    sizes = {"H": 5, "I": 3}
    expected = {k: tuple(sizes[c] for c in s) for k, s in EXPECTED_NAMES[name].items()}
    if head:
        expected |= {"W_hy": (2, 5), "b_y": (2,)}
    assert {k: v.shape for k, v in layer.params.items()} == expected
    assert {k: v.shape for k, v in layer.grads.items()} == expected
    assert all(p.dtype == np.float32 for p in layer.params.values())


@pytest.mark.parametrize("variant", LAYER_VARIANTS, ids=LAYER_IDS)
def test_params_are_live_storage(variant):
    _, cls, extra = variant
    layer = cls(2, 3, 2, dtype=np.float64, seed=0, **extra)
    x = np.random.default_rng(0).standard_normal((4, 2, 2))
    before = layer(x)
    view = layer.params["b_y"]
    view[...] += 1.0  # writing into the dict's array changes the layer
    np.testing.assert_allclose(layer(x), before + 1.0, rtol=0, atol=1e-15)
    first_input_weight = next(iter(layer.params))  # W_xh or W_f or W_z
    layer.params[first_input_weight][...] = 0.0
    assert not np.allclose(layer(x), before + 1.0)


@pytest.mark.parametrize("variant", LAYER_VARIANTS, ids=LAYER_IDS)
def test_param_assignment_copies_into_the_storage(variant):
    _, cls, extra = variant
    layer = cls(2, 3, dtype=np.float64, seed=0, **extra)
    x = np.random.default_rng(1).standard_normal((4, 2, 2))
    name = next(k for k in layer.params if k.startswith("U_") or k == "W_hh")
    view = layer.params[name]
    new = np.zeros((3, 3))
    layer.params[name] = new
    assert layer.params[name] is view  # same storage, new values
    np.testing.assert_array_equal(view, 0.0)
    y_zero_recurrent = layer(x)
    new[...] = 5.0  # the caller's array is not aliased
    np.testing.assert_array_equal(layer(x), y_zero_recurrent)


def test_gate_views_share_one_buffer():
    """W_f..W_o are adjacent blocks of one stacked matrix: no copy between them."""
    layer = LSTMLayer(3, 4)
    views = [layer.params[f"W_{g}"] for g in "fico"]
    base = views[0].base
    assert all(v.base is base for v in views)
    assert all(np.shares_memory(v, base) for v in views)
    assert all(np.shares_memory(layer.grads[k], layer.grads["W_f"].base) for k in ("U_o", "b_c"))


# ----------------------------------------------------------------------------- the guide's usage
def test_the_guides_usage_example():
    sequence = [np.array([[np.sin(t * 0.1)]]) for t in range(10)]
    x = np.array(sequence)  # (10, 1, 1)
    rnn = RNNLayer(input_size=1, hidden_size=32, output_size=1, seed=0)
    output = rnn.forward(sequence)
    assert output.shape == (10, 1, 1)
    np.testing.assert_array_equal(output, rnn.forward(x))

    lstm = LSTMLayer(input_size=1, hidden_size=64, output_size=1, seed=0)
    output = lstm.forward(sequence)
    assert output.shape == (10, 1, 1)
    cell_state = lstm.get_cell_states()[-1]
    assert cell_state.shape == (1, 64)
    np.testing.assert_array_equal(cell_state, lstm.final_state[1])
    assert np.any(cell_state != 0)

    gru = GRULayer(input_size=1, hidden_size=48, output_size=1, seed=0)
    output = gru(sequence)
    assert output.shape == (10, 1, 1)
    assert np.all(np.isfinite(output))


# ----------------------------------------------------------------------------- layouts
layout_shapes = st.tuples(
    st.integers(1, 5), st.integers(1, 4), st.integers(1, 3), st.integers(1, 4), st.integers(0, 99)
)


@pytest.mark.parametrize("variant", LAYER_VARIANTS, ids=LAYER_IDS)
@HYPOTHESIS_SETTINGS
@given(shape=layout_shapes)
def test_batch_first_list_and_single_inputs_equal_the_time_major_array(variant, shape):
    _, cls, extra = variant
    T, B, I, H, seed = shape
    rng = np.random.default_rng(seed)
    layer = cls(I, H, 2, dtype=np.float64, seed=seed, **extra)
    randomize_params(layer, rng)
    x = rng.standard_normal((T, B, I))
    dy = rng.standard_normal((T, B, 2))
    y = layer.forward(x)
    dx = layer.backward(dy)

    layer.batch_first = True  # same parameters, (B, T, I) layout
    np.testing.assert_array_equal(layer.forward(x.transpose(1, 0, 2)), y.transpose(1, 0, 2))
    np.testing.assert_allclose(layer.backward(dy.transpose(1, 0, 2)), dx.transpose(1, 0, 2))
    layer.batch_first = False

    steps = [x[t] for t in range(T)]  # the guide's list of (B, I) matrices
    np.testing.assert_array_equal(layer.forward(steps), y)
    dx_steps = layer.backward(dy)
    assert isinstance(dx_steps, list)
    assert len(dx_steps) == T
    np.testing.assert_allclose(np.stack(dx_steps), dx)

    for b in range(B):  # one sequence at a time, (T, I), equals its column of the batch
        np.testing.assert_allclose(layer.forward(x[:, b]), y[:, b], rtol=0, atol=1e-14)
        np.testing.assert_allclose(layer.backward(dy[:, b]), dx[:, b], rtol=0, atol=1e-14)
        single_steps = [x[t, b] for t in range(T)]  # (I,) steps: one sequence too
        np.testing.assert_allclose(layer.forward(single_steps), y[:, b], rtol=0, atol=1e-14)
        dx_single = layer.backward(dy[:, b])
        assert [d.shape for d in dx_single] == [(I,)] * T


@pytest.mark.parametrize("variant", LAYER_VARIANTS, ids=LAYER_IDS)
def test_state_shapes_after_forward(variant):
    _, cls, extra = variant
    layer = cls(3, 4, **extra)
    layer.forward(np.zeros((5, 2, 3)))
    assert layer.hidden_states.shape == (5, 2, 4)
    final = layer.final_state
    if layer.has_cell_state:
        assert [s.shape for s in final] == [(2, 4), (2, 4)]
        assert layer.cell_states.shape == (5, 2, 4)
        np.testing.assert_array_equal(final[0], layer.hidden_states[-1])
        np.testing.assert_array_equal(final[1], layer.cell_states[-1])
    else:
        assert final.shape == (2, 4)
        np.testing.assert_array_equal(final, layer.hidden_states[-1])
    layer.backward(np.ones((5, 2, 4)))
    grad0 = layer.grad_initial_state
    if layer.has_cell_state:
        assert [g.shape for g in grad0] == [(2, 4), (2, 4)]
    else:
        assert grad0.shape == (2, 4)

    layer.forward(np.zeros((5, 3)))  # one sequence: no batch axis anywhere
    assert layer.hidden_states.shape == (5, 4)
    final = layer.final_state
    if layer.has_cell_state:
        assert [s.shape for s in final] == [(4,), (4,)]
        assert layer.get_cell_states().shape == (5, 4)
    else:
        assert final.shape == (4,)


def test_final_state_continues_a_sequence():
    """Running x[:3] then x[3:] from the final state equals running x in one go."""
    layer = LSTMLayer(2, 3, dtype=np.float64, seed=0)
    x = np.random.default_rng(2).standard_normal((7, 2, 2))
    whole = layer(x)
    first = layer(x[:3])
    second = layer(x[3:], layer.final_state)
    np.testing.assert_allclose(np.concatenate([first, second]), whole, rtol=0, atol=1e-15)


def test_other_float_precisions_are_cast_to_the_layer_dtype():
    x64 = np.random.default_rng(3).standard_normal((4, 2, 3))
    layer32 = GRULayer(3, 5, seed=0)
    y = layer32(x64)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, layer32(x64.astype(np.float32)))
    assert layer32.backward(np.ones((4, 2, 5))).dtype == np.float32
    layer64 = GRULayer(3, 5, seed=0, dtype=np.float64)
    assert layer64(x64.astype(np.float32)).dtype == np.float64
    assert layer64(x64.astype(np.float16)).dtype == np.float64


# ----------------------------------------------------------------------------- dict operations
def test_params_update_copies_into_the_storage():
    """update and |= assign through the shape check, like [] = (never detach the views)."""
    layer = RNNLayer(2, 3, dtype=np.float64, seed=0)
    x = np.ones((2, 1, 2))
    view = layer.params["W_xh"]
    layer.params.update({"W_xh": np.zeros((3, 2))}, b_h=np.full(3, 0.5))
    assert layer.params["W_xh"] is view
    np.testing.assert_array_equal(layer(x)[0, 0], np.tanh(np.full(3, 0.5)))
    layer.params |= {"b_h": np.zeros(3)}
    np.testing.assert_array_equal(layer(x), 0.0)
    with pytest.raises(ValueError, match=r"W_hh: expected shape \(3, 3\)"):
        layer.params.update({"W_hh": np.zeros((2, 2))})
    with pytest.raises(KeyError, match="no parameter named 'W_q'"):
        layer.params.update(W_q=np.zeros(3))
    with pytest.raises(TypeError, match="b_h: expected real numbers, got dtype <U1"):
        layer.params["b_h"] = np.array(["a", "b", "c"])


@pytest.mark.parametrize("operation", ["pop", "del", "clear", "popitem", "setdefault"])
def test_params_names_are_fixed(operation):
    layer = GRULayer(2, 3)
    do = {
        "pop": lambda p: p.pop("W_z"),
        "del": lambda p: p.__delitem__("W_z"),
        "clear": lambda p: p.clear(),
        "popitem": lambda p: p.popitem(),
        "setdefault": lambda p: p.setdefault("W_q", 0),
    }[operation]
    with pytest.raises(TypeError, match="parameter names of a layer are fixed"):
        do(layer.params)
    assert len(layer.params) == 9


@pytest.mark.parametrize("variant", LAYER_VARIANTS, ids=LAYER_IDS)
def test_deepcopy_makes_an_independent_working_layer(variant):
    import copy

    _, cls, extra = variant
    layer = cls(2, 3, 1, dtype=np.float64, seed=0, **extra)
    x = np.random.default_rng(0).standard_normal((4, 2, 2))
    y = layer(x)
    twin = copy.deepcopy(layer)
    assert twin.get_config() == layer.get_config()
    np.testing.assert_array_equal(twin.backward(np.ones_like(y)), layer.backward(np.ones_like(y)))
    for name in layer.grads:
        np.testing.assert_array_equal(twin.grads[name], layer.grads[name])
    first = next(iter(twin.params))
    twin.params[first][...] = 0.0  # the copy's params are views of the copy's own storage
    assert not np.array_equal(twin(x), y)
    np.testing.assert_array_equal(layer(x), y)  # the original is untouched
    snapshot = copy.deepcopy(layer.params)  # the same names over detached copies
    assert list(snapshot) == list(layer.params)
    assert not any(np.shares_memory(snapshot[k], layer.params[k]) for k in snapshot)
    layer.params[first][...] += 1.0
    assert not np.array_equal(snapshot[first], layer.params[first])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("variant", LAYER_VARIANTS, ids=LAYER_IDS)
def test_saturating_inputs_stay_finite_without_warnings(variant, dtype):
    """Huge pre-activations saturate the gates; nothing overflows (no input clipping needed)."""
    import warnings

    _, cls, extra = variant
    layer = cls(2, 3, 1, dtype=dtype, seed=0, **extra)
    x = np.array([[[1e30, -1e30]]] * 3, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = layer(x)
        dx = layer.backward(np.ones_like(y))
    assert np.all(np.isfinite(y))
    assert np.all(np.isfinite(dx))
    assert all(np.all(np.isfinite(g)) for g in layer.grads.values())


def test_one_output_head_gradient_is_the_matrix_product_exactly():
    """times_rows: with one output unit the head's input gradient is the broadcast product,
    bit for bit what dy @ W gives (one multiplication per element), for any batch shape."""
    from rnnlab.backend import times_rows

    rng = np.random.default_rng(0)
    for shape in [(5, 3, 1), (7, 1), (1,)]:
        dy = rng.standard_normal(shape)
        W = rng.standard_normal((1, 4))
        got = times_rows(dy, W)
        np.testing.assert_array_equal(got, dy @ W)
        assert got.shape == (dy @ W).shape
    dy, W = rng.standard_normal((5, 3, 2)), rng.standard_normal((2, 4))  # several outputs
    np.testing.assert_array_equal(times_rows(dy, W), dy @ W)
