"""Interop refusals: what cannot convert exactly says so, and says what to do instead.

Every case here converted silently (or failed with a stray traceback) before: a malformed ONNX
file raised protobuf's DecodeError, bfloat16 weights a NumPy TypeError, ``to_torch(dict)`` an
AttributeError, and an ``nn.LSTM`` subclass with its own ``forward`` converted to a model whose
outputs differed from the module's.
"""

import os
import sys

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from rnnlab import GRULayer, LSTMLayer, models
from rnnlab.interop import (
    from_keras,
    from_onnx,
    from_torch,
    from_torch_with_head,
    state_dict_torch,
    to_keras,
    to_onnx,
    to_torch,
    to_torch_with_head,
)
from rnnlab.interop.torch_stack import from_torch_stack, to_torch_stack

os.environ.setdefault("KERAS_BACKEND", "torch")


def one_node_graph(attrs=None, opset=17, domain=""):
    """x [T, B, 2] -> RNN(H=3) -> squeeze: the smallest graph from_onnx accepts."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.normal(size=(1, 3, 2)).astype(np.float32), "W"),
        numpy_helper.from_array(rng.normal(size=(1, 3, 3)).astype(np.float32), "R"),
        numpy_helper.from_array(np.array([1]), "axes"),
    ]
    nodes = [
        helper.make_node("RNN", ["x", "W", "R"], ["Y"], name="rnn", hidden_size=3, **attrs or {}),
        helper.make_node("Squeeze", ["Y", "axes"], ["y"], name="squeeze", domain=domain),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", "B", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["T", "B", 3])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


# ----------------------------------------------------------------------------- ONNX files
@pytest.mark.parametrize("content", [b"\x08\x07garbage\xff\xff\xff", b"not onnx at all"])
def test_malformed_onnx_file_is_a_value_error_naming_the_file(content, tmp_path):
    path = tmp_path / "broken.onnx"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"broken\.onnx"):
        from_onnx(path)


def test_missing_onnx_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"absent\.onnx"):
        from_onnx(tmp_path / "absent.onnx")


def test_the_smallest_graph_converts_so_the_refusals_below_are_specific():
    assert from_onnx(one_node_graph()).hidden_size == 3


@pytest.mark.parametrize("opset", [9, 12, 99])
def test_unknown_opset_is_refused(opset, tmp_path):
    onnx.save(one_node_graph(opset=opset), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match=rf"m\.onnx: model: opset {opset} .*\(expected 13 to 23\)"):
        from_onnx(tmp_path / "m.onnx")


def test_unknown_attribute_is_refused_with_the_node_named():
    with pytest.raises(ValueError, match=r"node 'rnn' \(RNN\): attribute\(s\) \['speed'\]"):
        from_onnx(one_node_graph({"speed": 2}))


def test_operator_of_another_domain_is_refused_with_the_node_named():
    with pytest.raises(ValueError, match=r"node 'squeeze' \(Squeeze\): .*domain 'com\.microsoft'"):
        from_onnx(one_node_graph(domain="com.microsoft"))


def test_half_precision_onnx_graph_is_refused():
    model = one_node_graph()
    model.graph.input[0].type.tensor_type.elem_type = TensorProto.FLOAT16
    with pytest.raises(ValueError, match="graph input 'x' is half precision"):
        from_onnx(model)
    model = one_node_graph()
    for index, tensor in enumerate(model.graph.initializer[:2]):
        half = numpy_helper.to_array(tensor).astype(np.float16)
        model.graph.initializer[index].CopyFrom(numpy_helper.from_array(half, tensor.name))
    with pytest.raises(ValueError, match=r"node 'rnn' \(RNN\): weights in float16"):
        from_onnx(model)


def test_weights_that_depend_on_the_input_size_are_refused():
    """W chosen by whether T < 10: one rnnlab model cannot compute that, and evaluating the
    glue at two sizes finds it."""
    model = one_node_graph()
    rng = np.random.default_rng(1)
    both = numpy_helper.from_array(rng.normal(size=(2, 1, 3, 2)).astype(np.float32), "W_both")
    model.graph.initializer.extend(
        [
            both,
            numpy_helper.from_array(np.array(0), "zero"),
            numpy_helper.from_array(np.array(10), "ten"),
        ]
    )
    model.graph.node.insert(
        0, helper.make_node("Gather", ["W_both", "index"], ["W_chosen"], name="choose", axis=0)
    )
    for node in reversed(
        [
            helper.make_node("Shape", ["x"], ["shape"], name="shape"),
            helper.make_node("Gather", ["shape", "zero"], ["T"], name="T"),
            helper.make_node("Less", ["T", "ten"], ["short"], name="short"),
            helper.make_node("Cast", ["short"], ["index"], name="index", to=TensorProto.INT64),
        ]
    ):
        model.graph.node.insert(0, node)
    model.graph.node[-2].input[1] = "W_chosen"
    with pytest.raises(ValueError, match=r"evaluated at two input sizes.*two different rnnlab"):
        from_onnx(model)


def test_nonzero_constant_initial_state_is_refused():
    model = one_node_graph()
    h0 = numpy_helper.from_array(np.ones((1, 1, 3), np.float32), "h0")
    model.graph.initializer.append(h0)
    model.graph.node[0].input.extend(["", "", "h0"])
    with pytest.raises(ValueError, match=r"node 'rnn' \(RNN\): a constant non-zero initial"):
        from_onnx(model)


@pytest.mark.filterwarnings("ignore")  # the TorchScript exporter's deprecation and tracer notes
def test_last_step_selection_from_torch_is_refused_with_the_node_named(tmp_path):
    class LastStep(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.GRU(2, 3, batch_first=True)

        def forward(self, x):
            return self.rnn(x)[0][:, -1]

    torch.onnx.export(LastStep(), (torch.zeros(2, 4, 2),), tmp_path / "m.onnx", dynamo=False)
    with pytest.raises(ValueError, match=r"node '.*' \((Gather|Slice)\)"):
        from_onnx(tmp_path / "m.onnx")


# ----------------------------------------------------------------------------- PyTorch
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_torch_weights_are_refused(dtype):
    with pytest.raises(ValueError, match=rf"{dtype!s}.*module\.float\(\)"):
        from_torch(torch.nn.LSTM(2, 3, dtype=dtype))
    with pytest.raises(ValueError, match=str(dtype)):
        from_torch_stack(torch.nn.GRU(2, 3, 2, dtype=dtype))
    with pytest.raises(ValueError, match=rf"linear: .*{dtype!s}"):
        from_torch_with_head(torch.nn.LSTM(2, 3), torch.nn.Linear(3, 1, dtype=dtype))


class Doubled(torch.nn.LSTM):
    """A subclass that computes something else than nn.LSTM with the same weights."""

    def forward(self, x, hx=None):
        y, state = super().forward(x, hx)
        return 2 * y, state


class Renamed(torch.nn.LSTM):
    """A subclass that only adds a name: nn.LSTM's forward, so it converts."""

    label = "encoder"


def test_torch_subclass_with_its_own_forward_is_refused():
    for convert in (from_torch, from_torch_stack, from_torch_with_head):
        with pytest.raises(TypeError, match=r"Doubled subclasses torch\.nn\.LSTM with its own"):
            convert(Doubled(2, 3))
    module = Renamed(2, 3)
    x = torch.randn(4, 1, 2)
    with torch.no_grad():
        expected = module(x)[0].numpy()
    np.testing.assert_allclose(from_torch(module).forward(x.numpy()), expected, atol=1e-6)


def test_torch_module_with_forward_hooks_is_refused():
    module = torch.nn.GRU(2, 3)
    module.register_forward_hook(lambda mod, args, out: (out[0] * 0, out[1]))
    with pytest.raises(TypeError, match="forward hooks"):
        from_torch(module)
    linear = torch.nn.Linear(3, 1)
    linear.register_forward_pre_hook(lambda mod, args: args)
    with pytest.raises(TypeError, match="linear: has forward hooks"):
        from_torch_with_head(torch.nn.GRU(2, 3), linear)


def test_to_torch_of_something_else_is_a_type_error():
    for thing in ({"W_f": np.zeros((3, 2))}, [LSTMLayer(2, 3)], "model.safetensors"):
        with pytest.raises(TypeError, match=rf"model: expected an rnnlab .*{type(thing).__name__}"):
            to_torch(thing)


@pytest.mark.parametrize(
    ("module", "match"),
    [
        (lambda: torch.nn.LSTM(2, 3, num_layers=2), "from_torch_stack converts stacks"),
        (lambda: torch.nn.GRU(2, 3, bidirectional=True), "from_torch_stack converts it"),
        (lambda: torch.nn.LSTM(2, 4, proj_size=2), "proj_size=2"),
        (lambda: torch.nn.GRU(2, 3, bias=False), "bias=False"),
    ],
)
def test_from_torch_refusals_say_what_to_use(module, match):
    with pytest.raises(ValueError, match=match):
        from_torch(module())


def test_dropout_between_layers_is_carried_both_ways():
    stack = from_torch_stack(torch.nn.LSTM(2, 3, 2, dropout=0.25))
    assert stack.dropout == 0.25
    assert to_torch(stack).dropout == 0.25


# ----------------------------------------------------------------------------- the guide's GRU
ADVICE = r"GRULayer\(\.\.\., reset_after=True\) or rnnlab\.models\.GRU\(\.\.\., reset_after=True\)"


GUIDE_GRUS = {"layer": lambda: GRULayer(2, 3), "headed": lambda: GRULayer(2, 3, 1)}
GUIDE_GRUS["stack"] = lambda: models.GRU(2, 3, 2)


@pytest.mark.parametrize(
    ("convert", "model"),
    [(c, m) for c in (to_torch, to_torch_with_head, state_dict_torch) for m in GUIDE_GRUS]
    + [(to_torch_stack, "stack")],
)
def test_every_refusal_of_the_guides_gru_says_what_to_do(convert, model):
    with pytest.raises(ValueError, match=rf"reset_after=False.*{ADVICE}, train it"):
        convert(GUIDE_GRUS[model]())


# ----------------------------------------------------------------------------- Keras
def test_keras_masking_is_refused_with_what_to_do_instead():
    import keras

    model = keras.Sequential(
        [keras.Input((None, 2)), keras.layers.Masking(0.0), keras.layers.LSTM(3)]
    )
    with pytest.raises(ValueError, match=r"Masking.*lengths="):
        from_keras(model)


def test_keras_subclass_with_its_own_call_and_half_precision_are_refused():
    import keras

    class Doubling(keras.layers.GRU):
        def call(self, sequences, initial_state=None, mask=None, training=False):
            return 2 * super().call(sequences, initial_state, mask, training)

    layer = Doubling(3, return_sequences=True)
    layer.build((None, None, 2))
    with pytest.raises(TypeError, match=r"Doubling subclasses keras\.layers\.GRU with its own"):
        from_keras(layer)
    half = keras.layers.LSTM(3, dtype="mixed_float16", return_sequences=True)
    half.build((None, None, 2))
    with pytest.raises(ValueError, match="computes in float16"):
        from_keras(half)


def test_keras_return_state_is_refused():
    import keras

    layer = keras.layers.LSTM(3, return_state=True)
    layer.build((None, None, 2))
    with pytest.raises(ValueError, match="return_state=True"):
        from_keras(layer)


# ----------------------------------------------------------------------------- optional deps
@pytest.mark.parametrize(
    ("package", "call", "install"),
    [
        ("onnx", lambda tmp: to_onnx(LSTMLayer(2, 3), tmp / "m.onnx"), r"rnnlab\[interop\]"),
        ("onnx", lambda tmp: from_onnx(tmp / "m.onnx"), r"rnnlab\[interop\]"),
        ("keras", lambda tmp: to_keras(LSTMLayer(2, 3)), r"rnnlab\[interop\]"),
        ("keras", lambda tmp: from_keras(object()), r"rnnlab\[interop\]"),
        ("torch", lambda tmp: to_torch(LSTMLayer(2, 3)), "pip install torch"),
        ("torch", lambda tmp: from_torch(object()), "pip install torch"),
        ("torch", lambda tmp: to_torch_with_head(LSTMLayer(2, 3, 1)), "pip install torch"),
    ],
    ids=["to_onnx", "from_onnx", "to_keras", "from_keras", "to_torch", "from_torch", "head"],
)
def test_missing_optional_dependency_says_what_to_install(package, call, install, tmp_path):
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, package, None)  # makes `import package` fail
        with pytest.raises(ImportError, match=rf"needs the {package} package.*{install}"):
            call(tmp_path)
    assert not list(tmp_path.iterdir())  # nothing written on the way


def test_a_framework_whose_own_dependency_is_missing_says_which():
    """Keras runs on the torch backend here: without torch, say torch is missing, not keras.
    (keras is imported already in this process, so its backend's failure is simulated.)"""
    from rnnlab.interop._common import require

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "rnnlab_fake_framework", None)
        with pytest.raises(ImportError, match="needs the rnnlab_fake_framework package, which"):
            require("rnnlab_fake_framework", "caller")

    def broken_import(name, *args, **kwargs):
        raise ModuleNotFoundError("No module named 'torch'", name="torch")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("importlib.import_module", broken_import)
        with pytest.raises(
            ImportError,
            match=r"keras package, whose import failed because 'torch'.*pip install torch",
        ):
            require("keras", "to_keras")
