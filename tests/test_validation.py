"""Bad input: a ValueError or TypeError that names the argument, never a wrong answer.

Each case matches the message: the argument's name and, where there is one, what was expected
and what came.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from rnnlab import GRULayer, LSTMLayer, RNNLayer
from rnnlab.layers import ForwardRequiredError

CLASSES = [RNNLayer, LSTMLayer, GRULayer]
CLASS_IDS = ["rnn", "lstm", "gru"]
I, H = 3, 4


def _state(cls, h0, c0=None):
    return (h0, np.zeros((2, H)) if c0 is None else c0) if cls is LSTMLayer else h0


# ----------------------------------------------------------------------------- construction
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"hidden_size": 0}, ValueError, "hidden_size: expected a positive integer, got 0"),
        ({"hidden_size": -3}, ValueError, "hidden_size: expected a positive integer, got -3"),
        ({"input_size": 0}, ValueError, "input_size: expected a positive integer, got 0"),
        ({"input_size": -1}, ValueError, "input_size"),
        ({"output_size": 0}, ValueError, "output_size: expected a positive integer, got 0"),
        ({"hidden_size": 4.0}, TypeError, r"hidden_size: expected a positive integer, got 4\.0"),
        ({"input_size": 2.5}, TypeError, "input_size"),
        ({"input_size": "3"}, TypeError, "input_size"),
        ({"hidden_size": True}, TypeError, r"hidden_size: .*got True \(bool\)"),
        ({"output_size": False}, TypeError, "output_size"),
        ({"hidden_size": None}, TypeError, "hidden_size"),
        ({"output_size": 1.0}, TypeError, "output_size: expected a positive integer or None"),
        ({"dtype": np.int32}, TypeError, "dtype: expected float32 or float64, got int32"),
        ({"dtype": np.float16}, TypeError, "dtype: expected float32 or float64, got float16"),
        ({"dtype": "complex128"}, TypeError, "dtype"),
        ({"dtype": "nonsense"}, TypeError, "dtype"),
        ({"dtype": None}, TypeError, "dtype: expected float32 or float64, got None"),
        ({"seed": 1.5}, TypeError, "seed"),
        ({"seed": True}, TypeError, "seed"),
        ({"seed": -1}, ValueError, "seed: expected a non-negative integer, got -1"),
        ({"batch_first": 1}, TypeError, "batch_first: expected True or False, got 1"),
        ({"init": "uniform"}, ValueError, "init: expected one of"),
        ({"backend": "fortran"}, ValueError, "backend: expected one of"),
    ],
)
@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
def test_bad_constructor_arguments(cls, kwargs, error, match):
    args = {"input_size": I, "hidden_size": H} | kwargs
    with pytest.raises(error, match=match):
        cls(**args)


def test_numpy_integer_sizes_are_sizes():
    layer = RNNLayer(np.int64(3), np.int32(4), np.uint8(2))
    assert (layer.input_size, layer.hidden_size, layer.output_size) == (3, 4, 2)
    assert type(layer.hidden_size) is int


def test_bad_cell_specific_arguments():
    with pytest.raises(TypeError, match="forget_bias: expected a real number"):
        LSTMLayer(I, H, forget_bias="1")
    with pytest.raises(ValueError, match="forget_bias: expected a finite number, got nan"):
        LSTMLayer(I, H, forget_bias=float("nan"))
    with pytest.raises(TypeError, match="reset_after: expected True or False, got 1"):
        GRULayer(I, H, reset_after=1)


# ----------------------------------------------------------------------------- x
X_GOOD = np.zeros((5, 2, I))
BAD_X = [
    (np.zeros((5, 2, 7)), ValueError, r"x: expected last dimension 3 \(input_size\), got 7"),
    (np.zeros((5, 7)), ValueError, r"x: expected last dimension 3 \(input_size\), got 7"),
    (np.zeros(3), ValueError, r"x: expected 3 dimensions .* got 1 dimensions"),
    (np.zeros((1, 5, 2, 3)), ValueError, "x: expected 3 dimensions .* got 4 dimensions"),
    (np.float64(1.0), ValueError, "x: expected 3 dimensions .* got 0 dimensions"),
    (np.zeros((0, 2, I)), ValueError, r"x: expected at least one time step, got shape \(0, 2, 3\)"),
    (np.zeros((0, I)), ValueError, "x: expected at least one time step"),
    (np.zeros((5, 0, I)), ValueError, "x: expected at least one sequence in the batch"),
    (np.full((5, 2, I), np.nan), ValueError, "x: expected finite values, got NaN"),
    (np.full((5, 2, I), np.inf), ValueError, "x: expected finite values, got inf"),
    (np.full((5, 2, I), -np.inf), ValueError, "x: expected finite values, got inf"),
    ("abc", TypeError, "x: expected a floating-point array, got str"),
    (b"abc", TypeError, "x: expected a floating-point array, got bytes"),
    (None, TypeError, "x: expected a floating-point array"),
    (np.array([[[object()] * I]]), TypeError, "x: expected a floating-point array .* object"),
    (np.zeros((5, 2, I), dtype=int), TypeError, "x: .* got dtype int64"),
    (np.zeros((5, 2, I), dtype=bool), TypeError, "x: .* got dtype bool"),
    (np.zeros((5, 2, I), dtype=complex), TypeError, "x: .* got dtype complex128"),
    (np.zeros((5, 2, I), dtype="U1"), TypeError, "x: .* got dtype <U1"),
    # lists of steps, the guide's std::vector<Matrix>
    ([], ValueError, "x: expected at least one time step, got an empty list"),
    (
        [np.zeros((2, I)), np.zeros((3, I))],
        ValueError,
        r"x: expected every step to have the shape of step 0, \(2, 3\), got \(3, 3\) at step 1",
    ),
    ([np.zeros((1, I)), np.zeros(I)], ValueError, "x: expected every step to have the shape"),
    ([np.zeros((2, 5))], ValueError, r"x\[0\]: expected a step of shape \(B, 3\)"),
    ([np.zeros((1, 2, I))], ValueError, r"x\[0\]: expected a step of shape"),
    ([0.5, 0.25], ValueError, r"x\[0\]: expected a step of shape"),
    ([np.zeros((0, I))], ValueError, r"x\[0\]: expected at least one sequence in the batch"),
    ([np.zeros((1, I)), np.full((1, I), np.nan)], ValueError, r"x\[1\]: expected finite values"),
    (["abc"], TypeError, r"x\[0\]: expected a floating-point array, got str"),
    ([np.zeros((1, I), dtype=int)], TypeError, r"x\[0\]: .* got dtype int64"),
    ([[[0.0, 1.0, 2.0], [0.0, 1.0]]], TypeError, r"x\[0\]: .* could not convert"),
]


@pytest.mark.parametrize(("x", "error", "match"), BAD_X)
@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
def test_bad_x(cls, x, error, match):
    layer = cls(I, H)
    with pytest.raises(error, match=match):
        layer.forward(x)


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (np.zeros((2, 5, 7)), r"x: expected last dimension 3 \(input_size\), got 7"),
        (np.zeros((2, 0, I)), r"x: expected at least one time step, got shape \(2, 0, 3\)"),
        (np.zeros((0, 5, I)), "x: expected at least one sequence in the batch"),
        (np.zeros((2, 5)), r"x: expected last dimension 3"),
        (np.zeros((2, 5, I, 1)), r"x: expected 3 dimensions \(B, T, I\)"),
    ],
)
def test_bad_x_batch_first(x, match):
    with pytest.raises(ValueError, match=match):
        GRULayer(I, H, batch_first=True).forward(x)


def test_x_on_the_wrong_device():
    """An array that claims to be a CuPy array is refused by a CPU layer, never copied."""
    fake_cupy_array = type("ndarray", (), {"__module__": "cupy._core.core"})()
    with pytest.raises(ValueError, match=r"x: expected an array on 'cpu'.*got one on 'cuda'"):
        RNNLayer(I, H).forward(fake_cupy_array)


def test_failed_forward_leaves_no_half_state():
    layer = RNNLayer(I, H)
    with pytest.raises(ValueError, match="x"):
        layer.forward(np.zeros((5, 2, 7)))
    with pytest.raises(ValueError, match="backward: called before forward"):
        layer.backward(np.zeros((5, 2, H)))


# ----------------------------------------------------------------------------- state
BAD_H0 = [
    (
        np.zeros((3, H)),
        ValueError,
        r"expected shape \(2, 4\) \(batch_size, hidden_size\), got \(3, 4\)",
    ),
    (np.zeros((2, H + 1)), ValueError, r"got \(2, 5\)"),
    (np.zeros(H), ValueError, r"got \(4,\)"),  # (H,) only for a single sequence
    (np.zeros((1, 2, H)), ValueError, r"got \(1, 2, 4\)"),  # no PyTorch-style layer axis
    (np.zeros((1, H)), ValueError, r"got \(1, 4\)"),  # never a silent broadcast over B
    (0.0, ValueError, r"got \(\)"),
    (np.full((2, H), np.nan), ValueError, "expected finite values, got NaN"),
    (np.full((2, H), np.inf), ValueError, "expected finite values, got inf"),
    (np.zeros((2, H), dtype=int), TypeError, "got dtype int64"),
    ("zeros", TypeError, "expected a floating-point array, got str"),
]


@pytest.mark.parametrize(("h0", "error", "match"), BAD_H0)
@pytest.mark.parametrize("cls", [RNNLayer, GRULayer], ids=["rnn", "gru"])
def test_bad_initial_state(cls, h0, error, match):
    with pytest.raises(error, match="state: .*" + match):
        cls(I, H).forward(X_GOOD, h0)


@pytest.mark.parametrize(("bad", "error", "match"), BAD_H0)
@pytest.mark.parametrize("which", ["h0", "c0"])
def test_bad_lstm_state_part(which, bad, error, match):
    good = np.zeros((2, H))
    state = (bad, good) if which == "h0" else (good, bad)
    with pytest.raises(error, match=f"{which}: .*" + match):
        LSTMLayer(I, H).forward(X_GOOD, state)


@pytest.mark.parametrize(
    "state",
    [np.zeros((2, H)), np.zeros((2, 2, H)), (np.zeros((2, H)),), [np.zeros((2, H))] * 3],
    ids=["array", "stacked-array", "1-tuple", "3-list"],
)
def test_lstm_state_must_be_a_pair(state):
    with pytest.raises(TypeError, match=r"state: expected a tuple \(h0, c0\) for LSTMLayer"):
        LSTMLayer(I, H).forward(X_GOOD, state)


def test_single_sequence_state_shapes():
    layer = GRULayer(I, H)
    x = np.zeros((5, I))
    layer.forward(x, np.zeros(H))  # (H,) and (1, H) are both fine for one sequence
    layer.forward(x, np.zeros((1, H)))
    with pytest.raises(
        ValueError,
        match=re.escape(
            "state: expected shape (1, 4) (batch_size, hidden_size) or (4,), got (2, 4)"
        ),
    ):
        layer.forward(x, np.zeros((2, H)))


# ----------------------------------------------------------------------------- backward
@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
def test_backward_before_forward(cls):
    layer = cls(I, H)
    with pytest.raises(ValueError, match="backward: called before forward"):
        layer.backward(np.zeros((5, 2, H)))
    with pytest.raises(ForwardRequiredError, match="hidden_states: not available before forward"):
        _ = layer.hidden_states
    with pytest.raises(RuntimeError, match="final_state"):
        _ = layer.final_state


BAD_DY = [
    (
        np.zeros((5, 2, H + 1)),
        ValueError,
        r"dy: expected shape \(5, 2, 4\) \(the shape of the forward output\), got \(5, 2, 5\)",
    ),
    (np.zeros((4, 2, H)), ValueError, r"dy: expected shape \(5, 2, 4\)"),
    (np.zeros((5, 1, H)), ValueError, r"dy: expected shape .* got \(5, 1, 4\)"),  # no broadcast
    (np.zeros((5, 2)), ValueError, r"dy: expected shape .* got \(5, 2\)"),
    (np.zeros(H), ValueError, r"dy: expected shape .* got \(4,\)"),
    (np.full((5, 2, H), np.nan), ValueError, "dy: expected finite values, got NaN"),
    (np.zeros((5, 2, H), dtype=int), TypeError, "dy: .* got dtype int64"),
    ("abc", TypeError, "dy: expected a floating-point array, got str"),
]


@pytest.mark.parametrize(("dy", "error", "match"), BAD_DY)
@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
def test_bad_dy(cls, dy, error, match):
    layer = cls(I, H)
    layer.forward(X_GOOD)
    with pytest.raises(error, match=match):
        layer.backward(dy)


def test_dy_must_follow_the_layout_of_x():
    layer = RNNLayer(I, H, 2, batch_first=True)
    layer.forward(np.zeros((2, 5, I)))  # (B, T, I): y is (B, T, O)
    with pytest.raises(ValueError, match=r"dy: expected shape \(2, 5, 2\)"):
        layer.backward(np.zeros((5, 2, 2)))  # time-major dy for batch-first x
    layer.forward(np.zeros((5, I)))  # one sequence: y is (T, O)
    with pytest.raises(ValueError, match=r"dy: expected shape \(5, 2\)"):
        layer.backward(np.zeros((5, 1, 2)))


@pytest.mark.parametrize(
    ("d_final", "error", "match"),
    [
        (np.zeros((3, H)), ValueError, r"d_final_state: expected shape \(2, 4\)"),
        (np.full((2, H), np.inf), ValueError, "d_final_state: expected finite values"),
        ((np.zeros((2, H)),), ValueError, r"d_final_state: expected shape .* got \(1, 2, 4\)"),
    ],
)
def test_bad_final_state_gradient(d_final, error, match):
    layer = GRULayer(I, H)
    layer.forward(X_GOOD)
    with pytest.raises(error, match=match):
        layer.backward(np.zeros((5, 2, H)), d_final)


def test_bad_lstm_final_state_gradient():
    layer = LSTMLayer(I, H)
    layer.forward(X_GOOD)
    dy = np.zeros((5, 2, H))
    with pytest.raises(TypeError, match=r"d_final_state: expected a tuple \(dh, dC\)"):
        layer.backward(dy, np.zeros((2, H)))
    with pytest.raises(ValueError, match=r"d_final_state\[1\]: expected shape \(2, 4\)"):
        layer.backward(dy, (None, np.zeros((2, 1))))
    with pytest.raises(ValueError, match=r"d_final_state\[0\]: expected finite values"):
        layer.backward(dy, (np.full((2, H), np.nan), None))


# ----------------------------------------------------------------------------- params, devices
def test_param_assignment_checks_the_shape():
    layer = LSTMLayer(I, H)
    with pytest.raises(ValueError, match=r"W_f: expected shape \(4, 3\), got \(3, 4\)"):
        layer.params["W_f"] = np.zeros((H, I)).T
    with pytest.raises(KeyError, match="no parameter named 'W_q'"):
        layer.params["W_q"] = np.zeros((H, I))


@pytest.mark.parametrize("device", ["tpu", "cuda0x", ""])
def test_unknown_device(device):
    with pytest.raises(ValueError, match="device: expected 'cpu' or 'cuda'"):
        RNNLayer(I, H).to(device)


def test_device_must_be_a_string():
    with pytest.raises(TypeError, match="device: expected 'cpu' or 'cuda', got int"):
        RNNLayer(I, H).to(0)


@pytest.mark.parametrize("name", ["x", "state"])
def test_float64_values_beyond_float32_are_named_as_too_large(name):
    """A float64 value that float32 cannot hold is the user's number, finite: the error says
    so (not "got inf", which the cast made), and NumPy's overflow warning stays inside."""
    layer = RNNLayer(2, 3, seed=0)  # float32
    x, state = np.ones((4, 1, 2)), np.zeros((1, 3))
    if name == "x":
        x = np.full((4, 1, 2), -3e300)
    else:
        state = np.full((1, 3), 1e39)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy's RuntimeWarning from the cast would raise here
        with pytest.raises(ValueError, match=rf"{name}: values too large for float32") as info:
            layer(x, state)
    largest = "3e+300" if name == "x" else "1e+39"
    assert f"largest magnitude {largest}" in str(info.value)
    assert "3.4e+38" in str(info.value)
