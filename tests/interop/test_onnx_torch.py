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
