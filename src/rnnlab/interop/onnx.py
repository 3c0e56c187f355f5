"""rnnlab -> ONNX: the standard ``RNN``, ``LSTM`` and ``GRU`` operators, ``MatMul``/``Add`` heads.

=====  ===============  =================  ===============================================
cell   ONNX row blocks  rnnlab row blocks  B = [Wb, Rb] (each G·H, per direction)
=====  ===============  =================  ===============================================
RNN    (one block)      W_xh / W_hh        Wb = b_h, Rb = 0          (activations Tanh)
LSTM   i, o, f, c       f, i, c, o         Wb = b, Rb = 0            (no peepholes, P absent)
GRU    z, r, h          z, r, h            linear_before_reset=0 (guide): Wb = b, Rb = 0;
                                           linear_before_reset=1 (reset_after): Wb = b,
                                           Rb = [0, 0, b_hn]
=====  ===============  =================  ===============================================

W is [num_directions, G·H, I] (our W per direction), R is [num_directions, G·H, H]. The graph
is time-major like ONNX's ``layout=0``: input ``x`` [T, B, I] with symbolic T and B; outputs
``y`` [T, B, O or D·H] and the final states ``h_n`` (and ``c_n``) [L·D, B, H] in PyTorch's order
(layer-major, forward before reverse). Optional inputs ``h0`` (and ``c0``) of the same shape.
Parameters are written in float32 (ONNX Runtime implements these operators for float only).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..io import atomic_write_bytes
from ._common import host, inverse, layer_kind, reorder, require
from ._onnx_spec import ONNX_BLOCK, OP_TYPE, GraphSpec, RecurrentSpec
from ._stacks import levels_of
from .onnx_import import from_onnx

__all__ = ["DEFAULT_OPSET", "from_onnx", "to_onnx"]

DEFAULT_OPSET = 17
_OPSET_IR = {14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10}


# ----------------------------------------------------------------------------- rnnlab -> spec
def model_spec(model: Any) -> GraphSpec:
    """Describe an rnnlab model (layer, Bidirectional, stack, Sequential) as a GraphSpec."""
    levels, head, _ = levels_of(model)
    return GraphSpec([RecurrentSpec(layer_kind(level[0]), level) for level in levels], head)


def onnx_weights(spec: RecurrentSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(W, R, B) initializers, float32, ONNX's gate order, one slice per direction."""
    H = spec.hidden_size
    blocks = inverse(ONNX_BLOCK[spec.kind])
    Ws, Rs, Bs = [], [], []
    for layer in spec.directions:
        W = reorder(host(layer._w["W"]), blocks, H)
        R = reorder(host(layer._w["U"]), blocks, H)
        Wb = reorder(host(layer._w["b"]), blocks, H)
        Rb = np.zeros_like(Wb)
        if spec.kind == "gru" and layer.reset_after:
            Rb[2 * H :] = host(layer._w["b_hn"])  # Rbh sits inside r ⊙ (.) with lbr=1
        Ws.append(W)
        Rs.append(R)
        Bs.append(np.concatenate([Wb, Rb]))
    return (
        np.stack(Ws).astype(np.float32),
        np.stack(Rs).astype(np.float32),
        np.stack(Bs).astype(np.float32),
    )


# ----------------------------------------------------------------------------- graph
class _Builder:
    """Accumulates nodes and initializers with unique names."""

    def __init__(self):
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes, self.initializers = [], []

    def const(self, name, array):
        self.initializers.append(self.numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op, inputs, outputs, **attrs):
        self.nodes.append(self.helper.make_node(op, inputs, outputs, name=outputs[0], **attrs))
        return outputs[0] if len(outputs) == 1 else outputs


def _recurrent_node(b, k, spec, x, h0, c0, lengths):
    """Add recurrent node k; returns (sequence output [T, B, D·H], Y_h, Y_c or None)."""
    W, R, B = onnx_weights(spec)
    D = len(spec.directions)
    attrs = {"hidden_size": spec.hidden_size}
    if D == 2:
        attrs["direction"] = "bidirectional"
    if spec.kind == "gru":
        attrs["linear_before_reset"] = int(spec.directions[0].reset_after)
    inputs = [x, b.const(f"W_{k}", W), b.const(f"R_{k}", R), b.const(f"B_{k}", B)]
    inputs += [lengths or "", h0 or ""]
    if spec.kind == "lstm":
        inputs.append(c0 or "")
    outputs = [f"Y_{k}", f"Y_h_{k}"] + ([f"Y_c_{k}"] if spec.kind == "lstm" else [])
    while inputs[-1] == "":  # trailing optional inputs are simply left out
        inputs.pop()
    b.node(OP_TYPE[spec.kind], inputs, outputs, **attrs)
    if D == 1:  # [T, 1, B, H] -> [T, B, H]
        seq = b.node("Squeeze", [f"Y_{k}", b.const(f"axes_{k}", np.array([1]))], [f"seq_{k}"])
    else:  # [T, 2, B, H] -> [T, B, 2, H] -> [T, B, 2H]: forward features first, like concat
        t = b.node("Transpose", [f"Y_{k}"], [f"Y_t_{k}"], perm=[0, 2, 1, 3])
        shape = b.const(f"shape_{k}", np.array([0, 0, -1]))
        seq = b.node("Reshape", [t, shape], [f"seq_{k}"])
    return seq, f"Y_h_{k}", (f"Y_c_{k}" if spec.kind == "lstm" else None)


def _padding_mask(b):
    """m [T, B, 1] float: 1 where t < lengths[b], else 0 (rnnlab's valid steps)."""
    from onnx import TensorProto

    int64 = np.int64
    shape = b.node("Shape", ["x"], ["x_shape"])
    T = b.node("Gather", [shape, b.const("index_0", np.array(0, int64))], ["num_steps"], axis=0)
    zero, one = b.const("start_0", np.array(0, int64)), b.const("step_1", np.array(1, int64))
    steps = b.node("Range", [zero, T, one], ["steps"])
    column = b.node("Unsqueeze", [steps, b.const("axes_col", np.array([1]))], ["steps_col"])
    lengths = b.node("Cast", ["lengths"], ["lengths_64"], to=TensorProto.INT64)
    row = b.node("Unsqueeze", [lengths, b.const("axes_row", np.array([0]))], ["lengths_row"])
    valid = b.node("Less", [column, row], ["valid"])  # [T, B] bool
    mask = b.node("Cast", [valid], ["valid_float"], to=TensorProto.FLOAT)
    return b.node("Unsqueeze", [mask, b.const("axes_feature", np.array([2]))], ["mask"])


def _split_state(b, name, spec_sizes):
    """Split graph input ``name`` [L·D, B, H] into one [D, B, H] piece per layer."""
    if len(spec_sizes) == 1:
        return [name]
    pieces = [f"{name}_{k}" for k in range(len(spec_sizes))]
    b.node("Split", [name, b.const(f"{name}_split", np.array(spec_sizes))], pieces, axis=0)
    return pieces


def _final_outputs(b, name, finals, layers):
    """Final states as outputs: one ``name`` [L·D, B, H] when every H agrees, else one per layer."""
    from onnx import TensorProto, helper

    sizes = [s.hidden_size for s in layers]
    dirs = [len(s.directions) for s in layers]
    if len(set(sizes)) == 1:
        b.node(
            "Concat" if len(finals) > 1 else "Identity",
            finals,
            [name],
            **({"axis": 0} if len(finals) > 1 else {}),
        )
        return [helper.make_tensor_value_info(name, TensorProto.FLOAT, [sum(dirs), "B", sizes[0]])]
    outputs = []
    for k, final in enumerate(finals):
        b.node("Identity", [final], [f"{name}_{k}"])
        shape = [dirs[k], "B", sizes[k]]
        outputs.append(helper.make_tensor_value_info(f"{name}_{k}", TensorProto.FLOAT, shape))
    return outputs


def build_graph(spec: GraphSpec, initial_states: bool, name: str, lengths: bool = False) -> Any:
    """The onnx GraphProto for ``spec``."""
    from onnx import TensorProto, helper

    b = _Builder()
    first, last = spec.layers[0], spec.layers[-1]
    is_lstm = [s.kind == "lstm" for s in spec.layers]
    if initial_states and (
        len({s.hidden_size for s in spec.layers}) != 1 or len(set(is_lstm)) != 1
    ):
        raise ValueError(
            "initial_states: expected every layer to have the same hidden_size and to be LSTM "
            "or not all alike (the states are one [L·D, B, H] input, as in PyTorch)"
        )
    directions = [len(s.directions) for s in spec.layers]
    total = sum(directions)
    H = first.hidden_size  # with initial_states every layer has this size
    float_ = TensorProto.FLOAT
    inputs = [helper.make_tensor_value_info("x", float_, ["T", "B", first.input_size])]
    if lengths:  # every node masks by the same lengths, as rnnlab's forward(x, lengths=...)
        inputs.append(helper.make_tensor_value_info("lengths", TensorProto.INT32, ["B"]))
    h0s = c0s = [None] * len(spec.layers)
    if initial_states:
        inputs.append(helper.make_tensor_value_info("h0", float_, [total, "B", H]))
        h0s = _split_state(b, "h0", directions)
        if all(is_lstm):
            inputs.append(helper.make_tensor_value_info("c0", float_, [total, "B", H]))
            c0s = _split_state(b, "c0", directions)
    x, finals_h, finals_c = "x", [], []
    for k, layer_spec in enumerate(spec.layers):
        x, y_h, y_c = _recurrent_node(
            b, k, layer_spec, x, h0s[k], c0s[k], "lengths" if lengths else None
        )
        finals_h.append(y_h)
        finals_c.append(y_c)
    width = len(last.directions) * last.hidden_size
    if spec.head is not None:
        W_hy, b_y = spec.head
        x = b.node("MatMul", [x, b.const("W_hy_T", W_hy.T.astype(np.float32))], ["head_matmul"])
        if lengths:  # rnnlab outputs zeros at padded steps, head included: y = (h·W_hyᵀ + b_y)·m
            x = b.node("Add", [x, b.const("b_y", b_y.astype(np.float32))], ["head_add"])
            x = b.node("Mul", [x, _padding_mask(b)], ["y"])
        else:
            x = b.node("Add", [x, b.const("b_y", b_y.astype(np.float32))], ["y"])
        width = W_hy.shape[0]
    else:
        x = b.node("Identity", [x], ["y"])
    outputs = [helper.make_tensor_value_info("y", float_, ["T", "B", width])]
    outputs += _final_outputs(b, "h_n", finals_h, spec.layers)
    if all(is_lstm):
        outputs += _final_outputs(b, "c_n", finals_c, spec.layers)
    return helper.make_graph(b.nodes, name, inputs, outputs, b.initializers)


def to_onnx(
    model: Any,
    path: str | os.PathLike[str],
    *,
    initial_states: bool = False,
    lengths: bool = False,
    opset: int = DEFAULT_OPSET,
    name: str = "rnnlab",
) -> Any:
    """Write ``model`` as an ONNX file and return the ``onnx.ModelProto``.

    Parameters
    ----------
    model : RNNLayer, LSTMLayer or GRULayer (with or without output head), or an rnnlab stack
        model (several layers, Bidirectional, Dense head).
    path : str or os.PathLike; written atomically (temporary file, then rename).
    initial_states : bool; add graph inputs ``h0`` (and ``c0`` for LSTM) [L·D, B, H]. Without
        them the operators start from zeros, like rnnlab's ``state=None``.
    lengths : bool; add a graph input ``lengths`` [B] int32 fed to every node's
        ``sequence_lens``: a padded batch then runs as rnnlab's ``forward(x, lengths=...)``
        (zero outputs at padded steps, final states at each sequence's last valid step).
    opset : int, 14 to 21 (default 17, supported by ONNX Runtime >= 1.14).

    Notes
    -----
    Input ``x`` is time-major [T, B, I] float32 whatever the model's ``batch_first``.
    """
    onnx = require("onnx", "to_onnx")
    if isinstance(opset, bool) or not isinstance(opset, int) or opset not in _OPSET_IR:
        raise ValueError(f"opset: expected an integer from 14 to 21, got {opset!r}")
    for flag, value in (("initial_states", initial_states), ("lengths", lengths)):
        if not isinstance(value, bool):
            raise TypeError(f"{flag}: expected True or False, got {value!r}")
    spec = model_spec(model)
    graph = build_graph(spec, initial_states, name, lengths)
    proto = onnx.helper.make_model(
        graph,
        opset_imports=[onnx.helper.make_opsetid("", opset)],
        ir_version=_OPSET_IR[opset],
        producer_name="rnnlab",
    )
    onnx.checker.check_model(proto, full_check=True)
    atomic_write_bytes(os.fspath(path), proto.SerializeToString())
    return proto
