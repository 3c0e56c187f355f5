"""Device handling (to/to_gpu/to_cpu, to_device, wrong-device errors) without a GPU.

A stand-in for CuPy: arrays of a NumPy subclass whose class lives in a module named "cupy"
(that is how rnnlab recognises a device array), a module ``cupy`` that delegates to NumPy and
returns such arrays, and ``.get()`` copying back to a plain ndarray. It exercises rnnlab's own
device logic — what moves, what is rejected, what comes back — and nothing of CuPy or CUDA;
``tests/gpu/`` repeats the essentials with the real CuPy on a real device.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

import rnnlab
from rnnlab import backend
from rnnlab.backend import array_device


class FakeDeviceArray(np.ndarray):
    def get(self):
        return np.array(self.view(np.ndarray))


FakeDeviceArray.__module__ = "cupy._stand_in"


def _to_fake(result):
    if isinstance(result, np.ndarray) and not isinstance(result, FakeDeviceArray):
        return result.view(FakeDeviceArray)
    return result


class FakeCupyModule(types.ModuleType):
    """``cupy`` for these tests: NumPy underneath, every array result a FakeDeviceArray."""

    def __getattr__(self, name):
        attr = getattr(np, name)
        if not callable(attr) or isinstance(attr, type):
            return attr

        def call(*args, **kwargs):
            return _to_fake(attr(*args, **kwargs))

        return call

    def asarray(self, a, dtype=None):
        # Host -> device is a copy (as in CuPy); an array already "on the device" is kept.
        return np.array(a, dtype=dtype, copy=not isinstance(a, FakeDeviceArray)).view(
            FakeDeviceArray
        )


@pytest.fixture
def fake_cupy(monkeypatch):
    module = FakeCupyModule("cupy")
    monkeypatch.setitem(sys.modules, "cupy", module)
    monkeypatch.setattr(backend, "cupy_status", lambda: (module, "ok"))
    return module


LAYERS = {
    "rnn": lambda **kw: rnnlab.RNNLayer(3, 4, 2, **kw),
    "lstm": lambda **kw: rnnlab.LSTMLayer(3, 4, 2, **kw),
    "gru": lambda **kw: rnnlab.GRULayer(3, 4, 2, **kw),
    "gru_after": lambda **kw: rnnlab.GRULayer(3, 4, 2, reset_after=True, **kw),
}


def _pair(kind):
    """Two identical float64 layers; the first will go to the device."""
    make = LAYERS[kind]
    return make(seed=3, dtype=np.float64), make(seed=3, dtype=np.float64, backend="reference")


def test_to_moves_parameters_and_gradients_and_back(fake_cupy):
    layer, _ = _pair("lstm")
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    layer.backward(np.ones_like(layer.forward(x)))
    params = {k: v.copy() for k, v in layer.params.items()}
    grads = {k: v.copy() for k, v in layer.grads.items()}
    assert layer.to("cuda") is layer
    assert layer.device == "cuda"
    assert "device='cuda'" in repr(layer)
    for name in params:
        assert array_device(layer.params[name]) == "cuda", name
        assert array_device(layer.grads[name]) == "cuda", name
        np.testing.assert_array_equal(layer.params[name].get(), params[name])
        np.testing.assert_array_equal(layer.grads[name].get(), grads[name])
    layer.params["W_f"][0, 0] = 7.0  # the named views still share the layer's one buffer
    assert float(layer._w["W"][0, 0]) == 7.0
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones((5, 2, 2)))  # the CPU cache was dropped by the move
    layer.to_cpu()
    assert layer.device == "cpu"
    assert all(type(v) is np.ndarray for v in (*layer.params.values(), *layer.grads.values()))
    np.testing.assert_array_equal(layer.grads["U_o"], grads["U_o"])
    assert layer.to_gpu().to("cpu").params["W_f"][0, 0] == 7.0


@pytest.mark.parametrize("kind", list(LAYERS))
def test_forward_backward_on_the_device_match_the_cpu(fake_cupy, kind):
    on_device, on_host = _pair(kind)
    on_device.to("cuda")
    rng = np.random.default_rng(1)
    x, dy = rng.standard_normal((6, 2, 3)), rng.standard_normal((6, 2, 2))
    y = on_device.forward(rnnlab.to_device(x, "cuda"))
    assert array_device(y) == "cuda"
    dx = on_device.backward(rnnlab.to_device(dy, "cuda"))
    assert array_device(dx) == "cuda"
    y_ref = on_host.forward(x)
    dx_ref = on_host.backward(dy)
    np.testing.assert_allclose(rnnlab.to_device(y, "cpu"), y_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dx.get(), dx_ref, rtol=1e-12, atol=1e-14)
    for name, grad in on_host.grads.items():
        np.testing.assert_allclose(on_device.grads[name].get(), grad, rtol=1e-12, atol=1e-14)


def test_the_guides_per_step_flow(fake_cupy):
    """Host steps -> device, forward on the device, output back to the host."""
    sequence = [np.array([[np.sin(0.1 * t)]]) for t in range(10)]
    layer = rnnlab.LSTMLayerCUDA(1, 8, 1, seed=0, dtype=np.float64)
    assert layer.device == "cuda"
    device_steps = rnnlab.to_device(sequence, "cuda")
    assert isinstance(device_steps, list)
    assert all(array_device(s) == "cuda" for s in device_steps)
    y = rnnlab.to_device(layer.forward(device_steps), "cpu")
    assert type(y) is np.ndarray
    C_T = layer.get_cell_states()[-1]
    host = rnnlab.LSTMLayer(1, 8, 1, seed=0, dtype=np.float64, backend="reference")
    np.testing.assert_allclose(y, host.forward(sequence), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(C_T.get(), host.get_cell_states()[-1], rtol=1e-12, atol=1e-14)
    back = rnnlab.to_device(tuple(device_steps), "cpu")
    assert isinstance(back, tuple)
    np.testing.assert_array_equal(np.stack(back), np.stack(sequence))


def test_inputs_on_the_wrong_device_are_rejected(fake_cupy):
    layer = rnnlab.LSTMLayer(3, 4, seed=0)
    host_x = np.ones((5, 2, 3), np.float32)
    with pytest.raises(ValueError, match=r"x: expected an array on 'cpu'.*got one on 'cuda'"):
        layer.forward(rnnlab.to_device(host_x, "cuda"))
    layer.to("cuda")
    with pytest.raises(ValueError, match=r"x: expected an array on 'cuda'.*rnnlab.to_device"):
        layer.forward(host_x)
    steps = rnnlab.to_device([s for s in host_x], "cuda")
    steps[3] = host_x[3]  # one host step in a device list: no silent copy inside the loop
    with pytest.raises(ValueError, match=r"x\[3\]: expected an array on 'cuda'"):
        layer.forward(steps)
    device_x = rnnlab.to_device(host_x, "cuda")
    zeros = np.zeros((2, 4), np.float32)
    with pytest.raises(ValueError, match=r"h0: expected an array on 'cuda'"):
        layer.forward(device_x, (zeros, rnnlab.to_device(zeros, "cuda")))
    h = layer.forward(device_x)
    with pytest.raises(ValueError, match=r"dy: expected an array on 'cuda'"):
        layer.backward(np.ones(h.shape, np.float32))
    with pytest.raises(ValueError, match=r"d_final_state\[1\]: expected an array on 'cuda'"):
        layer.backward(rnnlab.to_device(np.ones(h.shape, np.float32), "cuda"), (None, zeros))


def test_without_cupy_the_gpu_path_says_what_is_missing(monkeypatch):
    monkeypatch.setattr(backend, "cupy_status", lambda: (None, "CuPy is not installed (test)"))
    with pytest.raises(rnnlab.DeviceUnavailableError, match="CuPy is not installed"):
        rnnlab.GRULayerCUDA(2, 3)
    with pytest.raises(rnnlab.DeviceUnavailableError, match="CuPy is not installed"):
        rnnlab.RNNLayer(2, 3).to_gpu()
    with pytest.raises(rnnlab.DeviceUnavailableError, match="CuPy is not installed"):
        rnnlab.to_device(np.ones(3), "cuda")


def test_unknown_device_names_are_rejected():
    with pytest.raises(ValueError, match="device: expected 'cpu' or 'cuda', got 'tpu'"):
        rnnlab.RNNLayer(2, 3).to("tpu")
    with pytest.raises(TypeError, match="device: expected 'cpu' or 'cuda'"):
        rnnlab.to_device(np.ones(3), 0)


def test_a_model_moves_with_its_layers(fake_cupy):
    """Sequential(LSTM stack, Dense) on the device: every parameter and gradient moves, and
    forward/backward match the same model on the CPU."""
    from rnnlab.models import LSTM, Dense, Sequential

    def build():
        return Sequential(LSTM(3, 5, num_layers=2, seed=4, dtype=np.float64), Dense(5, 2, seed=5))

    on_device, on_host = build().to("cuda"), build()
    assert all(array_device(p) == "cuda" for p in on_device.params.values())
    assert set(on_device.params) == set(on_host.params)
    rng = np.random.default_rng(6)
    x, dy = rng.standard_normal((4, 2, 3)), rng.standard_normal((4, 2, 2))
    y = on_device.forward(rnnlab.to_device(x, "cuda"))
    np.testing.assert_allclose(y.get(), on_host.forward(x), rtol=1e-12, atol=1e-14)
    on_device.backward(rnnlab.to_device(dy, "cuda"))
    on_host.backward(dy)
    for name, grad in on_host.grads.items():
        assert array_device(on_device.grads[name]) == "cuda", name
        np.testing.assert_allclose(on_device.grads[name].get(), grad, rtol=1e-12, atol=1e-14)
    on_device.to_cpu()
    assert all(type(g) is np.ndarray for g in on_device.grads.values())


def _adam_run(steps_before_move, total_steps, fake_move):
    """A few Adam steps on an LSTM layer; with ``fake_move`` the layer goes to the device
    after ``steps_before_move`` steps. Returns the final parameters (host) and the optimiser."""
    from rnnlab.optim import Adam

    layer = rnnlab.LSTMLayer(3, 4, 2, seed=0, dtype=np.float64, backend="reference")
    optimizer = Adam(layer, lr=0.01)
    rng = np.random.default_rng(1)
    batches = [rng.standard_normal((5, 2, 3)) for _ in range(total_steps)]
    for step, x in enumerate(batches):
        if fake_move and step == steps_before_move:
            layer.to("cuda")
        if layer.device == "cuda":
            x = rnnlab.to_device(x, "cuda")
        layer.zero_grad()
        y = layer.forward(x)
        layer.backward(y)  # loss = ½ Σ y²
        optimizer.step()
    return {k: rnnlab.to_device(v, "cpu") for k, v in layer.params.items()}, optimizer, layer


def test_optimiser_state_follows_the_model_to_the_device(fake_cupy):
    moved, optimizer, _ = _adam_run(2, 4, fake_move=True)
    stayed, _, _ = _adam_run(2, 4, fake_move=False)
    for kind, buffers in optimizer.state.items():
        assert buffers, kind
        assert all(array_device(b) == "cuda" for b in buffers.values()), kind
    for name, value in stayed.items():
        np.testing.assert_allclose(moved[name], value, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("load_on", ["cpu", "cuda"])
def test_checkpoints_save_from_the_device_and_load_on_either(fake_cupy, tmp_path, load_on):
    from rnnlab.io import load, load_checkpoint, save_checkpoint

    _, optimizer, layer = _adam_run(1, 2, fake_move=True)
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, layer, optimizer, step=2)
    restored = load_checkpoint(path, device=load_on)
    assert restored.model.device == load_on
    for name, value in layer.params.items():
        assert array_device(restored.model.params[name]) == load_on
        np.testing.assert_array_equal(
            rnnlab.to_device(restored.model.params[name], "cpu"), value.get()
        )
    for kind, buffers in optimizer.state.items():
        for name, buffer in buffers.items():
            got = restored.optimizer.state[kind][name]
            assert array_device(got) == load_on, (kind, name)
            np.testing.assert_array_equal(rnnlab.to_device(got, "cpu"), buffer.get())
    assert load(path, device=load_on).device == load_on
    with pytest.raises(ValueError, match="device: expected 'cpu' or 'cuda'"):
        load(path, device="tpu")
