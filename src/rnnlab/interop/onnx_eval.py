"""A small evaluator for the ONNX operators that exporters use as glue around recurrent nodes.

Two kinds of values flow through an imported graph:

* constants (``numpy`` arrays): initializers, ``Constant`` nodes, and everything computed from
  them and from the *shapes* of the data (``Shape`` of a tensor is a constant once the input's
  shape is fixed). :func:`evaluate` computes these exactly, as ONNX Runtime would.
* :class:`Data`: tensors that depend on the input's values. Only their layout is tracked: each
  physical axis is a tuple of named logical axes (``atoms``), so that ``Transpose``,
  ``Squeeze``/``Unsqueeze``, ``Reshape`` (merging adjacent axes) and whole-axis ``Slice`` can be
  followed exactly, whatever sequence of them an exporter writes. :func:`layout_op` does that.

Everything else is refused by the caller with the node named.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# attributes each operator may carry (anything else is an attribute we do not know the meaning
# of, so the node is refused rather than evaluated wrongly)
KNOWN_ATTRIBUTES: dict[str, set[str]] = {
    "Constant": {"value", "value_float", "value_floats", "value_int", "value_ints"},
    "Identity": set(),
    "Shape": {"start", "end"},
    "Size": set(),
    "Gather": {"axis"},
    "Slice": set(),
    "Concat": {"axis"},
    "Split": {"axis", "num_outputs"},
    "Unsqueeze": set(),
    "Squeeze": set(),
    "Expand": set(),
    "ConstantOfShape": {"value"},
    "Reshape": {"allowzero"},
    "Transpose": {"perm"},
    "Cast": {"to", "saturate", "round_mode"},
    "Range": set(),
    "Less": set(),
    "Greater": set(),
    "Equal": set(),
    "Not": set(),
    "Where": set(),
    "Add": set(),
    "Sub": set(),
    "Mul": set(),
    "Div": set(),
    "MatMul": set(),
    "Tanh": set(),
    "RNN": {"activation_alpha", "activation_beta", "activations", "clip", "direction"}
    | {"hidden_size", "layout"},
    "LSTM": {"activation_alpha", "activation_beta", "activations", "clip", "direction"}
    | {"hidden_size", "input_forget", "layout"},
    "GRU": {"activation_alpha", "activation_beta", "activations", "clip", "direction"}
    | {"hidden_size", "layout", "linear_before_reset"},
}

# opsets whose semantics of the operators above this evaluator implements (axes of
# Squeeze/Unsqueeze and the split sizes are inputs from 13 on; later opsets only add types)
MIN_OPSET, MAX_OPSET = 13, 23


class GraphError(ValueError):
    """A node the importer cannot follow; the message names it."""


@dataclass(frozen=True)
class Data:
    """A tensor computed from the graph's inputs, known by its layout only.

    ``tag`` says which logical tensor it is (the input, layer k's output, a final state, ...);
    ``axes`` gives, for each physical axis, the logical axes merged into it in memory order
    (``()`` for an axis of size 1 that holds no logical axis).
    """

    tag: tuple[Any, ...]
    axes: tuple[tuple[str, ...], ...]

    def shape(self, sizes: dict[str, int]) -> tuple[int, ...]:
        return tuple(int(np.prod([sizes[a] for a in axis], dtype=np.int64)) for axis in self.axes)


def _where(node) -> str:
    return f"node {node.name!r} ({node.op_type})"


def _int_list(value) -> list[int]:
    return [int(v) for v in np.ravel(value)]


def _axes(node, args, attrs, index: int):
    """Axes given as input ``index`` (opset 13+) or as the ``axes`` attribute (older files)."""
    if len(args) > index and args[index] is not None:
        return _int_list(args[index])
    return None if attrs.get("axes") is None else _int_list(attrs["axes"])


def slice_ranges(node, data_shape, args):
    """The per-axis (start, stop, step) of a Slice, normalised the way ONNX clamps them."""
    starts, ends = _int_list(args[1]), _int_list(args[2])
    rank = len(data_shape)
    axes = _int_list(args[3]) if len(args) > 3 and args[3] is not None else list(range(len(starts)))
    steps = _int_list(args[4]) if len(args) > 4 and args[4] is not None else [1] * len(starts)
    ranges = {}
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        axis = axis + rank if axis < 0 else axis
        if step == 0 or not 0 <= axis < rank:
            raise GraphError(f"{_where(node)}: invalid axis {axis} or step {step}")
        ranges[axis] = slice(start, end, step).indices(data_shape[axis])
    return ranges


def _reshape_target(node, shape, target, allowzero) -> list[int]:
    target = _int_list(target)
    if not allowzero:
        target = [shape[i] if t == 0 else t for i, t in enumerate(target)]
    if target.count(-1) > 1:
        raise GraphError(f"{_where(node)}: more than one -1 in the shape {target}")
    if -1 in target:
        known = int(np.prod([t for t in target if t != -1], dtype=np.int64))
        total = int(np.prod(shape, dtype=np.int64))
        if known == 0 or total % known:
            raise GraphError(f"{_where(node)}: cannot reshape {list(shape)} to {target}")
        target[target.index(-1)] = total // known
    return target


def _cast(value, to: int):
    from onnx import helper

    return np.asarray(value).astype(helper.tensor_dtype_to_np_dtype(to))


def _div(a, b):
    if np.issubdtype(np.result_type(a, b), np.integer):
        return (np.trunc(np.asarray(a) / np.asarray(b))).astype(np.result_type(a, b))
    return np.asarray(a / b)


_ELEMENTWISE = {
    "Add": np.add,
    "Sub": np.subtract,
    "Mul": np.multiply,
    "Div": _div,
    "Less": np.less,
    "Greater": np.greater,
    "Equal": np.equal,
}


def constant_value(node, attrs) -> np.ndarray:
    from onnx import numpy_helper

    if "value" in attrs:
        return numpy_helper.to_array(attrs["value"])
    for name, dtype in (("value_float", np.float32), ("value_floats", np.float32)):
        if name in attrs:
            return np.array(attrs[name], dtype)
    for name in ("value_int", "value_ints"):
        if name in attrs:
            return np.array(attrs[name], np.int64)
    raise GraphError(f"{_where(node)}: a Constant without a value rnnlab can read ({attrs})")


def evaluate(node, args: list, attrs: dict) -> list[np.ndarray]:
    """The outputs of ``node`` when every input is a constant (``None`` for an absent one)."""
    try:
        return _evaluate(node, args, attrs)
    except GraphError:
        raise
    except (ValueError, IndexError, TypeError) as exc:
        raise GraphError(f"{_where(node)}: cannot evaluate it on these shapes ({exc})") from exc


def _evaluate(node, args, attrs):
    op = node.op_type
    x = args[0] if args else None
    if op == "Constant":
        return [constant_value(node, attrs)]
    if op == "Identity":
        return [x]
    if op == "Shape":
        shape = np.array(np.shape(x), np.int64)
        return [shape[attrs.get("start", 0) : attrs.get("end", len(shape))]]
    if op == "Size":
        return [np.array(np.size(x), np.int64)]
    if op == "Gather":
        return [np.take(x, np.asarray(args[1]), axis=attrs.get("axis", 0))]
    if op == "Slice":
        ranges = slice_ranges(node, np.shape(x), args)
        index = tuple(slice(*ranges[a]) if a in ranges else slice(None) for a in range(x.ndim))
        return [np.asarray(x)[index]]
    if op == "Concat":
        return [np.concatenate([np.atleast_1d(a) for a in args], axis=attrs["axis"])]
    if op == "Unsqueeze":
        axes = _axes(node, args, attrs, 1)
        rank = np.ndim(x) + len(axes)
        return [np.expand_dims(x, tuple(sorted(a + rank if a < 0 else a for a in axes)))]
    if op == "Squeeze":
        axes = _axes(node, args, attrs, 1)
        return [np.squeeze(x, axis=None if axes is None else tuple(axes))]
    if op == "Expand":
        shape = np.broadcast_shapes(np.shape(x), tuple(_int_list(args[1])))
        return [np.broadcast_to(x, shape).copy()]
    if op == "ConstantOfShape":
        fill = constant_value(node, attrs) if "value" in attrs else np.zeros(1, np.float32)
        return [np.full(tuple(_int_list(x)), fill.ravel()[0], fill.dtype)]
    if op == "Reshape":
        target = _reshape_target(node, np.shape(x), args[1], attrs.get("allowzero", 0))
        return [np.reshape(x, target)]
    if op == "Transpose":
        return [np.transpose(x, attrs.get("perm"))]
    if op == "Cast":
        return [_cast(x, attrs["to"])]
    if op == "Range":
        start, limit, delta = (np.asarray(a).item() for a in args)
        return [np.arange(start, limit, delta, dtype=np.asarray(args[0]).dtype)]
    if op == "Not":
        return [np.logical_not(x)]
    if op == "Where":
        return [np.where(args[0], args[1], args[2])]
    if op in _ELEMENTWISE:
        return [np.asarray(_ELEMENTWISE[op](args[0], args[1]))]
    if op == "Split":
        return _split(node, x, args, attrs)
    raise GraphError(f"{_where(node)}: not an operator rnnlab evaluates on constants")


def _split(node, x, args, attrs):
    axis = attrs.get("axis", 0)
    size = np.shape(x)[axis]
    if len(args) > 1 and args[1] is not None:
        sizes = _int_list(args[1])
    else:
        count = attrs.get("num_outputs", len(node.output))
        sizes = [-(-size // count)] * count
        sizes[-1] = size - sum(sizes[:-1])
    return list(np.split(x, np.cumsum(sizes)[:-1], axis=axis))


# ----------------------------------------------------------------------------- layouts
def layout_op(node, data: Data, args: list, attrs: dict, sizes: dict[str, int]) -> Data:
    """Follow a data-movement node on ``data`` (its first input); refuse any other node."""
    op = node.op_type
    axes = list(data.axes)
    if op == "Identity":
        return data
    if op == "Transpose":
        perm = attrs.get("perm", list(range(len(axes)))[::-1])
        return Data(data.tag, tuple(axes[p] for p in perm))
    if op == "Unsqueeze":
        rank = len(axes) + len(_axes(node, args, attrs, 1))
        for a in sorted(a + rank if a < 0 else a for a in _axes(node, args, attrs, 1)):
            axes.insert(a, ())
        return Data(data.tag, tuple(axes))
    if op == "Squeeze":
        chosen = _axes(node, args, attrs, 1)
        shape = data.shape(sizes)
        if chosen is None:
            chosen = [i for i, s in enumerate(shape) if s == 1]
        chosen = [a + len(axes) if a < 0 else a for a in chosen]
        if any(axes[a] for a in chosen):
            raise GraphError(
                f"{_where(node)}: squeezes an axis that holds {[axes[a] for a in chosen]} (a "
                "batch or time axis of size 1 in this graph); rnnlab keeps every axis"
            )
        return Data(data.tag, tuple(a for i, a in enumerate(axes) if i not in chosen))
    if op == "Reshape":
        return _reshape_data(node, data, args, attrs, sizes)
    if op == "Slice":
        shape = data.shape(sizes)
        for axis, (start, stop, step) in slice_ranges(node, shape, args).items():
            if (start, stop, step) != (0, shape[axis], 1):
                raise GraphError(
                    f"{_where(node)}: takes part of axis {axis} ({start}:{stop}:{step} of "
                    f"{shape[axis]}) of a tensor computed from the input; rnnlab models return "
                    "every step and every feature (an unrolled loop or a last-step selection "
                    "has no rnnlab counterpart)"
                )
        return data
    if op == "Expand":
        shape = data.shape(sizes)
        if tuple(np.broadcast_shapes(shape, tuple(_int_list(args[1])))) != shape:
            raise GraphError(f"{_where(node)}: broadcasts a tensor computed from the input")
        return data
    raise GraphError(f"{_where(node)}: not a layout operation rnnlab can follow here")


def _reshape_data(node, data, args, attrs, sizes) -> Data:
    """Reshape as merges of adjacent logical axes (and axes of size 1 added or removed)."""
    shape = data.shape(sizes)
    target = _reshape_target(node, shape, args[1], attrs.get("allowzero", 0))
    atoms = [a for axis in data.axes for a in axis]
    out, i = [], 0
    for size in target:
        group: list[str] = []
        if size == 1:
            if i < len(atoms) and sizes[atoms[i]] == 1:
                group, i = [atoms[i]], i + 1
            out.append(tuple(group))
            continue
        product = 1
        while product < size and i < len(atoms):
            product *= sizes[atoms[i]]
            group.append(atoms[i])
            i += 1
        if product != size:
            raise GraphError(
                f"{_where(node)}: reshapes {list(shape)} ({data.axes}) to {target}, which splits "
                "a logical axis; only merges of adjacent axes have an rnnlab counterpart"
            )
        out.append(tuple(group))
    if i != len(atoms):
        raise GraphError(f"{_where(node)}: reshape to {target} drops axes {atoms[i:]}")
    return Data(data.tag, tuple(out))
