"""from_onnx reads what PyTorch's exporters write (TorchScript-based and dynamo).

Exports are slow (about a second each), so each model is exported once per module and shared.
"""

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxscript")

from rnnlab.interop import from_onnx  # noqa: E402

INPUT, HIDDEN, OUTPUT, T, B = 3, 4, 2, 5, 2
TOL = 1e-5  # float32
CELLS = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}


class Net(torch.nn.Module):
    """A recurrent module and a Linear head, returning the head's sequence and h_n."""

    def __init__(self, cell, num_layers, batch_first, bidirectional=False):
        super().__init__()
        self.rnn = CELLS[cell](
            INPUT, HIDDEN, num_layers, batch_first=batch_first, bidirectional=bidirectional
        )
        self.head = torch.nn.Linear(HIDDEN * (1 + bidirectional), OUTPUT)

    def forward(self, x):
        y, state = self.rnn(x)
        return self.head(y), state[0] if isinstance(state, tuple) else state


def sample(batch_first, time=T, batch=B, seed=0):
    shape = (batch, time, INPUT) if batch_first else (time, batch, INPUT)
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def export(net, x, path, exporter, dynamic):
    batch_axis, time_axis = (0, 1) if net.rnn.batch_first else (1, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            shapes = None
            if dynamic:
                dims = {batch_axis: torch.export.Dim("batch"), time_axis: torch.export.Dim("time")}
                shapes = (dims,)
            torch.onnx.export(net, (x,), path, dynamo=True, dynamic_shapes=shapes, verbose=False)
        else:
            axes = {"x": {batch_axis: "B", time_axis: "T"}} if dynamic else None
            torch.onnx.export(net, (x,), path, dynamo=False, input_names=["x"], dynamic_axes=axes)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(net, path) per configuration, exported on first use and kept for the module."""
    cache = {}
    directory = tmp_path_factory.mktemp("torch_onnx")

    def get(exporter, cell, num_layers, batch_first, dynamic=False, bidirectional=False):
        key = (exporter, cell, num_layers, batch_first, dynamic, bidirectional)
        if key not in cache:
            torch.manual_seed(len(cache))
            net = Net(cell, num_layers, batch_first, bidirectional).eval()
            path = directory / ("_".join(map(str, key)) + ".onnx")
            export(net, sample(batch_first), path, exporter, dynamic)
            cache[key] = net, path
        return cache[key]

    return get


def assert_same_output(net, model, x):
    with torch.no_grad():
        expected = net(x)[0].numpy()
    np.testing.assert_allclose(model.forward(x.numpy()), expected, rtol=0, atol=TOL)


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("batch_first", [True, False])
def test_torch_export_imports_with_equal_outputs(exported, exporter, cell, num_layers, batch_first):
    net, path = exported(exporter, cell, num_layers, batch_first)
    model = from_onnx(path)
    assert model.batch_first is batch_first
    assert_same_output(net, model, sample(batch_first, seed=1))


@pytest.mark.parametrize(
    ("exporter", "cell", "num_layers", "batch_first"),
    [
        ("torchscript", "lstm", 2, True),
        ("dynamo", "lstm", 2, True),
        ("torchscript", "gru", 1, False),
    ],
)
def test_dynamic_axes_export_imports_and_runs_at_other_sizes(
    exported, exporter, cell, num_layers, batch_first
):
    """Symbolic T and B: the glue (Shape, Gather, Concat, Expand or ConstantOfShape, Slice) is
    evaluated at two sizes; the model then runs at any size."""
    net, path = exported(exporter, cell, num_layers, batch_first, dynamic=True)
    graph_input = onnx.load(path).graph.input[0].type.tensor_type.shape.dim
    assert sum(bool(dim.dim_param) for dim in graph_input) == 2  # really dynamic
    model = from_onnx(path)
    for time, batch in ((1, 1), (9, 4)):
        assert_same_output(net, model, sample(batch_first, time, batch, seed=time))


def test_export_that_runs_only_at_its_export_size_is_read_at_that_size(exported):
    """dynamo, time-major, dynamic T: the file declares T symbolic but reshapes to a fixed
    T=5 (ONNX Runtime fails at any other T). Without the size the import names that node and
    asks for it; with it the model is read, and is the GRU itself, at any T."""
    net, path = exported("dynamo", "gru", 1, False, dynamic=True)
    with pytest.raises(ValueError, match=r"node '.*' \(Reshape\): .*input_shape="):
        from_onnx(path)
    model = from_onnx(path, input_shape=(T, B, INPUT))
    for time, batch in ((T, B), (9, 4)):
        assert_same_output(net, model, sample(False, time, batch, seed=time))
    with pytest.raises(ValueError, match=r"input_shape: axis 2 .* fixed at 3, got 4"):
        from_onnx(path, input_shape=(T, B, 4))
    with pytest.raises(ValueError, match="input_shape: expected three positive integers"):
        from_onnx(path, input_shape=(T, 0, INPUT))


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_bidirectional_stack_export_imports(exported, exporter):
    net, path = exported(exporter, "gru", 2, True, bidirectional=True)
    model = from_onnx(path)
    assert model.bidirectional
    assert model.num_layers == 2
    assert_same_output(net, model, sample(True, seed=2))


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_final_states_of_the_imported_stack_are_torchs(exported, exporter):
    net, path = exported(exporter, "lstm", 2, False)
    model = from_onnx(path)
    x = sample(False, seed=3)
    model.forward(x.numpy())
    with torch.no_grad():
        _, (h_n, c_n) = net.rnn(x)
    np.testing.assert_allclose(model.final_state[0], h_n.numpy(), rtol=0, atol=TOL)
    np.testing.assert_allclose(model.final_state[1], c_n.numpy(), rtol=0, atol=TOL)


def test_unrolled_rnn_from_dynamo_is_a_real_rnn_at_any_length(exported):
    """The dynamo exporter writes nn.RNN as T=5 explicit steps; the imported layer is the RNN
    itself, so it also matches PyTorch at lengths the file cannot run."""
    net, path = exported("dynamo", "rnn", 2, True)
    assert "RNN" not in {node.op_type for node in onnx.load(path).graph.node}
    model = from_onnx(path)
    assert_same_output(net, model, sample(True, time=11, batch=3, seed=4))


def test_unrolled_loop_with_mixed_recurrent_weights_is_refused(exported, tmp_path):
    """Steps that do not share W_hh are not an RNN: changing one step's matrix is refused."""
    _, path = exported("dynamo", "rnn", 1, False)
    model = onnx.load(path)
    matmuls = [n for n in model.graph.node if n.op_type == "MatMul"]
    recurrent = matmuls[2]  # [0] is x·W_ihᵀ, [1] the first h·W_hhᵀ, [2] the second
    weights = {t.name: t for t in model.graph.initializer}[recurrent.input[1]]
    changed = onnx.numpy_helper.to_array(weights) * 1.5
    model.graph.initializer.append(onnx.numpy_helper.from_array(changed, "other_W_hh"))
    recurrent.input[1] = "other_W_hh"
    with pytest.raises(
        ValueError, match=rf"step 2 uses other recurrent weights \(from node '{recurrent.name}'\)"
    ):
        from_onnx(model)


class WithState(torch.nn.Module):
    """A module whose initial state is a graph input (sliced per layer by the exporters)."""

    def __init__(self):
        super().__init__()
        self.rnn = torch.nn.GRU(INPUT, HIDDEN, 2)

    def forward(self, x, h0):
        return self.rnn(x, h0)


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_initial_state_input_is_the_models_state_argument(exporter, tmp_path):
    torch.manual_seed(5)
    net = WithState().eval()
    x, h0 = sample(False, seed=5), torch.randn(2, B, HIDDEN)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x, h0), tmp_path / "m.onnx", dynamo=exporter == "dynamo")
    model = from_onnx(tmp_path / "m.onnx")
    with torch.no_grad():
        expected = net(x, h0)[0].numpy()
    np.testing.assert_allclose(model.forward(x.numpy(), h0.numpy()), expected, rtol=0, atol=TOL)


def test_dynamo_bidirectional_rnn_loop_is_refused_with_the_node_named(exported):
    """The reverse half of an unrolled bidirectional nn.RNN runs over a flipped input, which the
    importer does not follow: refused, not read wrong."""
    _, path = exported("dynamo", "rnn", 1, True, bidirectional=True)
    with pytest.raises(ValueError, match=r"node '\w+' \(Slice\): takes 4:-1:-1 of axis"):
        from_onnx(path)
