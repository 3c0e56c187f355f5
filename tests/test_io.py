"""Checkpoints: exact round trips, atomic writes, and clear refusals of bad files."""

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

import rnnlab
from rnnlab import CheckpointError, GRULayer, LSTMLayer, RNNLayer, optim
from rnnlab import io as rio


def _layers():
    return [
        RNNLayer(3, 4, 2, dtype=np.float64, seed=1),
        LSTMLayer(3, 4, dtype=np.float32, seed=2, forget_bias=1.0, batch_first=True),
        GRULayer(3, 4, 2, dtype=np.float64, seed=3, reset_after=True),
        GRULayer(2, 3, dtype=np.float32, seed=4),
    ]


@pytest.mark.parametrize("layer", _layers(), ids=lambda m: type(m).__name__)
def test_save_load_round_trip_is_exact(tmp_path, layer):
    path = tmp_path / "model.safetensors"
    layer.save(path)
    loaded = rnnlab.load(path)
    assert type(loaded) is type(layer)
    assert loaded.get_config() == layer.get_config()
    for name, p in layer.params.items():
        assert loaded.params[name].dtype == p.dtype
        np.testing.assert_array_equal(loaded.params[name], p)
    x = np.random.default_rng(0).normal(size=(5, 2, layer.input_size))
    np.testing.assert_array_equal(loaded.forward(x), layer.forward(x))


def test_header_describes_the_model(tmp_path):
    layer = LSTMLayer(3, 4, 1, dtype=np.float64, seed=0)
    path = tmp_path / "m.safetensors"
    rnnlab.save(layer, path, extra={"note": "sine"})
    with safe_open(str(path), framework="np") as f:
        info = json.loads(f.metadata()["rnnlab"])
        names = set(f.keys())
    assert info["format"] == "rnnlab"
    assert info["format_version"] == rio.FORMAT_VERSION
    assert info["library_version"] == rnnlab.__version__
    assert info["model"] == {"class": "LSTMLayer", "config": layer.get_config()}
    assert info["dtype"] == "float64"
    assert info["extra"] == {"note": "sine"}
    assert names == {f"model.{k}" for k in layer.params}


def test_checkpoint_restores_optimizer_step_and_rng(tmp_path):
    layer = GRULayer(2, 3, 1, dtype=np.float64, seed=0)
    opt = optim.Adam(layer, lr=0.01, betas=(0.8, 0.9))
    x = np.ones((4, 2, 2))
    for _ in range(3):
        opt.zero_grad()
        layer.forward(x)
        layer.backward(np.ones((4, 2, 1)))
        opt.step()
    rng = np.random.default_rng(42)
    rng.normal(size=10)
    path = tmp_path / "ckpt.safetensors"
    rnnlab.save_checkpoint(path, layer, opt, step=3, rng=rng, extra={"epoch": 1})
    ck = rnnlab.load_checkpoint(path)
    assert ck.step == 3
    assert ck.extra == {"epoch": 1}
    assert isinstance(ck.optimizer, optim.Adam)
    assert ck.optimizer.betas == (0.8, 0.9)
    want, got = opt.state_dict(), ck.optimizer.state_dict()
    assert got["hyper"] == want["hyper"]
    assert got["step"] == want["step"] == 3
    for kind, buffers in want["state"].items():
        for name, arr in buffers.items():
            np.testing.assert_array_equal(got["state"][kind][name], arr)
    np.testing.assert_array_equal(ck.rng.normal(size=5), rng.normal(size=5))
    assert isinstance(rnnlab.load(path), GRULayer)  # a checkpoint is also a model file


def test_interrupted_save_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    layer = RNNLayer(2, 3, dtype=np.float64, seed=0)
    layer.save(path)
    before = path.read_bytes()

    def half_then_crash(f, data):
        f.write(data[: len(data) // 2])
        raise KeyboardInterrupt("simulated crash mid-write")

    monkeypatch.setattr(rio.files, "_write_all", half_then_crash)
    layer.params["W_xh"][...] = 7.0
    with pytest.raises(KeyboardInterrupt):
        layer.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.safetensors"]  # no temporary file left behind
    np.testing.assert_array_equal(rnnlab.load(path).params["W_xh"], load_file(path)["model.W_xh"])


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "good.safetensors"
    LSTMLayer(2, 3, 1, dtype=np.float64, seed=0).save(path)
    return path


@pytest.mark.parametrize("keep", [0, 5, 20, -8, -1])
def test_truncated_file_is_rejected_with_its_name(saved, tmp_path, keep):
    data = saved.read_bytes()
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(data[:keep] if keep >= 0 else data[: len(data) + keep])
    with pytest.raises(CheckpointError, match=r"cut\.safetensors: .*(truncated|too short)"):
        rnnlab.load(bad)


def test_flipped_data_byte_is_caught_by_the_checksum(saved, tmp_path):
    data = bytearray(saved.read_bytes())
    data[-3] ^= 0x10
    bad = tmp_path / "flip.safetensors"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"flip\.safetensors: corrupt: .*checksum"):
        rnnlab.load(bad)


def test_garbage_header_is_rejected(saved, tmp_path):
    data = bytearray(saved.read_bytes())
    data[9] = ord("#")  # inside the JSON header
    bad = tmp_path / "hdr.safetensors"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"hdr\.safetensors: corrupt safetensors header"):
        rnnlab.load(bad)


class _Trap:
    """Unpickling this would create a file: proof that load never unpickles."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_is_refused_without_being_unpickled(tmp_path):
    marker = tmp_path / "unpickled"
    bad = tmp_path / "model.pkl"
    bad.write_bytes(pickle.dumps({"W": _Trap(marker)}, protocol=4))
    with pytest.raises(CheckpointError, match=r"model\.pkl: this is a Python pickle"):
        rnnlab.load(bad)
    assert not marker.exists()


def test_torch_save_file_is_refused(tmp_path):
    import torch

    bad = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(3)}, bad)
    with pytest.raises(CheckpointError, match=r"model\.pt: this is a zip archive"):
        rnnlab.load_checkpoint(bad)


def test_foreign_safetensors_file_is_refused(tmp_path):
    bad = tmp_path / "other.safetensors"
    save_file({"weight": np.zeros((2, 2))}, bad)
    with pytest.raises(CheckpointError, match=r"other\.safetensors: .*without rnnlab metadata"):
        rnnlab.load(bad)


def test_unknown_class_and_mismatched_parameters_are_refused(saved, tmp_path):
    tensors = load_file(saved)
    with safe_open(str(saved), framework="np") as f:
        info = json.loads(f.metadata()["rnnlab"])
    bad = tmp_path / "cls.safetensors"
    bad.write_bytes(rio.format.encode(info | {"model": {"class": "Evil"}}, tensors))
    with pytest.raises(CheckpointError, match=r"cls\.safetensors: cannot rebuild.*'Evil'"):
        rnnlab.load(bad)
    config = dict(info["model"]["config"], hidden_size=5)
    bad.write_bytes(
        rio.format.encode(info | {"model": {"class": "LSTMLayer", "config": config}}, tensors)
    )
    with pytest.raises(CheckpointError, match="has shape"):
        rnnlab.load(bad)


def test_newer_format_version_is_refused(saved, tmp_path):
    tensors = load_file(saved)
    with safe_open(str(saved), framework="np") as f:
        info = json.loads(f.metadata()["rnnlab"])
    bad = tmp_path / "new.safetensors"
    bad.write_bytes(rio.format.encode(info | {"format_version": 99}, tensors))
    with pytest.raises(CheckpointError, match="format_version 99"):
        rnnlab.load(bad)


def test_save_rejects_bad_arguments(tmp_path):
    layer = RNNLayer(2, 3, seed=0)
    with pytest.raises(TypeError, match="extra"):
        rnnlab.save(layer, tmp_path / "x.safetensors", extra={"f": object()})
    with pytest.raises(TypeError, match="rng"):
        rnnlab.save_checkpoint(tmp_path / "x.safetensors", layer, rng=42)
    with pytest.raises(TypeError, match="model"):
        rnnlab.save(object(), tmp_path / "x.safetensors")
    assert not list(tmp_path.iterdir())  # nothing half-written


def _torch_state_from_file(path, H):
    """The renaming table of docs/training.md: rnnlab file -> nn.LSTM/nn.GRU + nn.Linear."""
    import torch
    from safetensors.torch import load_file as torch_load_file

    t = torch_load_file(path)
    names = {k.removeprefix("model.") for k in t}

    def cat(prefix, letters):
        return torch.cat([t[f"model.{prefix}_{k}"] for k in letters])

    if "W_f" in names:  # LSTM: PyTorch's gate order is i, f, g(=c), o
        order, bias_hh = "ifco", torch.zeros(4 * H, dtype=t["model.b_f"].dtype)
    else:  # GRU(reset_after=True): PyTorch's order is r, z, n(=h); b_hn goes in bias_hh
        order = "rzh"
        bias_hh = torch.cat([torch.zeros(2 * H, dtype=t["model.b_hn"].dtype), t["model.b_hn"]])
    rnn_state = {
        "weight_ih_l0": cat("W", order),
        "weight_hh_l0": cat("U", order),
        "bias_ih_l0": cat("b", order),
        "bias_hh_l0": bias_hh,
    }
    head_state = {"weight": t["model.W_hy"], "bias": t["model.b_y"]} if "W_hy" in names else None
    return rnn_state, head_state


@pytest.mark.parametrize("cls", [LSTMLayer, GRULayer])
def test_weights_load_into_pytorch_as_documented(tmp_path, cls):
    import torch

    extra = {"reset_after": True} if cls is GRULayer else {}
    layer = cls(3, 4, 2, dtype=np.float64, seed=0, **extra)
    path = tmp_path / "m.safetensors"
    layer.save(path)
    rnn_state, head_state = _torch_state_from_file(path, 4)
    torch_cls = torch.nn.LSTM if cls is LSTMLayer else torch.nn.GRU
    rnn, head = torch_cls(3, 4, dtype=torch.float64), torch.nn.Linear(4, 2, dtype=torch.float64)
    rnn.load_state_dict(rnn_state)
    head.load_state_dict(head_state)
    x = np.random.default_rng(0).normal(size=(5, 2, 3))
    out = head(rnn(torch.tensor(x))[0]).detach().numpy()
    np.testing.assert_allclose(out, layer.forward(x), rtol=1e-12, atol=1e-14)


def test_header_length_that_resembles_a_pickle_opcode_still_loads(tmp_path):
    # a header of 0x480 bytes begins with 80 04, a pickle's PROTO 4: must not be misread
    layer = RNNLayer(2, 3, dtype=np.float64, seed=0)
    for pad in range(2000):
        data = rio.checkpoint._encode(layer, extra={"pad": "x" * pad})
        if data[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"):
            break
    else:
        pytest.fail("no padding produced a pickle-like header length")
    path = tmp_path / "odd.safetensors"
    path.write_bytes(data)
    loaded = rnnlab.load(path)
    np.testing.assert_array_equal(loaded.params["W_hh"], layer.params["W_hh"])


def _docs_blocks(section_title):
    docs = Path(__file__).resolve().parents[1] / "docs" / "training.md"
    text = docs.read_text()
    start = text.index(section_title)
    section = text[start : text.index("\n## ", start + 1)]
    return [block.split("```", 1)[0] for block in section.split("```python\n")[1:]]


def test_the_pytorch_snippet_in_the_docs_runs_and_agrees(tmp_path, monkeypatch):
    (snippet,) = _docs_blocks("### Loading the weights into PyTorch")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(snippet, namespace)
    layer, x = namespace["layer"], namespace["x"].numpy()
    y = namespace["y"].detach().numpy()
    np.testing.assert_allclose(y, layer.forward(x), rtol=1e-12, atol=1e-14)


def test_the_file_section_examples_in_the_docs_run(tmp_path, monkeypatch):
    blocks = _docs_blocks("## Files: `save`, `load`, checkpoints")
    assert len(blocks) == 3  # save/load/resume, pickling, PyTorch
    monkeypatch.chdir(tmp_path)
    for block in blocks[:2]:
        exec(block, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.safetensors", "m.safetensors"]


def _dropout_stack():
    from rnnlab.models import Dense, Dropout, Sequential

    return Sequential(
        LSTMLayer(2, 5, dtype=np.float64, seed=0),
        Dropout(0.3, seed=1),
        Dense(5, 1, dtype=np.float64, seed=2),
    )


def test_sequential_checkpoint_resumes_dropout_masks_exactly(tmp_path):
    rng_data = np.random.default_rng(0)
    X, Y = rng_data.normal(size=(12, 6, 2)), rng_data.normal(size=(12, 6, 1))

    straight = _dropout_stack()
    opt = optim.AdamW(straight, lr=0.01)
    rnnlab.fit(straight, X, Y, optimizer=opt, epochs=2, batch_size=4, seed=3, progress=False)

    first = _dropout_stack()
    opt_b, rng = optim.AdamW(first, lr=0.01), np.random.default_rng(3)
    rnnlab.fit(first, X, Y, optimizer=opt_b, epochs=1, batch_size=4, seed=rng, progress=False)
    path = tmp_path / "stack.safetensors"
    first.save(tmp_path / "model_only.safetensors")  # containers have save() too
    assert isinstance(rnnlab.load(tmp_path / "model_only.safetensors"), type(first))
    rnnlab.save_checkpoint(path, first, opt_b, step=opt_b.step_count, rng=rng)
    ck = rnnlab.load_checkpoint(path)
    assert type(ck.model).__name__ == "Sequential"
    rnnlab.fit(ck.model, X, Y, optimizer=ck.optimizer, epochs=1, batch_size=4, seed=ck.rng,
               progress=False)  # fmt: skip
    for name, p in straight.params.items():
        np.testing.assert_array_equal(ck.model.params[name], p)
