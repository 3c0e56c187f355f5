"""ONNX -> rnnlab for graphs made of ``RNN``/``LSTM``/``GRU`` nodes chained by shape glue
(``Squeeze``, ``Transpose`` + ``Reshape``, ``Identity``), an optional ``MatMul`` (+ ``Add``) head,
and ``Split``/``Concat`` plumbing of the states. Anything else, or any operator attribute with no
rnnlab counterpart (other activations, ``clip``, ``input_forget``, peepholes, ``layout=1``,
``direction="reverse"``, ``sequence_lens``), is refused with the reason.
"""

from __future__ import annotations

import os

import numpy as np

from ._common import new_layer, reorder, set_params
from ._stacks import model_from_levels
from .onnx import _ONNX_BLOCK, PADDING_MASK, GraphSpec, RecurrentSpec

_KIND = {"RNN": "rnn", "LSTM": "lstm", "GRU": "gru"}
_DEFAULT_ACTIVATIONS = {
    "rnn": ["tanh"],
    "lstm": ["sigmoid", "tanh", "tanh"],
    "gru": ["sigmoid", "tanh"],
}
_STATE_OPS = ("Split", "Concat")


def _load(source):
    import onnx

    if isinstance(source, onnx.ModelProto):
        return source
    if isinstance(source, str | os.PathLike):
        return onnx.load(os.fspath(source))
    raise TypeError(f"source: expected a path or an onnx.ModelProto, got {type(source).__name__}")


def _attributes(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _constant(name, consts, node):
    if name not in consts:
        raise ValueError(
            f"node {node.name!r} ({node.op_type}): input {name!r} must be a constant "
            "(initializer or Constant node)"
        )
    return consts[name]


def _check_recurrent_attributes(node, kind, attrs, num_dirs):
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
        raise ValueError(
            f"node {node.name!r} ({node.op_type}): cannot convert {'; '.join(problems)}; rnnlab "
            "has the default activations (sigmoid gates, tanh), no clipping, forward or "
            "bidirectional direction and layout=0"
        )
    return direction


def _recurrent_spec(node, consts, dtype, roles) -> RecurrentSpec:
    kind = _KIND[node.op_type]
    inputs = list(node.input) + [""] * (8 - len(node.input))
    W = _constant(inputs[1], consts, node)  # [D, G·H, I]
    R = _constant(inputs[2], consts, node)  # [D, G·H, H]
    num_dirs, width, input_size = W.shape
    attrs = _attributes(node)
    direction = _check_recurrent_attributes(node, kind, attrs, num_dirs)
    G = len(_ONNX_BLOCK[kind])
    H = attrs.get("hidden_size", width // G)
    expected_dirs = 2 if direction == "bidirectional" else 1
    if (num_dirs, width) != (expected_dirs, G * H) or R.shape != (num_dirs, G * H, H):
        raise ValueError(
            f"node {node.name!r}: expected W [{expected_dirs}, {G * H}, I] and R "
            f"[{expected_dirs}, {G * H}, {H}], got {list(W.shape)} and {list(R.shape)}"
        )
    B = consts[inputs[3]] if inputs[3] else np.zeros((num_dirs, 2 * G * H), W.dtype)
    if B.shape != (num_dirs, 2 * G * H):
        raise ValueError(f"node {node.name!r}: expected B [{num_dirs}, {2 * G * H}], got {B.shape}")
    if inputs[4] and roles.get(inputs[4]) != ("lengths",):
        raise ValueError(
            f"node {node.name!r}: sequence_lens must be the graph's int32 lengths input (passed "
            "to rnnlab as forward(x, lengths=...)); constant or computed lengths have no "
            "rnnlab counterpart"
        )
    if kind == "lstm" and inputs[7] and np.any(_constant(inputs[7], consts, node)):
        raise ValueError(f"node {node.name!r}: peepholes (input P) have no rnnlab counterpart")
    reset_after = bool(attrs.get("linear_before_reset", 0))
    blocks = _ONNX_BLOCK[kind]
    layers = []
    for d in range(num_dirs):
        Wb, Rb = B[d, : G * H], B[d, G * H :]
        layer = new_layer(kind, input_size, H, dtype=dtype, reset_after=reset_after)
        b_hn = None
        if reset_after:
            # Rb_h sits inside r ⊙ (.) and is b_hn; the z, r recurrent biases add to Wb
            b_hn = Rb[2 * H :]
            Rb = np.concatenate([Rb[: 2 * H], np.zeros(H, Rb.dtype)])
        W_d, U_d, b_d = (reorder(a, blocks, H) for a in (W[d], R[d], Wb + Rb))
        set_params(layer, W_d, U_d, b_d, b_hn)
        layers.append(layer)
    return RecurrentSpec(kind, layers)


def _constants(graph) -> dict:
    from onnx import numpy_helper

    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            consts[node.output[0]] = numpy_helper.to_array(_attributes(node)["value"])
    return consts


def _glue(node, role, consts, layers):
    """The role of a glue node's output, given the role of its first input."""
    op = node.op_type
    kind, k = role[0], role[1]
    if op == "Identity":
        return role
    if op == "Squeeze" and kind == "Y" and len(layers[k].directions) == 1:
        axes = _attributes(node).get("axes")
        if axes is None and len(node.input) > 1:
            axes = _constant(node.input[1], consts, node)
        if axes is not None and [int(a) for a in np.ravel(axes)] == [1]:
            return ("seq", k)
    perm = list(_attributes(node).get("perm", []))
    if op == "Transpose" and kind == "Y" and perm == [0, 2, 1, 3]:
        return ("Yt", k)
    if op == "Reshape" and kind == "Yt":
        shape = [int(a) for a in _constant(node.input[1], consts, node)]
        width = len(layers[k].directions) * layers[k].hidden_size
        if shape[:2] == [0, 0] and shape[2] in (-1, width):
            return ("seq", k)
    raise ValueError(
        f"node {node.name!r} ({op}): not a reshaping rnnlab understands here (expected Squeeze "
        "of axis 1 after a one-direction node, or Transpose perm [0, 2, 1, 3] then Reshape "
        "[0, 0, -1] after a bidirectional one)"
    )


def _head(node, role, consts, layers, head):
    """MatMul by a constant [F, O] on the last sequence, then Add of a constant [O]."""
    if node.op_type == "MatMul" and role[0] == "seq" and role[1] == len(layers) - 1:
        kernel = _constant(node.input[1], consts, node)
        width = len(layers[-1].directions) * layers[-1].hidden_size
        if kernel.ndim != 2 or kernel.shape[0] != width:
            raise ValueError(
                f"node {node.name!r} (MatMul): expected a [{width}, O] head matrix (the last "
                f"layer's features first), got {list(kernel.shape)}"
            )
        return ("mm",), (kernel.T, np.zeros(kernel.shape[1], kernel.dtype))
    if node.op_type == "Add" and role[0] == "mm":
        constant_inputs = [name for name in node.input if name in consts]
        bias = _constant(constant_inputs[0] if constant_inputs else node.input[1], consts, node)
        if bias.shape != head[1].shape:
            raise ValueError(f"node {node.name!r}: expected bias {head[1].shape}, got {bias.shape}")
        return ("head",), (head[0], bias)
    raise ValueError(
        f"node {node.name!r} ({node.op_type}): expected the output head MatMul(last layer "
        "output, constant) followed by Add(constant)"
    )


_EXPRESSION_OPS = ("Shape", "Gather", "Range", "Unsqueeze", "Less", "Cast")


def _expression(node, roles, consts):
    """("expr", text) for the integer/mask arithmetic on x's shape and lengths, written in the
    notation of :data:`rnnlab.interop.onnx.PADDING_MASK`."""

    def term(name):
        role = roles.get(name)
        if role == ("seq", -1):
            return "x"
        if role == ("lengths",):
            return "lengths"
        if role is not None and role[0] == "expr":
            return role[1]
        if name in consts:
            value = consts[name]
            return str(value.tolist()) if value.ndim else str(int(value))
        raise ValueError(f"node {node.name!r} ({node.op_type}): unexpected input {name!r}")

    args = [term(name) for name in node.input]
    attrs = _attributes(node)
    op = node.op_type
    if op == "Shape" and not attrs:
        text = f"shape({args[0]})"
    elif op == "Gather" and attrs.get("axis", 0) == 0:
        text = f"{args[0]}[{args[1]}]"
    elif op == "Range":
        text = f"range({','.join(args)})"
    elif op == "Unsqueeze":
        text = f"unsqueeze({args[0]},{args[1] if len(args) > 1 else list(attrs['axes'])})"
    elif op == "Cast":
        text = f"cast({args[0]},{attrs['to']})"
    elif op == "Less":
        text = f"less({args[0]},{args[1]})"
    else:
        raise ValueError(f"node {node.name!r} ({op}): attributes {attrs} not understood here")
    return ("expr", text)


def parse_graph(model, dtype) -> GraphSpec:
    from onnx import TensorProto

    graph = model.graph
    consts = _constants(graph)
    inputs = [i.name for i in graph.input if i.name not in consts]
    if not inputs:
        raise ValueError("model: has no graph input")
    roles = {inputs[0]: ("seq", -1)}
    for value in graph.input:
        if value.name in inputs[1:]:
            is_int = value.type.tensor_type.elem_type == TensorProto.INT32
            roles[value.name] = ("lengths",) if is_int else ("state", None)
    layers, head, masked = [], None, False
    for node in graph.node:
        if node.op_type == "Constant":
            continue
        # the role of the first non-constant input (Add may have its constant first)
        role = next((roles[name] for name in node.input if name in roles), None)
        if node.op_type in _KIND:
            if role != ("seq", len(layers) - 1):
                raise ValueError(
                    f"node {node.name!r}: its input must be the previous recurrent layer's "
                    "sequence output (a chain of layers)"
                )
            layers.append(_recurrent_spec(node, consts, dtype, roles))
            k = len(layers) - 1
            new = [("Y", k), ("final", k), ("final", k)]
        elif role is not None and role[0] in ("state", "final") and node.op_type in _STATE_OPS:
            new = [role] * len(node.output)
        elif node.op_type in _EXPRESSION_OPS:
            new = [_expression(node, roles, consts)]
        elif node.op_type == "Mul" and role in (("head",), ("mm",)):
            other = [roles.get(name) for name in node.input if roles.get(name) != role]
            if other != [("expr", PADDING_MASK)]:
                raise ValueError(
                    f"node {node.name!r} (Mul): the only product rnnlab understands after the "
                    "head is the padding mask (t < lengths) that to_onnx writes"
                )
            new, masked = [("head",)], True
        elif role is not None and node.op_type in ("MatMul", "Add"):
            role_out, head = _head(node, role, consts, layers, head)
            new = [role_out]
        elif role is not None and role[0] in ("state", "final", "head", "mm"):
            if node.op_type != "Identity":
                raise ValueError(f"node {node.name!r} ({node.op_type}): unsupported here")
            new = [role]
        elif role is not None:
            new = [_glue(node, role, consts, layers)]
        else:
            raise ValueError(
                f"node {node.name!r} ({node.op_type}): not part of an rnnlab-convertible graph"
            )
        roles.update(zip(node.output, new, strict=False))
    if not layers:
        raise ValueError("model: contains no RNN, LSTM or GRU node")
    _check_outputs(graph, roles, len(layers) - 1, head is not None)
    uses_lengths = any(len(n.input) > 4 and n.input[4] for n in graph.node if n.op_type in _KIND)
    if uses_lengths and head is not None and not masked:
        raise ValueError(
            "model: its head is applied at padded steps too (no padding mask), where rnnlab "
            "outputs zeros; an rnnlab model computes something else there"
        )
    return GraphSpec(layers, head)


def _check_outputs(graph, roles, last, has_head):
    """Every graph output must be something the rnnlab model computes: its output sequence
    (the head's, or the last layer's when there is no head) or final states."""
    allowed = {("head",), ("mm",)} if has_head else {("seq", last), ("Y", last), ("Yt", last)}
    for output in graph.output:
        role = roles.get(output.name)
        if role is None or not (role in allowed or role[0] in ("final", "state")):
            raise ValueError(
                f"model: graph output {output.name!r} is an intermediate value ({role}); rnnlab "
                "models return the last layer's sequence (through the head, if any) and the "
                "final states"
            )


def from_onnx(source, *, dtype=np.float32):
    """Build the rnnlab model equivalent to an ONNX graph of RNN/LSTM/GRU nodes.

    Parameters
    ----------
    source : path of an .onnx file, or an ``onnx.ModelProto``.
    dtype : float32 (default) or float64 for the rnnlab parameters.

    Returns
    -------
    A time-major rnnlab model: a layer (with its output head when the graph has one) for a
    single one-direction node; ``rnnlab.models.RNN/LSTM/GRU`` for a chain of one cell type;
    else ``rnnlab.models.Sequential``.
    """
    spec = parse_graph(_load(source), dtype)
    levels = [layer_spec.directions for layer_spec in spec.layers]
    return model_from_levels(levels, spec.head, batch_first=False)
