"""Real-device tests of what moves with a layer: optimiser state and checkpoints (marker gpu)."""

from __future__ import annotations

import numpy as np
import pytest

import rnnlab
from rnnlab.backend import array_device, cupy_status
from rnnlab.io import load, load_checkpoint, save_checkpoint
from rnnlab.optim import Adam

_cupy, _reason = cupy_status()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(_cupy is None, reason=_reason)]


def _train(layer, optimizer, batches):
    for x in batches:
        layer.zero_grad()
        y = layer.forward(rnnlab.to_device(x, layer.device))
        layer.backward(y)  # loss = ½ Σ y²
        optimizer.step()


def test_adam_continues_on_the_gpu_after_a_move_and_matches_the_cpu(tmp_path):
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((6, 3, 4)) for _ in range(4)]
    layers = [rnnlab.GRULayer(4, 8, 2, seed=1, dtype=np.float64) for _ in range(2)]
    optimizers = [Adam(layer, lr=0.01) for layer in layers]
    _train(layers[0], optimizers[0], batches[:2])
    layers[0].to("cuda")  # the Adam moments follow on the next step
    _train(layers[0], optimizers[0], batches[2:])
    _train(layers[1], optimizers[1], batches)
    assert all(array_device(b) == "cuda" for b in optimizers[0].state["exp_avg"].values())
    for name, p in layers[1].params.items():
        np.testing.assert_allclose(layers[0].params[name].get(), p, rtol=1e-9, atol=1e-11)
    path = tmp_path / "gpu.safetensors"
    save_checkpoint(path, layers[0], optimizers[0], step=4)
    for device in ("cpu", "cuda"):
        restored = load_checkpoint(path, device=device)
        assert restored.model.device == device
        moments = restored.optimizer.state["exp_avg_sq"]
        assert all(array_device(m) == device for m in moments.values())
        _train(restored.model, restored.optimizer, batches[:1])  # resumes on that device
    assert load(path, device="cuda").device == "cuda"
