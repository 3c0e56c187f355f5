"""ONNX -> rnnlab: graphs of ``RNN``/``LSTM``/``GRU`` nodes, whoever wrote them.

rnnlab's own exports, hand-written graphs and PyTorch's exporters (TorchScript-based and
dynamo) all put glue around the recurrent nodes: ``Transpose`` for ``batch_first``,
``Squeeze``/``Reshape`` of the direction axis, and a ``Shape``/``Gather``/``Concat``/``Expand``
(or ``ConstantOfShape``/``Slice``) chain that builds zero initial states. The glue is *evaluated*
(:mod:`rnnlab.interop.onnx_eval`) for the graph's input shape rather than matched against one
exporter's patterns: constants and shapes are computed exactly, and tensors computed from the
input are followed by their layout. A graph with symbolic dimensions is evaluated at two
different sizes, which must give the same model. Then:

* every recurrent node must read the previous one's output sequence as [T, B, features];
* its weights must be constants, its initial states zero constants or the graph's state inputs,
  its ``sequence_lens`` the graph's lengths input;
* an optional ``MatMul`` by a constant (+ ``Add`` of a constant) on the last sequence is the
  output head (with rnnlab's padding mask ``Mul`` when lengths are used);
* the first graph output is the model's output, [T, B, O] or [B, T, O] in the input's layout
  (``batch_first``); the others must be final states.

Anything else (other activations, ``clip``, ``input_forget``, peepholes, ``layout=1``,
``direction="reverse"``, unknown operators, attributes, domains or opsets) is refused with the
node named.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ._common import new_layer, reorder, require, set_params
from ._onnx_spec import KIND, ONNX_BLOCK, GraphSpec, RecurrentSpec
from ._stacks import model_from_levels
from .onnx_affine import affine_node, step_slice, steps_concat
from .onnx_eval import (
    KNOWN_ATTRIBUTES,
    MAX_OPSET,
    MIN_OPSET,
    Data,
    GraphError,
    evaluate,
    layout_op,
    slice_ranges,
)
from .onnx_walk import Walk, finals_concat, mask_node

_DEFAULT_ACTIVATIONS = {
    "rnn": ["tanh"],
    "lstm": ["sigmoid", "tanh", "tanh"],
    "gru": ["sigmoid", "tanh"],
}
# sizes given to symbolic dimensions, two runs; a graph whose meaning depends on them is refused
_PROBES = ((7, 3, 5), (11, 2, 13))


def _load(source) -> tuple[Any, str | None]:
    onnx = require("onnx", "from_onnx")

    if isinstance(source, onnx.ModelProto):
        return source, None
    if not isinstance(source, str | os.PathLike):
        raise TypeError(
            f"source: expected a path or an onnx.ModelProto, got {type(source).__name__}"
        )
    path = os.fspath(source)
    try:
        model = onnx.load(path)
    except OSError:
        raise  # FileNotFoundError, PermissionError, ...: they name the path already
    except Exception as exc:  # protobuf's DecodeError and friends: not an ONNX file
        raise ValueError(f"{path}: not a readable ONNX file ({type(exc).__name__}: {exc})") from exc
    return model, path


def _attributes(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _check_opset(model) -> None:
    versions = {o.domain: o.version for o in model.opset_import}
    version = versions.get("", versions.get("ai.onnx"))
    if version is None or not MIN_OPSET <= version <= MAX_OPSET:
        raise ValueError(
            f"model: opset {version} of the default ONNX domain is not one rnnlab reads "
            f"(expected {MIN_OPSET} to {MAX_OPSET}); convert it with "
            "onnx.version_converter.convert_version(model, 17)"
        )


def _check_node(node, attrs) -> None:
    if node.domain not in ("", "ai.onnx"):
        raise GraphError(
            f"node {node.name!r} ({node.op_type}): operator of domain {node.domain!r}; rnnlab "
            "reads only the standard ONNX operators"
        )
    known = KNOWN_ATTRIBUTES.get(node.op_type)
    if known is None:
        raise GraphError(
            f"node {node.name!r} ({node.op_type}): this operator has no rnnlab counterpart"
        )
    unknown = sorted(set(attrs) - known)
    if unknown:
        raise GraphError(
            f"node {node.name!r} ({node.op_type}): attribute(s) {unknown} not understood; "
            f"expected only {sorted(known)}"
        )


# ----------------------------------------------------------------------------- recurrent nodes
def _check_recurrent_attributes(node, kind, attrs, num_dirs) -> str:
    problems = []
    direction = attrs.get("direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    if direction not in ("forward", "bidirectional"):
        problems.append(f"direction={direction!r} (a reverse-only layer)")
    given = attrs.get("activations")
    if given is not None:
        names = [a.decode().lower() if isinstance(a, bytes) else a.lower() for a in given]
        if names != _DEFAULT_ACTIVATIONS[kind] * num_dirs:
            problems.append(f"activations={names}")
    for name in ("clip", "activation_alpha", "activation_beta"):
        if name in attrs:
            problems.append(f"{name}={attrs[name]}")
    if attrs.get("input_forget", 0):
        problems.append("input_forget=1 (coupled input and forget gates)")
    if attrs.get("layout", 0):
        problems.append("layout=1 (batch-major operator)")
    if problems:
        raise GraphError(
            f"node {node.name!r} ({node.op_type}): cannot convert {'; '.join(problems)}; rnnlab "
            "has the default activations (sigmoid gates, tanh), no clipping, forward or "
            "bidirectional direction and layout=0"
        )
    return direction


def _weight(walk, name, node, what) -> np.ndarray:
    value = walk.values.get(name)
    if not isinstance(value, np.ndarray):
        raise GraphError(
            f"node {node.name!r} ({node.op_type}): {what} {name!r} must be a constant "
            "(initializer or Constant node)"
        )
    return value


def _layers(node, walk, dtype, W, R, B, kind, H, reset_after) -> list:
    G = len(ONNX_BLOCK[kind])
    layers = []
    for d in range(W.shape[0]):
        Wb, Rb = B[d, : G * H], B[d, G * H :]
        layer = new_layer(kind, W.shape[2], H, dtype=dtype, reset_after=reset_after)
        b_hn = None
        if reset_after:
            # Rb_h sits inside r ⊙ (.) and is b_hn; the z, r recurrent biases add to Wb
            b_hn = Rb[2 * H :]
            Rb = np.concatenate([Rb[: 2 * H], np.zeros(H, Rb.dtype)])
        blocks = ONNX_BLOCK[kind]
        W_d, U_d, b_d = (reorder(a, blocks, H) for a in (W[d], R[d], Wb + Rb))
        set_params(layer, W_d, U_d, b_d, b_hn)
        layers.append(layer)
    return layers


def _recurrent(node, walk: Walk, attrs, dtype) -> list:
    """Check recurrent ``node`` against what the walk knows; returns its outputs' values."""
    kind = KIND[node.op_type]
    inputs = list(node.input) + [""] * (8 - len(node.input))
    W = _weight(walk, inputs[1], node, "W")
    R = _weight(walk, inputs[2], node, "R")
    if W.ndim != 3:
        raise GraphError(f"node {node.name!r}: expected W [D, G·H, I], got {list(W.shape)}")
    if W.dtype not in (np.float32, np.float64):
        raise GraphError(
            f"node {node.name!r} ({node.op_type}): weights in {W.dtype}; rnnlab computes in "
            "float32 or float64, so the outputs would differ. Export the model in float32"
        )
    num_dirs, width, _ = W.shape
    direction = _check_recurrent_attributes(node, kind, attrs, num_dirs)
    G = len(ONNX_BLOCK[kind])
    H = int(attrs.get("hidden_size", width // G))
    D = 2 if direction == "bidirectional" else 1
    if (num_dirs, width) != (D, G * H) or R.shape != (D, G * H, H):
        raise GraphError(
            f"node {node.name!r}: expected W [{D}, {G * H}, I] and R [{D}, {G * H}, {H}], got "
            f"{list(W.shape)} and {list(R.shape)}"
        )
    B = _weight(walk, inputs[3], node, "B") if inputs[3] else np.zeros((D, 2 * G * H), W.dtype)
    if B.shape != (D, 2 * G * H):
        raise GraphError(f"node {node.name!r}: expected B [{D}, {2 * G * H}], got {B.shape}")
    if kind == "lstm" and inputs[7] and np.any(_weight(walk, inputs[7], node, "P")):
        raise GraphError(f"node {node.name!r}: peepholes (input P) have no rnnlab counterpart")
    k = len(walk.layers)
    walk.check_sequence_input(node, walk.values[inputs[0]], k, W.shape[2])
    walk.check_lengths(node, inputs[4])
    for index, state in ((5, "h"), (6, "c")):
        walk.check_initial_state(node, inputs[index], state, k, D, H)
    reset_after = bool(attrs.get("linear_before_reset", 0))
    walk.layers.append(
        RecurrentSpec(kind, _layers(node, walk, dtype, W, R, B, kind, H, reset_after))
    )
    walk.sizes[f"H{k}"], walk.sizes[f"D{k}"] = H, D
    direction_axis = (f"D{k}",) if D == 2 else ()
    T, Bt = walk.time, walk.batch
    return [
        Data(("seq", k), ((T,), direction_axis, (Bt,), (f"H{k}",))),
        Data(("final", k, "h"), (direction_axis, (Bt,), (f"H{k}",))),
        Data(("final", k, "c"), (direction_axis, (Bt,), (f"H{k}",))),
    ]


# ----------------------------------------------------------------------------- the walk
def _node_values(node, walk: Walk, dtype) -> list:
    """The values of ``node``'s outputs: constants evaluated, data followed or refused."""
    attrs = _attributes(node)
    _check_node(node, attrs)
    args = []
    for name in node.input:
        if name and name not in walk.values:
            raise GraphError(
                f"node {node.name!r} ({node.op_type}): input {name!r} is not computed before "
                "it (the graph is not in topological order, or the name is undefined)"
            )
        args.append(walk.values.get(name) if name else None)
    op = node.op_type
    if op in KIND:
        return _recurrent(node, walk, attrs, dtype)
    data = [a for a in args if isinstance(a, Data)]
    if not data:
        return evaluate(node, args, attrs)
    if op in ("Shape", "Size"):
        shape = np.array(data[0].shape(walk.sizes), np.int64)
        return evaluate(node, [np.zeros(shape, np.int8)], attrs)
    if op in ("Less", "Cast", "Mul") and any(d.tag[0] in ("lengths", "mask") for d in data):
        return [mask_node(node, walk, args, attrs)]
    if op in ("MatMul", "Add", "Mul", "Tanh"):
        return [affine_node(node, walk, args)]
    if op == "Concat":
        keys = {d.tag[1] if d.tag[0] == "h" else -1 for d in data}
        if len(data) == len(args) and -1 not in keys and len(keys) == 1:
            loop = walk.unrolled[keys.pop()]
            if loop["layer"] is None:
                axis = attrs.get("axis", 0) % len(data[0].axes)
                return [steps_concat(node, walk, data, axis)]
        return [finals_concat(node, walk, args, attrs)]
    if op == "Slice" and args[0] is data[0] and data[0].tag[0] == "affine":
        shape = data[0].shape(walk.sizes)
        ranges = {
            axis: r
            for axis, r in slice_ranges(node, shape, args).items()
            if r != (0, shape[axis], 1)
        }
        if ranges:
            return [step_slice(node, walk, data[0], ranges)]
    if op == "Split" and data[0].tag[0] == "state" and args[0] is data[0]:
        return walk.split_state(node, data[0], args, attrs)
    if op in ("Slice", "Gather") and data[0].tag[0] == "state" and args[0] is data[0]:
        return [walk.state_rows(node, data[0], args, attrs)]
    if args[0] is data[0] and len(data) == 1:
        return [layout_op(node, data[0], args, attrs, walk.sizes)]
    raise GraphError(
        f"node {node.name!r} ({op}): combines tensors computed from the input in a way that "
        "has no rnnlab counterpart"
    )


def _walk(model, dtype, probe, input_shape=None) -> GraphSpec:
    walk = Walk(model.graph, probe, dtype, input_shape)
    for node in model.graph.node:
        outputs = _node_values(node, walk, dtype)
        for name, value in zip(node.output, outputs, strict=False):
            if name:
                walk.values[name] = value
    return walk.finish()


def _same(a: GraphSpec, b: GraphSpec) -> bool:
    """Whether two evaluations of one graph describe the same rnnlab model."""
    shape_a = [len(spec.directions) for spec in a.layers], a.batch_first, a.head is None
    shape_b = [len(spec.directions) for spec in b.layers], b.batch_first, b.head is None
    if shape_a != shape_b:
        return False
    for x, y in zip(a.layers, b.layers, strict=True):
        for u, v in zip(x.directions, y.directions, strict=True):
            if u.get_config() != v.get_config() or not np.array_equal(u._flat, v._flat):
                return False
    if a.head is None or b.head is None:
        return True
    return all(np.array_equal(u, v) for u, v in zip(a.head, b.head, strict=True))


def parse_graph(model: Any, dtype: Any, input_shape: Any = None) -> GraphSpec:
    """The GraphSpec of an ONNX model (ValueError naming the node for anything unsupported)."""
    _check_opset(model)
    if input_shape is not None:
        return _walk(model, dtype, _PROBES[0], _check_input_shape(input_shape))
    try:
        first = _walk(model, dtype, _PROBES[0])
    except GraphError as exc:
        if not Walk.has_symbolic_dims(model.graph):
            raise
        raise GraphError(
            f"{exc}. The graph input has symbolic dimensions, which rnnlab evaluated at sizes "
            f"{_PROBES[0][:2]}; some exports run only at the size they were exported with (ONNX "
            "Runtime fails there too): pass that size, from_onnx(..., input_shape=(...))"
        ) from exc
    if Walk.has_symbolic_dims(model.graph):
        second = _walk(model, dtype, _PROBES[1])
        if not _same(first, second):
            raise ValueError(
                "model: evaluated at two input sizes, the graph gives two different rnnlab "
                "models (constants that depend on the input's shape); no single rnnlab model "
                "computes it"
            )
    return first


def _check_input_shape(input_shape: Any) -> tuple[int, int, int]:
    ok = isinstance(input_shape, tuple | list) and len(input_shape) == 3
    if not ok or not all(
        isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in input_shape
    ):
        raise ValueError(
            f"input_shape: expected three positive integers (the graph input's shape), got "
            f"{input_shape!r}"
        )
    return tuple(input_shape)


def from_onnx(source: Any, *, dtype: Any = np.float32, input_shape: Any = None) -> Any:
    """Build the rnnlab model equivalent to an ONNX graph of RNN/LSTM/GRU nodes.

    Parameters
    ----------
    source : path of an .onnx file, or an ``onnx.ModelProto``. Files written by
        :func:`rnnlab.interop.to_onnx`, by hand, or by ``torch.onnx.export`` (either exporter)
        of ``nn.RNN``/``nn.LSTM``/``nn.GRU`` modules, optionally followed by an ``nn.Linear``.
    dtype : float32 (default) or float64 for the rnnlab parameters.
    input_shape : the shape of an actual input (3 integers, in the graph input's layout), at
        which the exporter's glue is evaluated. By default symbolic dimensions are evaluated
        at two made-up sizes, which must give the same model; give the export-time shape for a
        graph that runs only at that size.

    Returns
    -------
    An rnnlab model whose ``batch_first`` is the graph input's layout: a layer (with its
    output head when the graph has one) for a single one-direction node;
    ``rnnlab.models.RNN/LSTM/GRU`` for a chain of one cell type; else
    ``rnnlab.models.Sequential``.

    Raises
    ------
    ValueError
        A file that is not ONNX (naming the file), or a graph with anything that has no rnnlab
        counterpart (naming the node, its operator and the reason).
    """
    model, path = _load(source)
    try:
        spec = parse_graph(model, dtype, input_shape)
    except ValueError as exc:
        if path is None:
            raise
        raise ValueError(f"{path}: {exc}") from exc
    levels = [layer_spec.directions for layer_spec in spec.layers]
    return model_from_levels(levels, spec.head, batch_first=spec.batch_first)


__all__ = ["from_onnx", "parse_graph"]
