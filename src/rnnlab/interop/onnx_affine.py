"""Products by constant matrices, and recurrences written out step by step.

``MatMul`` by a constant and ``Add`` of a constant make an *affine* map of a tensor (``x·K + b``);
the walk keeps ``K`` and ``b``. An affine map of the last layer's output that reaches the graph
output is the output head. PyTorch's dynamo exporter writes ``nn.RNN`` (tanh) as its loop
unrolled: ``P = x·W_ihᵀ + b_ih`` once, then for every step ``t`` in order
``h_{t+1} = tanh(P[t] + h_t·W_hhᵀ + b_hh)`` from ``h_0 = 0``, and the outputs concatenated along
time. That is an Elman RNN exactly when every step uses the same ``W_hh`` and ``b_hh``, the steps
are taken in order, each step's input is step ``t`` of the same projection and the sequence is
every ``h_1 … h_T``: all of this is checked, not assumed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._common import new_layer, set_params
from ._onnx_spec import RecurrentSpec
from .onnx_eval import Data, GraphError


def _where(node) -> str:
    return f"node {node.name!r} ({node.op_type})"


def _broadcast(node, data: Data, const: np.ndarray, sizes) -> tuple[Data, np.ndarray]:
    """``data`` padded with leading size-1 axes to ``const``'s rank, and ``const`` broadcast to
    its shape; refuses a constant that would enlarge the data."""
    axes = ((),) * max(0, const.ndim - len(data.axes)) + data.axes
    padded = Data(data.tag, axes)
    shape = padded.shape(sizes)
    try:
        grown = np.broadcast_shapes(shape, const.shape)
    except ValueError as exc:
        raise GraphError(f"{_where(node)}: shapes {shape} and {const.shape} differ") from exc
    if grown != shape:
        raise GraphError(f"{_where(node)}: a constant {const.shape} enlarges a data tensor")
    return padded, np.broadcast_to(const, shape)


def _row(node, values: np.ndarray) -> np.ndarray:
    """The one vector every position of ``values`` adds along the last axis."""
    rows = values.reshape(-1, values.shape[-1])
    if not np.all(rows == rows[:1]):
        raise GraphError(f"{_where(node)}: adds a constant that differs between positions")
    return rows[0].copy()


def _new_affine(node, walk, source: Data, kernel, bias, axes, matmul: str = "") -> Data:
    key = len(walk.affine)
    walk.affine[key] = {"src": source, "K": kernel, "b": bias, "node": matmul or node.name}
    walk.sizes[f"A{key}"] = kernel.shape[1]
    return Data(("affine", key), (*axes[:-1], (f"A{key}",)))


def affine_node(node, walk, args) -> Data:
    """MatMul by a constant, Add of a constant, and the adds and tanh of an unrolled RNN."""
    op = node.op_type
    data = [a for a in args if isinstance(a, Data)]
    const = [a for a in args if isinstance(a, np.ndarray)]
    if op == "MatMul" and args[0] is data[0] and len(const) == 1 and const[0].ndim == 2:
        source = data[0]
        if source.tag[0] in ("affine", "masked", "step", "pre"):
            raise GraphError(f"{_where(node)}: a product of products has no rnnlab counterpart")
        if source.shape(walk.sizes)[-1] != const[0].shape[0]:
            raise GraphError(f"{_where(node)}: matrix {const[0].shape} does not fit the data")
        zeros = np.zeros(const[0].shape[1], const[0].dtype)
        return _new_affine(node, walk, source, const[0], zeros, source.axes)
    if op == "Add" and len(const) == 1 and data[0].tag[0] == "affine":
        padded, values = _broadcast(node, data[0], const[0], walk.sizes)
        record = walk.affine[data[0].tag[1]]
        bias = record["b"] + _row(node, values)
        return _new_affine(
            node, walk, record["src"], record["K"], bias, padded.axes, record["node"]
        )
    if op == "Add" and len(const) == 1 and data[0].tag[0] == "step":
        return _first_step(node, walk, data[0], const[0])
    if op == "Add" and len(data) == 2:
        return _later_step(node, walk, data)
    if op == "Tanh" and data[0].tag[0] == "pre":
        _, key, t = data[0].tag
        return Data(("h", key, t + 1), data[0].axes)
    raise GraphError(
        f"{_where(node)}: {op} of {[a.tag if isinstance(a, Data) else 'constant' for a in args]}"
        " has no rnnlab counterpart (expected an output head MatMul(last layer output, "
        "constant) + Add(constant), or the steps of an unrolled tanh RNN)"
    )


def _first_step(node, walk, step: Data, const: np.ndarray) -> Data:
    """tanh's argument at t = 0: P[0] + (0·W_hhᵀ + b_hh), the second term a constant."""
    _, projection, t, _ = step.tag
    if t != 0:
        raise GraphError(f"{_where(node)}: adds a constant recurrent term at step {t}, not 0")
    padded, values = _broadcast(node, step, const, walk.sizes)
    key = len(walk.unrolled)
    walk.unrolled[key] = {"x": projection, "U": None, "c": _row(node, values), "layer": None}
    return Data(("pre", key, 0), padded.axes)


def _later_step(node, walk, data: list[Data]) -> Data:
    """tanh's argument at t > 0: P[t] + (h_t·W_hhᵀ + b_hh)."""
    steps = [d for d in data if d.tag[0] == "step"]
    recurrent = [d for d in data if d.tag[0] == "affine"]
    if len(steps) != 1 or len(recurrent) != 1:
        tags = [d.tag for d in data]
        raise GraphError(f"{_where(node)}: adds {tags}, which has no rnnlab counterpart")
    (_, projection, t, _), record = steps[0].tag, walk.affine[recurrent[0].tag[1]]
    state = record["src"].tag
    if state[0] != "h" or state[2] != t or walk.unrolled[state[1]]["x"] != projection:
        raise GraphError(
            f"{_where(node)}: adds step {t} of the input projection to {state}; an RNN adds "
            "step t to the state after t steps of the same loop"
        )
    loop = walk.unrolled[state[1]]
    if loop["U"] is None and np.array_equal(loop["c"], record["b"]):
        loop["U"] = record["K"]
    if loop["U"] is None or not np.array_equal(loop["U"], record["K"]):
        raise GraphError(
            f"{_where(node)}: step {t} uses other recurrent weights (from node "
            f"{record['node']!r}) than the steps before it; an RNN has one W_hh"
        )
    if not np.array_equal(loop["c"], record["b"]):
        raise GraphError(
            f"{_where(node)}: step {t} uses another recurrent bias (node {record['node']!r}) "
            "than step 0 (an RNN has one b_hh; a non-zero initial state also shows this way)"
        )
    long, short = sorted((recurrent[0], steps[0]), key=lambda d: -len(d.axes))
    pad = len(long.axes) - len(short.axes)
    same = long.axes[pad:-1] == short.axes[:-1] and not any(long.axes[:pad])
    if not same or long.shape(walk.sizes)[-1] != short.shape(walk.sizes)[-1]:
        raise GraphError(f"{_where(node)}: the state and the step input differ in layout")
    axes = (*long.axes[:-1], (f"A{projection}",))
    return Data(("pre", state[1], t), axes)


def step_slice(node, walk, data: Data, ranges: dict) -> Data:
    """Slice of one time step (t : t+1) of an input projection: that step, axis kept (size 1)."""
    if data.tag[0] != "affine" or len(ranges) != 1:
        raise GraphError(f"{_where(node)}: a slice with no rnnlab counterpart")
    ((axis, (start, stop, step)),) = ranges.items()
    if step != 1 or stop != start + 1 or len(data.axes[axis]) != 1:
        raise GraphError(
            f"{_where(node)}: takes {start}:{stop}:{step} of axis {axis}; rnnlab models return "
            "every step and every feature (a last-step selection has no rnnlab counterpart)"
        )
    axes = list(data.axes)
    time = axes[axis][0]
    axes[axis] = ()
    return Data(("step", data.tag[1], start, time), tuple(axes))


def steps_concat(node, walk, parts: list[Data], axis: int) -> Data:
    """h_1 … h_T of one unrolled loop concatenated along time: a new RNN layer."""
    key = parts[0].tag[1]
    loop = walk.unrolled[key]
    record = walk.affine[loop["x"]]
    k = len(walk.layers)
    walk.check_sequence_input(node, record["src"], k, record["K"].shape[0])
    T = walk.sizes[walk.time]
    if [p.tag for p in parts] != [("h", key, t) for t in range(1, T + 1)]:
        raise GraphError(
            f"{_where(node)}: concatenates {[p.tag for p in parts]}; an RNN's output is every "
            f"state h_1 … h_{T} of one loop, in order"
        )
    if loop["U"] is None:
        raise GraphError(
            f"{_where(node)}: a one-step loop never uses its recurrent weights, so they cannot "
            "be recovered; export with a longer sequence"
        )
    axes = list(parts[0].axes)
    if axes[axis] != () or axes[-1] != (f"A{loop['x']}",):
        raise GraphError(f"{_where(node)}: concatenates the states along a non-time axis")
    H = loop["U"].shape[0]
    layer = new_layer("rnn", record["K"].shape[0], H, dtype=walk.dtype)
    set_params(layer, record["K"].T, loop["U"].T, record["b"] + loop["c"])
    walk.layers.append(RecurrentSpec("rnn", [layer]))
    walk.lengths_used.append(False)
    walk.sizes[f"H{k}"], walk.sizes[f"D{k}"] = H, 1
    loop["layer"] = k
    axes[axis] = (walk.time,)
    axes[-1] = (f"H{k}",)
    if tuple(axes) != ((walk.time,), (walk.batch,), (f"H{k}",)):
        raise GraphError(f"{_where(node)}: the states are not laid out as [T, B, H]")
    return Data(("seq", k), tuple(axes))


def is_loop_state(value: Any) -> bool:
    return isinstance(value, Data) and value.tag[0] == "h"
