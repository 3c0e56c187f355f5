"""ONNX export and import: checked by onnx.checker, executed by ONNX Runtime (float32, 1e-5)."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from rnnlab import GRULayer, LSTMLayer, RNNLayer, models
from rnnlab.interop.onnx import from_onnx, to_onnx

ORT_TOL = 1e-5
INPUT_SIZE, HIDDEN_SIZE = 3, 4
CELLS = ["rnn", "lstm", "gru_reset_after", "gru_guide"]
SHAPES = [(1, 1), (1, 3), (6, 1), (5, 4)]  # (T, B)


def rnnlab_layer(cell, rng, output_size=None, dtype=np.float32):
    kwargs = {"dtype": dtype, "seed": rng}
    if cell == "rnn":
        layer = RNNLayer(INPUT_SIZE, HIDDEN_SIZE, output_size, **kwargs)
    elif cell == "lstm":
        layer = LSTMLayer(INPUT_SIZE, HIDDEN_SIZE, output_size, **kwargs)
    else:
        reset_after = cell == "gru_reset_after"
        layer = GRULayer(INPUT_SIZE, HIDDEN_SIZE, output_size, reset_after=reset_after, **kwargs)
    layer._flat[...] = rng.normal(scale=0.7, size=layer._flat.shape)  # every bias non-zero
    return layer


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run(sess, **feeds):
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, feeds), strict=True))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("output_size", [None, 2])
def test_export_is_valid_and_round_trips(cell, output_size, tmp_path):
    rng = np.random.default_rng(0)
    layer = rnnlab_layer(cell, rng, output_size)
    path = tmp_path / "model.onnx"
    to_onnx(layer, path)
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # no temporary file left
    op_types = [n.op_type for n in model.graph.node]
    assert {"rnn": "RNN", "lstm": "LSTM"}.get(cell, "GRU") in op_types
    if cell.startswith("gru"):
        node = next(n for n in model.graph.node if n.op_type == "GRU")
        lbr = next(a.i for a in node.attribute if a.name == "linear_before_reset")
        assert lbr == (cell == "gru_reset_after")
    assert ("MatMul" in op_types) == (output_size is not None)

    back = from_onnx(path)
    assert type(back) is type(layer)
    assert back.get_config() == layer.get_config() | {"init": back.init}
    for name, value in layer.params.items():
        np.testing.assert_array_equal(back.params[name], value, err_msg=name)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("initial_states", [False, True])
def test_onnx_runtime_matches_rnnlab(cell, initial_states, tmp_path):
    rng = np.random.default_rng(1)
    layer = rnnlab_layer(cell, rng, output_size=2)
    path = tmp_path / "model.onnx"
    to_onnx(layer, path, initial_states=initial_states)
    sess = session(path)  # one session, every shape: T and B are dynamic
    for num_steps, batch_size in SHAPES:
        x = rng.normal(size=(num_steps, batch_size, INPUT_SIZE)).astype(np.float32)
        feeds, state = {"x": x}, None
        if initial_states:
            h0 = rng.normal(size=(1, batch_size, HIDDEN_SIZE)).astype(np.float32)
            feeds["h0"], state = h0, h0[0]
            if cell == "lstm":
                c0 = rng.normal(size=(1, batch_size, HIDDEN_SIZE)).astype(np.float32)
                feeds["c0"], state = c0, (h0[0], c0[0])
        out = run(sess, **feeds)
        y = layer.forward(x, state)
        np.testing.assert_allclose(out["y"], y, rtol=0, atol=ORT_TOL)
        final = layer.final_state
        h_T, C_T = final if cell == "lstm" else (final, None)
        np.testing.assert_allclose(out["h_n"][0], h_T, rtol=0, atol=ORT_TOL)
        if cell == "lstm":
            np.testing.assert_allclose(out["c_n"][0], C_T, rtol=0, atol=ORT_TOL)


def test_float64_layer_exports_float32_values(tmp_path):
    rng = np.random.default_rng(2)
    layer = rnnlab_layer("lstm", rng, dtype=np.float64)
    to_onnx(layer, tmp_path / "m.onnx")
    back = from_onnx(tmp_path / "m.onnx", dtype=np.float64)
    assert back.dtype == np.float64
    np.testing.assert_array_equal(back._flat, layer._flat.astype(np.float32))


# ----------------------------------------------------------------------------- hand-made graphs
def graph_model(op, W, R, B, *, attrs=None, extra_inputs=(), head=None, initializers=()):
    """A one-node ONNX model written by hand (not by to_onnx), with an optional head."""
    I = W.shape[2]
    H = R.shape[2]
    inits = [numpy_helper.from_array(a, n) for n, a in (("W", W), ("R", R), ("B", B))]
    inits += list(initializers)
    nodes = [
        helper.make_node(
            op, ["x", "W", "R", "B", *extra_inputs], ["Y", "Y_h"], hidden_size=H, **(attrs or {})
        )
    ]
    nodes.append(helper.make_node("Squeeze", ["Y", "axes"], ["seq"]))
    inits.append(numpy_helper.from_array(np.array([1]), "axes"))
    out, width = "seq", H
    if head is not None:
        kernel, bias = head
        inits += [numpy_helper.from_array(kernel, "K"), numpy_helper.from_array(bias, "c")]
        nodes += [
            helper.make_node("MatMul", ["seq", "K"], ["mm"]),
            helper.make_node("Add", ["c", "mm"], ["out"]),  # constant first: order must not matter
        ]
        out, width = "out", kernel.shape[1]
    graph = helper.make_graph(
        nodes,
        "hand",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", "B", I])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["T", "B", width])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def random_operator_weights(rng, gates, D=1):
    shape_w = (D, gates * HIDDEN_SIZE, INPUT_SIZE)
    shape_r = (D, gates * HIDDEN_SIZE, HIDDEN_SIZE)
    W, R = rng.normal(size=shape_w), rng.normal(size=shape_r)
    B = rng.normal(size=(D, 2 * gates * HIDDEN_SIZE))  # recurrent biases non-zero too
    return W.astype(np.float32), R.astype(np.float32), B.astype(np.float32)


@pytest.mark.parametrize(
    ("op", "gates", "attrs"),
    [
        ("RNN", 1, {}),
        ("LSTM", 4, {}),
        ("GRU", 3, {"linear_before_reset": 0}),
        ("GRU", 3, {"linear_before_reset": 1}),
    ],
)
def test_import_of_hand_made_graph_matches_onnx_runtime(op, gates, attrs, tmp_path):
    rng = np.random.default_rng(3)
    W, R, B = random_operator_weights(rng, gates)
    head = (rng.normal(size=(HIDDEN_SIZE, 2)).astype(np.float32), rng.normal(size=2).astype("f4"))
    model = graph_model(op, W, R, B, attrs=attrs, head=head)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, tmp_path / "hand.onnx")
    x = rng.normal(size=(4, 2, INPUT_SIZE)).astype(np.float32)
    expected = session(tmp_path / "hand.onnx").run(None, {"x": x})[0]
    layer = from_onnx(model)
    if op == "GRU":
        assert layer.reset_after == bool(attrs["linear_before_reset"])
    np.testing.assert_allclose(layer.forward(x), expected, rtol=0, atol=ORT_TOL)


@pytest.mark.parametrize(
    ("attrs", "extra", "match"),
    [
        ({"activations": ["Relu"]}, (), "activations"),
        ({"clip": 3.0}, (), "clip"),
        ({"direction": "reverse"}, (), "reverse"),
        ({"layout": 1}, (), "layout=1"),
        ({}, ("seq_lens",), "sequence_lens"),
    ],
)
def test_import_refuses_what_rnnlab_lacks(attrs, extra, match):
    rng = np.random.default_rng(4)
    W, R, B = random_operator_weights(rng, 1)
    inits = [numpy_helper.from_array(np.array([2], np.int32), "seq_lens")] if extra else []
    model = graph_model("RNN", W, R, B, attrs=attrs, extra_inputs=extra, initializers=inits)
    with pytest.raises(ValueError, match=match):
        from_onnx(model)


def test_import_refuses_peepholes_and_input_forget():
    rng = np.random.default_rng(5)
    W, R, B = random_operator_weights(rng, 4)
    P = numpy_helper.from_array(np.ones((1, 3 * HIDDEN_SIZE), np.float32), "P")
    model = graph_model("LSTM", W, R, B, extra_inputs=("", "", "", "P"), initializers=[P])
    with pytest.raises(ValueError, match="peepholes"):
        from_onnx(model)
    model = graph_model("LSTM", W, R, B, attrs={"input_forget": 1})
    with pytest.raises(ValueError, match="input_forget"):
        from_onnx(model)


def test_import_refuses_unknown_operators():
    rng = np.random.default_rng(6)
    W, R, B = random_operator_weights(rng, 3)
    model = graph_model("GRU", W, R, B)
    model.graph.node.append(helper.make_node("Relu", ["seq"], ["relu"]))
    with pytest.raises(ValueError, match="Relu"):
        from_onnx(model)


def test_export_argument_errors(tmp_path):
    layer = rnnlab_layer("rnn", np.random.default_rng(7))
    with pytest.raises(ValueError, match="opset"):
        to_onnx(layer, tmp_path / "m.onnx", opset=9)
    with pytest.raises(TypeError, match="initial_states"):
        to_onnx(layer, tmp_path / "m.onnx", initial_states="yes")
    with pytest.raises(TypeError, match="expected an rnnlab"):
        to_onnx(object(), tmp_path / "m.onnx")
    with pytest.raises(TypeError, match="source"):
        from_onnx(3)


# ----------------------------------------------------------------------------- stacks
def randomize(model, rng):
    for name, value in model.params.items():
        model.params[name] = rng.normal(scale=0.7, size=value.shape)
    return model


def assert_same_params(a, b):
    assert list(a.params) == list(b.params)
    for name, value in a.params.items():
        np.testing.assert_array_equal(b.params[name], value, err_msg=name)


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("RNN", {}),
        ("LSTM", {}),
        ("GRU", {"reset_after": True}),
        ("GRU", {"reset_after": False}),
    ],
)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_stack_matches_onnx_runtime_and_round_trips(kind, options, bidirectional, tmp_path):
    cls = getattr(models, kind)
    rng = np.random.default_rng(8)
    stack = cls(INPUT_SIZE, HIDDEN_SIZE, 2, bidirectional=bidirectional, output_size=2, **options)
    randomize(stack, rng)
    to_onnx(stack, tmp_path / "stack.onnx", initial_states=True)
    sess = session(tmp_path / "stack.onnx")
    lstm = cls is models.LSTM
    LD = 2 * (2 if bidirectional else 1)
    for num_steps, batch_size in [(1, 1), (5, 3)]:
        x = rng.normal(size=(num_steps, batch_size, INPUT_SIZE)).astype(np.float32)
        h0 = rng.normal(size=(LD, batch_size, HIDDEN_SIZE)).astype(np.float32)
        c0 = rng.normal(size=h0.shape).astype(np.float32)
        feeds = {"x": x, "h0": h0} | ({"c0": c0} if lstm else {})
        out = run(sess, **feeds)
        y = stack.forward(x, (h0, c0) if lstm else h0)
        np.testing.assert_allclose(out["y"], y, rtol=0, atol=ORT_TOL)
        finals = stack.final_state if lstm else (stack.final_state,)
        for name, final in zip(("h_n", "c_n"), finals, strict=False):
            np.testing.assert_allclose(out[name], final, rtol=0, atol=ORT_TOL)
    back = from_onnx(tmp_path / "stack.onnx")
    assert type(back) is cls
    assert back.get_config() == stack.get_config() | {"dropout": back.dropout}
    assert_same_params(stack, back)


def test_mixed_sequential_matches_onnx_runtime_and_round_trips(tmp_path):
    rng = np.random.default_rng(9)
    model = models.Sequential(
        RNNLayer(INPUT_SIZE, HIDDEN_SIZE),
        models.Bidirectional(GRULayer(HIDDEN_SIZE, HIDDEN_SIZE, reset_after=True)),
        LSTMLayer(2 * HIDDEN_SIZE, 5),
        models.Dense(5, 2),
    )
    randomize(model, rng)
    to_onnx(model, tmp_path / "mixed.onnx")
    x = rng.normal(size=(4, 2, INPUT_SIZE)).astype(np.float32)
    out = run(session(tmp_path / "mixed.onnx"), x=x)
    np.testing.assert_allclose(out["y"], model.forward(x), rtol=0, atol=ORT_TOL)
    np.testing.assert_allclose(out["h_n_2"][0], model.modules[2].final_state[0], atol=ORT_TOL)
    back = from_onnx(tmp_path / "mixed.onnx")
    assert [type(m).__name__ for m in back.modules] == [
        "RNNLayer",
        "Bidirectional",
        "LSTMLayer",
        "Dense",
    ]
    assert_same_params(model, back)
    with pytest.raises(ValueError, match="initial_states"):
        to_onnx(model, tmp_path / "again.onnx", initial_states=True)


@pytest.mark.parametrize("opset", [14, 21])
def test_every_documented_opset_runs(opset, tmp_path):
    rng = np.random.default_rng(10)
    stack = randomize(models.LSTM(INPUT_SIZE, HIDDEN_SIZE, 2, bidirectional=True), rng)
    model = to_onnx(stack, tmp_path / "m.onnx", opset=opset, initial_states=True)
    assert model.opset_import[0].version == opset
    x = rng.normal(size=(3, 2, INPUT_SIZE)).astype(np.float32)
    h0, c0 = rng.normal(size=(2, 4, 2, HIDDEN_SIZE)).astype(np.float32)
    out = run(session(tmp_path / "m.onnx"), x=x, h0=h0, c0=c0)
    np.testing.assert_allclose(out["y"], stack.forward(x, (h0, c0)), rtol=0, atol=ORT_TOL)


def test_import_refuses_graph_outputs_rnnlab_does_not_compute():
    rng = np.random.default_rng(11)
    W, R, B = random_operator_weights(rng, 1)
    head = (rng.normal(size=(HIDDEN_SIZE, 2)).astype(np.float32), np.zeros(2, np.float32))
    model = graph_model("RNN", W, R, B, head=head)
    # the sequence before the head is not an output of an rnnlab model with a head
    info = helper.make_tensor_value_info("seq", TensorProto.FLOAT, ["T", "B", HIDDEN_SIZE])
    model.graph.output.append(info)
    with pytest.raises(ValueError, match="intermediate value"):
        from_onnx(model)


def test_export_refuses_a_dense_between_recurrent_layers(tmp_path):
    model = models.Sequential(
        RNNLayer(INPUT_SIZE, HIDDEN_SIZE), models.Dense(HIDDEN_SIZE, HIDDEN_SIZE),
        RNNLayer(HIDDEN_SIZE, HIDDEN_SIZE),
    )  # fmt: skip
    with pytest.raises(ValueError, match="follows an output head"):
        to_onnx(model, tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())


def test_export_refuses_layer_norm_and_zoneout(tmp_path):
    with pytest.raises(ValueError, match="layer_norm"):
        to_onnx(models.GRU(INPUT_SIZE, HIDDEN_SIZE, 2, layer_norm=True), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="zoneout"):
        to_onnx(LSTMLayer(INPUT_SIZE, HIDDEN_SIZE, zoneout=0.2), tmp_path / "m.onnx")


@pytest.mark.parametrize("cell", CELLS)
def test_padded_batch_with_lengths_matches_onnx_runtime(cell, tmp_path):
    rng = np.random.default_rng(12)
    layer = rnnlab_layer(cell, rng, output_size=2)
    to_onnx(layer, tmp_path / "m.onnx", lengths=True, initial_states=True)
    x = rng.normal(size=(5, 3, INPUT_SIZE)).astype(np.float32)
    lengths = np.array([5, 2, 1], np.int32)
    h0 = rng.normal(size=(1, 3, HIDDEN_SIZE)).astype(np.float32)
    c0 = rng.normal(size=h0.shape).astype(np.float32)
    feeds = {"x": x, "lengths": lengths, "h0": h0} | ({"c0": c0} if cell == "lstm" else {})
    out = run(session(tmp_path / "m.onnx"), **feeds)
    y = layer.forward(x, (h0[0], c0[0]) if cell == "lstm" else h0[0], lengths=lengths)
    np.testing.assert_allclose(out["y"], y, rtol=0, atol=ORT_TOL)
    h_T = layer.final_state[0] if cell == "lstm" else layer.final_state
    np.testing.assert_allclose(out["h_n"][0], h_T, rtol=0, atol=ORT_TOL)
    back = from_onnx(tmp_path / "m.onnx")
    np.testing.assert_array_equal(back._flat, layer._flat)


def test_padded_bidirectional_stack_matches_onnx_runtime(tmp_path):
    rng = np.random.default_rng(13)
    stack = models.GRU(INPUT_SIZE, HIDDEN_SIZE, 2, bidirectional=True, output_size=2)
    randomize(stack, rng)
    to_onnx(stack, tmp_path / "m.onnx", lengths=True)
    x = rng.normal(size=(6, 3, INPUT_SIZE)).astype(np.float32)
    lengths = np.array([3, 6, 1], np.int32)
    out = run(session(tmp_path / "m.onnx"), x=x, lengths=lengths)
    # the reverse direction starts at each sequence's own last step, in both
    np.testing.assert_allclose(out["y"], stack.forward(x, lengths=lengths), atol=ORT_TOL)
    np.testing.assert_allclose(out["h_n"], stack.final_state, rtol=0, atol=ORT_TOL)
    assert_same_params(stack, from_onnx(tmp_path / "m.onnx"))


def test_lengths_without_head_and_an_unmasked_head_on_import(tmp_path):
    rng = np.random.default_rng(14)
    layer = rnnlab_layer("gru_guide", rng)
    to_onnx(layer, tmp_path / "plain.onnx", lengths=True)
    x = rng.normal(size=(4, 2, INPUT_SIZE)).astype(np.float32)
    lengths = np.array([2, 4], np.int32)
    out = run(session(tmp_path / "plain.onnx"), x=x, lengths=lengths)
    y = from_onnx(tmp_path / "plain.onnx").forward(x, lengths=lengths)
    np.testing.assert_allclose(out["y"], y, rtol=0, atol=ORT_TOL)

    headed = to_onnx(rnnlab_layer("lstm", rng, output_size=2), tmp_path / "h.onnx", lengths=True)
    mul = next(n for n in headed.graph.node if n.op_type == "Mul")
    mul.input[1] = "valid_float"  # [T, B]: not the mask rnnlab applies
    with pytest.raises(ValueError, match="padding mask"):
        from_onnx(headed)
    headed.graph.node.remove(mul)
    add = next(n for n in headed.graph.node if n.op_type == "Add")
    add.output[0] = "y"
    with pytest.raises(ValueError, match="padded steps"):
        from_onnx(headed)
