"""Checks at the public boundary. Kernels after this point assume clean input.

Every message names the argument, what was expected and what came, in the style of PyTorch's
``check_input``: ``x: expected last dimension 8 (input_size), got 5 in shape (10, 2, 5)``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import overload

import numpy as np

from .backend import array_device, xp_of

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


@overload
def check_size(name: str, value: object) -> int: ...
@overload
def check_size(name: str, value: object, *, allow_none: bool) -> int | None: ...
def check_size(name: str, value: object, *, allow_none: bool = False) -> int | None:
    """A layer size: a positive Python or NumPy integer (bool rejected)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        expected = "a positive integer or None" if allow_none else "a positive integer"
        raise TypeError(f"{name}: expected {expected}, got {value!r} ({type(value).__name__})")
    if value <= 0:
        raise ValueError(f"{name}: expected a positive integer, got {value}")
    return int(value)


def check_dtype(dtype) -> np.dtype:
    if dtype is None:  # np.dtype(None) is float64: a silent default we do not want
        raise TypeError("dtype: expected float32 or float64, got None")
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype: expected float32 or float64, got {dtype!r}") from exc
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"dtype: expected float32 or float64, got {dt}")
    return dt


def as_float_array(name: str, value, dtype: np.dtype, device: str = "cpu"):
    """Convert ``value`` to a finite floating array of ``dtype`` on ``device``.

    Floats of another precision are cast; integers, booleans, strings and objects are rejected
    (an integer input is almost always a mistake in a recurrent net: token ids go through an
    embedding, not into the cell). Arrays on the wrong device are an error, never a silent copy.
    """
    if isinstance(value, str | bytes):
        raise TypeError(f"{name}: expected a floating-point array, got {type(value).__name__}")
    where = array_device(value)
    if where != device:
        raise ValueError(
            f"{name}: expected an array on {device!r} (the layer's device), got one on {where!r}; "
            f"move it with rnnlab.to_device({name}, {device!r})"
        )
    xp = xp_of(value)
    try:
        arr = xp.asarray(value)
    except (ValueError, TypeError) as exc:
        raise TypeError(
            f"{name}: expected a floating-point array, could not convert: {exc}"
        ) from exc
    if arr.dtype.kind != "f":
        raise TypeError(
            f"{name}: expected a floating-point array (float32 or float64), got dtype {arr.dtype}"
        )
    return finite_as(name, arr, dtype, xp)


def finite_as(name: str, arr, dtype: np.dtype, xp):
    """``arr`` as ``dtype`` (itself where it already is), every value finite; else a ValueError
    that names what is wrong: a NaN or inf of the user's, or a finite value too large for
    ``dtype``, which the cast would have made inf (with NumPy's warning from inside the cast).
    One pass over the result where all is well."""
    cast = arr
    if arr.dtype != dtype:
        with np.errstate(over="ignore"):
            cast = arr.astype(dtype)
    if bool(xp.isfinite(cast).all()):
        return cast
    finite = arr[xp.isfinite(arr)]
    largest = float(xp.abs(finite).max()) if finite.size else 0.0
    limit = float(np.finfo(dtype).max)
    if largest > limit:
        raise ValueError(
            f"{name}: values too large for {np.dtype(dtype)}: largest magnitude {largest:.3g}, "
            f"{np.dtype(dtype)} holds up to {limit:.2g}; scale the data or use a float64 layer "
            f"(dtype=np.float64)"
        )
    bad = "NaN" if bool(xp.isnan(arr).any()) else "inf"
    raise ValueError(f"{name}: expected finite values, got {bad} in shape {tuple(arr.shape)}")


@dataclass(frozen=True)
class InputLayout:
    """How the user gave x, so that outputs and dx come back the same way."""

    kind: str  # "sequence" (T, B, I) | "single" (T, I) | "list"
    batch_first: bool
    step_shapes: tuple = ()  # for "list": the shape of every step as given

    @property
    def single(self) -> bool:
        """One sequence without a batch axis: (T, I) or a list of (I,) steps."""
        return self.kind == "single" or (self.kind == "list" and len(self.step_shapes[0]) == 1)


def normalize_input(x, input_size: int, dtype, device: str, batch_first: bool):
    """Return (x as (T, B, I) time-major array, InputLayout)."""
    if isinstance(x, list | tuple):
        return _normalize_steps(x, input_size, dtype, device)
    arr = as_float_array("x", x, dtype, device)
    if arr.ndim == 2:
        _check_steps_and_features(arr.shape, input_size, time_axis=0, feature_axis=1)
        return arr[:, None, :], InputLayout("single", batch_first)
    if arr.ndim != 3:
        order = "(B, T, I)" if batch_first else "(T, B, I)"
        raise ValueError(
            f"x: expected 3 dimensions {order}, 2 dimensions (T, I) or a list of steps, "
            f"got {arr.ndim} dimensions in shape {tuple(arr.shape)}"
        )
    time_axis, batch_axis = (1, 0) if batch_first else (0, 1)
    _check_steps_and_features(arr.shape, input_size, time_axis=time_axis, feature_axis=2)
    if arr.shape[batch_axis] == 0:
        raise ValueError(f"x: expected at least one sequence in the batch, got shape {arr.shape}")
    if batch_first:
        arr = arr.transpose(1, 0, 2)
    return xp_of(arr).ascontiguousarray(arr), InputLayout("sequence", batch_first)


def _check_steps_and_features(shape, input_size, *, time_axis, feature_axis):
    if shape[feature_axis] != input_size:
        raise ValueError(
            f"x: expected last dimension {input_size} (input_size), "
            f"got {shape[feature_axis]} in shape {tuple(shape)}"
        )
    if shape[time_axis] == 0:
        raise ValueError(f"x: expected at least one time step, got shape {tuple(shape)}")


def _normalize_steps(steps, input_size, dtype, device):
    if len(steps) == 0:
        raise ValueError("x: expected at least one time step, got an empty list")
    arrays = [as_float_array(f"x[{t}]", s, dtype, device) for t, s in enumerate(steps)]
    shapes = tuple(tuple(a.shape) for a in arrays)
    first = shapes[0]
    for t, shape in enumerate(shapes):
        if shape != first:
            raise ValueError(
                f"x: expected every step to have the shape of step 0, {first}, "
                f"got {shape} at step {t}"
            )
    if len(first) not in (1, 2) or first[-1] != input_size:
        raise ValueError(
            f"x[0]: expected a step of shape (B, {input_size}), (1, {input_size}) or "
            f"({input_size},) (input_size {input_size}), got {first}"
        )
    if len(first) == 2 and first[0] == 0:
        raise ValueError(f"x[0]: expected at least one sequence in the batch, got shape {first}")
    xp = xp_of(arrays[0])
    stacked = xp.stack([a.reshape(-1, input_size) for a in arrays])
    return stacked, InputLayout("list", False, shapes)


def to_layout(arr, layout: InputLayout):
    """Return a (T, B, F) time-major array in the user's layout."""
    if layout.single:
        return arr[:, 0, :]
    return arr.transpose(1, 0, 2) if layout.kind == "sequence" and layout.batch_first else arr


def steps_to_layout(arr, layout: InputLayout):
    """dx for list input: a list with every step in the shape it was given."""
    if layout.kind == "list":
        return [arr[t].reshape(shape) for t, shape in enumerate(layout.step_shapes)]
    return to_layout(arr, layout)


def from_layout(
    name: str, value, layout: InputLayout, num_steps, batch_size, features, dtype, device, what
):
    """Inverse of :func:`to_layout` for gradients coming back (dy); shape checked exactly."""
    arr = as_float_array(name, value, dtype, device)
    expected = to_layout_shape(layout, num_steps, batch_size, features)
    if tuple(arr.shape) != expected:
        raise ValueError(
            f"{name}: expected shape {expected} (the shape of {what}), got {tuple(arr.shape)}"
        )
    if layout.single:
        return arr[:, None, :]
    if layout.kind == "sequence" and layout.batch_first:
        return xp_of(arr).ascontiguousarray(arr.transpose(1, 0, 2))
    return arr


def to_layout_shape(layout: InputLayout, num_steps, batch_size, features):
    if layout.single:
        return (num_steps, features)
    if layout.kind == "sequence" and layout.batch_first:
        return (batch_size, num_steps, features)
    return (num_steps, batch_size, features)


def check_state(name: str, value, batch_size: int, hidden_size: int, dtype, device, single: bool):
    """A state (h0, c0 or a final-state gradient): (B, H), or (H,) for a single sequence."""
    arr = as_float_array(name, value, dtype, device)
    if single and arr.shape == (hidden_size,):
        return arr[None, :]
    if tuple(arr.shape) != (batch_size, hidden_size):
        expected = f"({batch_size}, {hidden_size}) (batch_size, hidden_size)"
        if single:
            expected += f" or ({hidden_size},)"
        raise ValueError(f"{name}: expected shape {expected}, got {tuple(arr.shape)}")
    return arr
