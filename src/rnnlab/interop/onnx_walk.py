"""The state of one pass over an ONNX graph (:mod:`rnnlab.interop.onnx_import`): the values
known so far, the logical axis sizes, the recurrent layers found, and the checks that tie them
together (sequence inputs, initial states, lengths, the head, the graph outputs)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._onnx_spec import GraphSpec, RecurrentSpec
from .onnx_eval import Data, GraphError, _int_list, slice_ranges


def _where(node) -> str:
    return f"node {node.name!r} ({node.op_type})"


def feature_atoms(walk: Walk, k: int) -> tuple[str, ...]:
    """Layer k's output features: its directions concatenated, forward first ([D, H] merged)."""
    return (f"D{k}", f"H{k}") if walk.sizes[f"D{k}"] == 2 else (f"H{k}",)


def _is_float(elem_type: int) -> bool:
    from onnx import TensorProto

    return elem_type in (
        TensorProto.FLOAT,
        TensorProto.DOUBLE,
        TensorProto.FLOAT16,
        TensorProto.BFLOAT16,
    )


def _half(elem_type: int) -> bool:
    from onnx import TensorProto

    return elem_type in (TensorProto.FLOAT16, TensorProto.BFLOAT16)


class Walk:
    """What one evaluation of a graph has learnt, node by node."""

    def __init__(self, graph, probe: tuple[int, ...], dtype: Any, input_shape=None):
        from onnx import numpy_helper

        self.graph = graph
        self.dtype = dtype
        self.values: dict[str, Any] = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.sizes: dict[str, int] = {}
        self.layers: list[RecurrentSpec] = []
        self.time = self.batch = ""
        self.lengths_used: list[bool] = []
        self.state_used: dict[str, set[int]] = {"h": set(), "c": set()}
        self.affine: dict[int, dict[str, Any]] = {}  # MatMul/Add by constants (heads, ...)
        self.unrolled: dict[int, dict[str, Any]] = {}  # RNN loops written out step by step
        self._inputs(probe, input_shape)

    @staticmethod
    def has_symbolic_dims(graph) -> bool:
        names = {t.name for t in graph.initializer}
        return any(
            not dim.dim_value
            for value in graph.input
            if value.name not in names
            for dim in value.type.tensor_type.shape.dim
        )

    def _inputs(self, probe, input_shape) -> None:
        symbols: dict[str, int] = {}
        inputs = [v for v in self.graph.input if v.name not in self.values]
        if not inputs:
            raise ValueError("model: has no graph input")
        for index, value in enumerate(inputs):
            tensor = value.type.tensor_type
            dims = []
            for axis, dim in enumerate(tensor.shape.dim):
                given = input_shape[axis] if index == 0 and input_shape is not None else None
                if dim.dim_value > 0:
                    if given is not None and given != dim.dim_value:
                        raise ValueError(
                            f"input_shape: axis {axis} of graph input {value.name!r} is fixed at "
                            f"{dim.dim_value}, got {given}"
                        )
                    dims.append(int(dim.dim_value))
                elif given is not None:  # the caller's actual input size
                    symbols[dim.dim_param or f"?{len(symbols)}"] = given
                    dims.append(given)
                else:  # symbolic: one probe size per distinct name
                    key = dim.dim_param or f"?{len(symbols)}"
                    if key not in symbols:
                        symbols[key] = probe[len(symbols) % len(probe)] + len(symbols) // 3
                    dims.append(symbols[key])
            if index == 0:
                if len(dims) != 3 or not _is_float(tensor.elem_type):
                    raise ValueError(
                        f"model: graph input {value.name!r} must be a float [T, B, I] or "
                        f"[B, T, I] sequence, got rank {len(dims)}"
                    )
                if _half(tensor.elem_type):
                    raise ValueError(
                        f"model: graph input {value.name!r} is half precision (float16 or "
                        "bfloat16); the graph computes in it, rnnlab in float32 or float64, so "
                        "the outputs would differ. Export the model in float32"
                    )
                atoms: tuple[str, ...] = ("x0", "x1", "x2")
                tag: tuple[Any, ...] = ("x",)
            elif not _is_float(tensor.elem_type) and len(dims) == 1:
                atoms, tag = ("len",), ("lengths",)
            else:
                atoms = tuple(f"{value.name}:{i}" for i in range(len(dims)))
                tag = ("state", value.name, 0, dims[0] if dims else 0)
            self.sizes.update(zip(atoms, dims, strict=True))
            self.values[value.name] = Data(tag, tuple((a,) for a in atoms))

    # ------------------------------------------------------------------------- recurrent inputs
    def check_sequence_input(self, node, X, k: int, input_size: int) -> None:
        if k == 0:
            ok = (
                isinstance(X, Data)
                and X.tag == ("x",)
                and len(X.axes) == 3
                and all(len(a) == 1 for a in X.axes)
                and X.axes[2] == ("x2",)
            )
            if not ok:
                raise GraphError(
                    f"{_where(node)}: its input must be the graph input as [T, B, I] (possibly "
                    f"transposed from [B, T, I]), got {X.axes if isinstance(X, Data) else X}"
                )
            self.time, self.batch = X.axes[0][0], X.axes[1][0]
        else:
            expected = ((self.time,), (self.batch,), feature_atoms(self, k - 1))
            if not isinstance(X, Data) or X.tag != ("seq", k - 1) or X.axes != expected:
                raise GraphError(
                    f"{_where(node)}: its input must be the previous recurrent node's output "
                    "sequence as [T, B, D·H] (directions concatenated, forward first), got "
                    f"{X.tag if isinstance(X, Data) else 'a constant'} laid out as "
                    f"{X.axes if isinstance(X, Data) else np.shape(X)}"
                )
        features = X.shape(self.sizes)[2]
        if features != input_size:
            raise GraphError(
                f"{_where(node)}: W expects {input_size} input features, its input has {features}"
            )

    def check_lengths(self, node, name: str) -> None:
        value = self.values.get(name) if name else None
        if name and not (isinstance(value, Data) and value.tag == ("lengths",)):
            raise GraphError(
                f"{_where(node)}: sequence_lens must be the graph's integer lengths input "
                "(passed to rnnlab as forward(x, lengths=...)); constant or computed lengths "
                "have no rnnlab counterpart"
            )
        self.lengths_used.append(bool(name))

    def check_initial_state(self, node, name: str, which: str, k: int, D: int, H: int) -> None:
        if not name or (which == "c" and node.op_type != "LSTM"):
            return
        value = self.values[name]
        if isinstance(value, np.ndarray):
            if np.any(value):
                raise GraphError(
                    f"{_where(node)}: a constant non-zero initial state ({name!r}) has no "
                    "rnnlab counterpart (rnnlab starts from zeros or from the state passed in)"
                )
            return  # zeros: rnnlab's default
        start = sum(self.sizes[f"D{j}"] for j in range(k))
        if not (value.tag[0] == "state" and value.tag[2:] == (start, start + D)):
            raise GraphError(
                f"{_where(node)}: its initial state must be zeros or rows {start}:{start + D} "
                f"of a graph state input [L·D, B, H], got {value.tag}"
            )
        self.state_used[which].add(k)

    def split_state(self, node, data: Data, args, attrs) -> list[Data]:
        if attrs.get("axis", 0) != 0:
            raise GraphError(f"{_where(node)}: states split along an axis other than 0")
        total = data.tag[3] - data.tag[2]
        if len(args) > 1 and args[1] is not None:
            sizes = _int_list(args[1])
        else:
            count = attrs.get("num_outputs", len(node.output))
            sizes = [total // count] * count
        pieces, start = [], data.tag[2]
        for size in sizes:
            atom = f"{data.tag[1]}:{start}:{start + size}"
            self.sizes[atom] = size
            tag = ("state", data.tag[1], start, start + size)
            pieces.append(Data(tag, ((atom,), *data.axes[1:])))
            start += size
        return pieces

    def state_rows(self, node, data: Data, args, attrs) -> Data:
        """Slice or Gather of a graph state input along axis 0: the rows of some layers."""
        first, total = data.tag[2], data.tag[3] - data.tag[2]
        if node.op_type == "Gather":
            index = np.asarray(args[1])
            if attrs.get("axis", 0) != 0 or index.ndim != 0 or not -total <= index < total:
                raise GraphError(f"{_where(node)}: takes something else than one row of a state")
            start = int(index) % total
            return Data(("state", data.tag[1], first + start, first + start + 1), data.axes[1:])
        ranges = slice_ranges(node, data.shape(self.sizes), args)
        (start, stop, step) = ranges.pop(0, (0, total, 1))
        if ranges or step != 1 or stop <= start:
            raise GraphError(f"{_where(node)}: takes something else than rows of a state")
        atom = f"{data.tag[1]}:{first + start}:{first + stop}"
        self.sizes[atom] = stop - start
        tag = ("state", data.tag[1], first + start, first + stop)
        return Data(tag, ((atom,), *data.axes[1:]))

    # ------------------------------------------------------------------------- the end
    def finish(self) -> GraphSpec:
        if not self.layers:
            raise ValueError("model: contains no RNN, LSTM or GRU node")
        last = len(self.layers) - 1
        if any(self.lengths_used) and not all(self.lengths_used):
            raise ValueError(
                "model: some recurrent nodes use the lengths input and others do not; rnnlab "
                "applies lengths to every layer"
            )
        for which, used in self.state_used.items():
            if used and len(used) != len(self.layers):
                raise ValueError(
                    f"model: initial states ({which}) come from a graph input for some layers "
                    "only; rnnlab's initial state covers every layer"
                )
        batch_first = self.batch == "x0"
        head = self._check_outputs(last, batch_first)
        return GraphSpec(self.layers, head, batch_first)

    def final_of(self, value: Any) -> tuple | None:
        """The final-state tag of ``value``, or None when it is not a final state."""
        if not isinstance(value, Data):
            return None
        if value.tag[0] in ("final", "finals"):
            return value.tag
        if value.tag[0] == "h":  # a state of an unrolled RNN, final if after the last step
            record = self.unrolled[value.tag[1]]
            if record.get("layer") is not None and value.tag[2] == self.sizes[self.time]:
                return ("final", record["layer"], "h")
        return None

    def _check_outputs(self, last: int, batch_first: bool):
        """Check every graph output; returns the head (W_hy, b_y) or None."""
        sequences = []
        for output in self.graph.output:
            value = self.values.get(output.name)
            if self.final_of(value) is not None:
                continue
            if isinstance(value, Data) and value.tag[0] in ("seq", "affine", "masked"):
                sequences.append((output.name, value))
            else:
                role = value.tag if isinstance(value, Data) else "a constant"
                raise ValueError(
                    f"model: graph output {output.name!r} is an intermediate value ({role}); "
                    "rnnlab models return the last layer's sequence (through the head, if any) "
                    "and the final states"
                )
        order = {"masked": 0, "affine": 1, "seq": 2}
        sequences.sort(key=lambda item: order[item[1].tag[0]])
        for name, value in sequences[1:]:
            raise ValueError(
                f"model: graph output {name!r} is an intermediate value ({value.tag}); rnnlab "
                "models return the last layer's sequence (through the head, if any) and the "
                "final states"
            )
        if not sequences:
            return None
        name, value = sequences[0]
        head = self._head(value, last)
        features = (f"A{value.tag[1]}",) if head is not None else feature_atoms(self, last)
        T, B = (self.time,), (self.batch,)
        expected = (B, T, features) if batch_first else (T, B, features)
        if value.axes != expected:
            layout = "[B, T, I]" if batch_first else "[T, B, I]"
            raise ValueError(
                f"model: graph output {name!r} is laid out as {value.axes}, not like its input "
                f"{layout} (expected {expected}); an rnnlab model has one layout (batch_first) "
                "for its input and output"
            )
        return head

    def _head(self, value: Data, last: int):
        if value.tag[0] == "seq":
            if value.tag[1] != last:
                raise ValueError(f"model: its output is layer {value.tag[1]}'s, not the last's")
            return None
        record = self.affine[value.tag[1]]
        source = record["src"]
        if source.tag != ("seq", last) or source.axes[-1] != feature_atoms(self, last):
            raise ValueError(
                "model: its output is a product by a constant matrix of something else than the "
                f"last layer's output features ({source.tag}, {source.axes}); only that is an "
                "rnnlab output head"
            )
        if any(self.lengths_used) and value.tag[0] != "masked":
            raise ValueError(
                "model: its head is applied at padded steps too (no padding mask), where rnnlab "
                "outputs zeros; an rnnlab model computes something else there"
            )
        return record["K"].T, record["b"]


# ----------------------------------------------------------------------------- head and mask
def mask_node(node, walk: Walk, args, attrs) -> Data:
    """rnnlab's padding mask m[t, b] = t < lengths[b], and the head's output times it."""
    op = node.op_type
    data = [a for a in args if isinstance(a, Data)]
    if op == "Cast":
        return data[0]
    if op == "Less" and isinstance(args[0], np.ndarray) and data[0].tag == ("lengths",):
        steps = args[0]
        T = walk.sizes.get(walk.time, -1)
        is_steps = steps.shape == (T, 1) and np.array_equal(steps.ravel(), np.arange(T))
        if data[0].axes == ((), ("len",)) and is_steps:
            return Data(("mask",), ((walk.time,), ("len",)))
    if op == "Mul" and len(data) == 2:
        head, mask = sorted(data, key=lambda d: d.tag == ("mask",))
        if head.tag[0] == "affine" and mask.tag == ("mask",) and len(mask.axes) == len(head.axes):
            renamed = [tuple(walk.batch if a == "len" else a for a in axis) for axis in mask.axes]
            fits = all(m in ((), h) for m, h in zip(renamed, head.axes, strict=True))
            if fits and {(walk.time,), (walk.batch,)} <= set(renamed):
                return Data(("masked", head.tag[1]), head.axes)
    raise GraphError(
        f"{_where(node)}: the only use of the lengths rnnlab understands is the padding mask "
        "(t < lengths) that to_onnx multiplies the head's output by"
    )


def finals_concat(node, walk: Walk, args, attrs) -> Data:
    """Final states of several layers stacked along axis 0, as PyTorch's h_n [L·D, B, H]."""
    parts = [a for a in args if isinstance(a, Data)]
    parts = [Data(walk.final_of(p) or p.tag, p.axes) for p in parts]
    kinds = {p.tag[0] for p in parts} | ({"constant"} if len(parts) != len(args) else set())
    axis = attrs.get("axis", 0)
    if (
        kinds <= {"final", "finals"}
        and len({p.tag[-1] if p.tag[0] == "final" else p.tag[1] for p in parts}) == 1
    ):
        rank = len(parts[0].axes)
        tails = {(p.axes[1:-1], p.shape(walk.sizes)[1:]) for p in parts}
        if axis in (0, -rank) and len(tails) == 1:
            which = parts[0].tag[2] if parts[0].tag[0] == "final" else parts[0].tag[1]
            layers = tuple(
                j for p in parts for j in ((p.tag[1],) if p.tag[0] == "final" else p.tag[2])
            )
            atom = f"S:{which}:{layers}"
            walk.sizes[atom] = sum(p.shape(walk.sizes)[0] for p in parts)
            return Data(("finals", which, layers), ((atom,), *parts[0].axes[1:]))
    tags = [a.tag if isinstance(a, Data) else "constant" for a in args]
    raise GraphError(
        f"{_where(node)}: concatenates {tags}; rnnlab understands only final states stacked "
        "along axis 0"
    )
