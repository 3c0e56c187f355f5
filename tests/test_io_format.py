"""The checksum covers every byte; crafted and damaged files are CheckpointErrors, found fast.

``_craft`` writes *signed* files (a correct digest over crafted content) so that the reader's
validation, not the checksum, is what each crafted-file test exercises.
"""

import hashlib
import json
import os
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

import rnnlab
from rnnlab import CheckpointError, GRULayer, LSTMLayer, RNNLayer, optim
from rnnlab.io import CheckpointWarning
from rnnlab.io import format as rformat

V1_FILE = Path(__file__).parent / "data" / "format_v1_lstm_adam.safetensors"


def _trained_checkpoint(path, *, optimizer="sgd"):
    layer = GRULayer(1, 2, 1, dtype=np.float64, seed=0, zoneout=0.1)
    if optimizer == "sgd":
        opt = optim.SGD(layer, lr=0.1, momentum=0.9)
    else:
        opt = optim.Adam(layer, lr=0.01)
    for _ in range(2):
        opt.zero_grad()
        layer.forward(np.ones((2, 1, 1)))
        layer.backward(np.ones((2, 1, 1)))
        opt.step()
    rng = np.random.default_rng(1)
    rnnlab.save_checkpoint(path, layer, opt, step=2, rng=rng, extra={"epoch": 1})
    return path.read_bytes()


def _parts(path):
    """The description and the tensors (in file order) of an rnnlab file."""
    data = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    info = json.loads(header["__metadata__"]["rnnlab"])
    tensors = load_file(path)
    order = sorted(tensors, key=lambda k: header[k]["data_offsets"][0])
    return info, {k: tensors[k] for k in order}


def _craft(path, info, tensors):
    path.write_bytes(rformat.encode(info, tensors))
    return path


def _raw(path, text: str, table=None, data=b"", *, meta_extra=None):
    """A file with the rnnlab description ``text`` verbatim (any JSON, even invalid), signed."""
    meta = {"rnnlab": text, "rnnlab_sha256": "0" * 64, **(meta_extra or {})}
    header = json.dumps({"__metadata__": meta, **(table or {})}, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    body = struct.pack("<Q", len(header)) + header + data
    digest = hashlib.sha256(body).hexdigest()
    path.write_bytes(body.replace(b"0" * 64, digest.encode(), 1))
    return path


@pytest.fixture
def ckpt(tmp_path):
    path = tmp_path / "ck.safetensors"
    _trained_checkpoint(path)
    return path


def _load_fails(path, match=None):
    with pytest.raises(CheckpointError, match=match):
        rnnlab.load_checkpoint(path)


# ------------------------------------------------------------------ every byte is covered
def test_every_single_bit_flip_anywhere_in_the_file_is_caught(ckpt):
    data = ckpt.read_bytes()
    fd = os.open(ckpt, os.O_RDWR)
    try:
        for position in range(len(data)):
            os.pwrite(fd, bytes([data[position] ^ (1 << (position % 8))]), position)
            with pytest.raises(CheckpointError, match=r"ck\.safetensors: "):
                rnnlab.load_checkpoint(ckpt)
            os.pwrite(fd, data[position : position + 1], position)
    finally:
        os.close(fd)
    assert rnnlab.load_checkpoint(ckpt).step == 2  # the file is whole again


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'zoneout\\":0.1', b'zoneout\\":0.3'),  # model config
        (b'lr\\":0.1', b'lr\\":0.9'),  # optimizer hyperparameter
        (b'\\"step\\":2,\\"rng', b'\\"step\\":7,\\"rng'),  # step
        (b'\\"optimizer\\":{', b'\\"optimiser\\":{'),  # the optimizer key renamed
        (b'epoch\\":1', b'epoch\\":9'),  # extra
        (b'uinteger\\":0},\\"model_rng', b'uinteger\\":1},\\"model_rng'),  # RNG state
        (b'format_version\\":2', b'format_version\\":1'),  # the version itself
        (
            b'model.W_z":{"dtype":"F64","shape":[2,1]',
            b'model.W_z":{"dtype":"F64","shape":[1,2]',
        ),  # the tensor table
    ],
)
def test_edited_header_values_are_caught(ckpt, tmp_path, old, new):
    data = ckpt.read_bytes()
    assert data.count(old) == 1, old
    bad = tmp_path / "edit.safetensors"
    bad.write_bytes(data.replace(old, new))
    _load_fails(bad, r"edit\.safetensors: ")


def test_every_truncation_is_caught(ckpt):
    size = ckpt.stat().st_size
    for keep in range(size - 1, -1, -1):
        os.truncate(ckpt, keep)
        _load_fails(ckpt, r"ck\.safetensors: ")


def test_appended_bytes_are_caught(ckpt, tmp_path):
    bad = tmp_path / "long.safetensors"
    bad.write_bytes(ckpt.read_bytes() + b"\0" * 8)
    _load_fails(bad, "truncated or corrupt")


# ------------------------------------------------------------------ format version 1
def test_a_version_1_file_loads_with_a_warning_that_its_header_is_not_covered():
    with pytest.warns(CheckpointWarning, match="format version 1.*not covered"):
        ck = rnnlab.load_checkpoint(V1_FILE)
    stored = load_file(V1_FILE)
    for name, p in ck.model.params.items():
        np.testing.assert_array_equal(p, stored[f"model.{name}"])
    assert isinstance(ck.model, LSTMLayer)
    assert ck.model.zoneout == 0.2
    assert ck.step == 2
    assert ck.optimizer.step_count == 2
    assert ck.extra["epoch"] == 2
    np.testing.assert_array_equal(
        ck.optimizer.state["exp_avg"]["W_f"], stored["optimizer.exp_avg.W_f"]
    )
    assert ck.rng.bit_generator.state["bit_generator"] == "PCG64"


def test_a_version_1_file_with_a_changed_tensor_byte_is_refused(tmp_path):
    data = bytearray(V1_FILE.read_bytes())
    data[-5] ^= 0x40
    bad = tmp_path / "v1.safetensors"
    bad.write_bytes(bytes(data))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CheckpointWarning)  # refused before any warning
        _load_fails(bad, "checksum")


# ------------------------------------------------------------------ crafted files
@pytest.fixture
def parts(ckpt):
    return _parts(ckpt)


@pytest.fixture
def no_init(monkeypatch):
    """Fail the test if a recurrent layer is constructed (the model would be built)."""
    from rnnlab.recurrent import _RecurrentLayer

    def refuse(*args, **kwargs):
        raise AssertionError("a model was built before its shapes were checked")

    monkeypatch.setattr(_RecurrentLayer, "__init__", refuse)


@pytest.mark.parametrize("hidden", [2400, 10**6, 10**18])
def test_a_tiny_file_claiming_a_huge_model_builds_nothing(tmp_path, parts, no_init, hidden):
    info, tensors = parts
    info["model"]["config"]["hidden_size"] = hidden
    bad = _craft(tmp_path / "huge.safetensors", info, tensors)
    _load_fails(bad, rf"model\.W_z has shape \(2, 1\), the model expects \({hidden}, 1\)")


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("step", -1, "step: expected a non-negative integer"),
        ("step", "abc", "step: expected a non-negative integer"),
        ("step", 1.5, "step: expected a non-negative integer"),
        ("step", True, "step: expected a non-negative integer"),
        ("format_version", True, "format_version True"),
        ("format_version", "2", "format_version '2'"),
        ("format_version", 0, "format_version 0"),
        ("format_version", 3, "format_version 3.*newer rnnlab"),
        ("dtype", "float16", "dtype: expected"),
        ("params", "W_z", "params: expected a list"),
        ("extra", [1, 2], "extra: expected a JSON object"),
        ("rng", {"bit_generator": "PCG64", "state": {"state": -1, "inc": "x"}}, "RNG state"),
        ("rng", {"bit_generator": "os.system"}, "unknown random bit generator"),
        ("model_rng", {"zoneout": {"bit_generator": "PCG64"}}, "random streams"),
        ("model", {"class": "Evil", "config": {}}, "cannot rebuild.*'Evil'"),
        ("model", {"class": "GRULayer", "config": []}, "config: expected a JSON object"),
        ("model", "GRULayer", "model: expected"),
        ("optimizer", {"type": "SGD", "hyper": {"lr": -1.0}, "step": 2}, "lr"),
        ("optimizer", {"type": "Evil", "hyper": {}, "step": 2}, "optimizer type 'Evil'"),
        ("optimizer", {"type": "SGD", "hyper": {"lr": 0.1}, "step": -2}, "optimizer.step"),
        ("optimizer", {"type": "SGD", "hyper": {"lr": 0.1, "x": 1}, "step": 2}, "optimizer"),
        ("optimizer", None, "belong to no model parameter or optimizer"),
        ("optimiser", None, r"unknown key\(s\) \['optimiser'\]"),
    ],
)
def test_out_of_range_values_are_refused_with_the_reason(tmp_path, parts, key, value, why):
    info, tensors = parts
    info[key] = value
    _load_fails(_craft(tmp_path / "bad.safetensors", info, tensors), why)


@pytest.mark.parametrize("key", ["model", "step", "optimizer", "params", "format_version"])
def test_a_missing_key_is_named(tmp_path, parts, key):
    info, tensors = parts
    del info[key]
    _load_fails(_craft(tmp_path / "bad.safetensors", info, tensors), rf"\['{key}'\]|{key}")


def test_nan_and_inf_weights_are_refused(tmp_path, parts):
    info, tensors = parts
    tensors["model.U_r"] = np.array([[np.nan, 1.0], [0.0, 0.0]])
    _load_fails(_craft(tmp_path / "nan.safetensors", info, tensors), r"model\.U_r holds NaN")
    info, tensors = _parts(tmp_path / "nan.safetensors")
    tensors["model.U_r"][0, 0] = 0.0
    tensors["optimizer.momentum_buffer.b_y"] = np.array([np.inf])
    _load_fails(_craft(tmp_path / "inf.safetensors", info, tensors), "b_y holds NaN or inf")


def test_tensors_of_another_dtype_than_the_config_are_refused(tmp_path, parts):
    info, tensors = parts
    tensors = {k: v.astype(np.float32) for k, v in tensors.items()}
    _load_fails(_craft(tmp_path / "f32.safetensors", info, tensors), "dtype float32.*float64")


def test_missing_optimizer_buffers_are_refused(tmp_path):
    path = tmp_path / "adam.safetensors"
    _trained_checkpoint(path, optimizer="adam")
    info, tensors = _parts(path)
    del tensors["optimizer.exp_avg_sq.U_h"]
    _load_fails(_craft(path, info, tensors), r"exp_avg_sq.*missing.*U_h")


def test_unknown_tensors_and_metadata_keys_are_refused(tmp_path, parts):
    info, tensors = parts
    _load_fails(_craft(tmp_path / "a.st", info, tensors | {"evil": np.zeros(1)}), "'evil'")
    bad = _raw(tmp_path / "b.st", json.dumps(info), meta_extra={"other": "x"})
    _load_fails(bad, "corrupt rnnlab metadata")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"format": "rnnlab", "format": "rnnlab"}', "duplicate key"),
        ('{"format": "rnnlab", "step": NaN}', "not a JSON number"),
        ('{"format": "rnnlab", "step": 1e999}', "out of range"),
        ('{"format": "rnnlab", "step": ' + "9" * 5000 + "}", "not JSON"),
        ("\udcff", "not JSON"),
    ],
)
def test_odd_json_is_a_checkpoint_error(tmp_path, text, why):
    _load_fails(_raw(tmp_path / "odd.safetensors", text), why)


def test_a_deeply_nested_model_description_is_refused(tmp_path, parts):
    info, _tensors = parts
    model = {"class": "Dropout", "config": {"p": 0.1}}
    for _ in range(40):
        model = {"class": "Sequential", "config": {"modules": [model]}}
    info["model"], info["params"], info["optimizer"] = model, [], None
    _load_fails(_craft(tmp_path / "deep.st", info, {}), "nested deeper")


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ({"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}, "dtype 'I64'"),
        ({"dtype": "F64", "shape": [-1], "data_offsets": [0, 8]}, "shape"),
        ({"dtype": "F64", "shape": [2**62, 2**62], "data_offsets": [0, 8]}, "offsets"),
        ({"dtype": "F64", "shape": [1], "data_offsets": [0, 2**70]}, "offsets"),
        ({"dtype": "F64", "shape": [1], "data_offsets": [8, 16]}, "start at 0"),
        ({"dtype": "F64", "shape": [[1]], "data_offsets": [0, 8]}, "shape"),
        ({"dtype": "F64", "shape": [1], "data_offsets": [0, True]}, "offsets"),
        ({"dtype": "F64", "shape": [1]}, "bad entry"),
        ([1, 2, 3], "bad entry"),
    ],
)
def test_a_crafted_tensor_table_is_refused(tmp_path, parts, entry, why):
    info, _ = parts
    bad = _raw(tmp_path / "t.st", json.dumps(info), {"model.W_z": entry}, b"\0" * 8)
    _load_fails(bad, why)


class _CountingReads:
    def __init__(self, monkeypatch):
        self.total = 0
        real = rformat._read_exact

        def counted(f, size):
            data = real(f, size)
            self.total += len(data)
            return data

        monkeypatch.setattr(rformat, "_read_exact", counted)


def test_a_2_gb_file_of_zeros_is_refused_after_reading_8_bytes(tmp_path, monkeypatch):
    big = tmp_path / "zeros.safetensors"
    with open(big, "wb") as f:
        f.truncate(2 * 2**30)  # sparse: costs no disk
    reads = _CountingReads(monkeypatch)
    _load_fails(big, "header claims 0 bytes")
    assert reads.total == 8


def test_a_huge_tensor_region_is_not_read_when_the_model_cannot_use_it(
    tmp_path, parts, monkeypatch
):
    info, _ = parts
    size = 2**31
    table = {"model.W_z": {"dtype": "F64", "shape": [size // 8], "data_offsets": [0, size]}}
    bad = _raw(tmp_path / "big.safetensors", json.dumps(info), table)
    with open(bad, "r+b") as f:
        f.truncate(bad.stat().st_size + size)
    reads = _CountingReads(monkeypatch)
    _load_fails(bad, "the parameters do not match the model")
    assert reads.total < 8 * 1024


def test_a_fifo_or_directory_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    _load_fails(tmp_path / "pipe", "FIFO.*not a regular file")
    _load_fails(tmp_path, "directory.*not a regular file")


# ------------------------------------------------------------------ every registered class
def _models():
    from rnnlab.models import (
        GRU,
        LSTM,
        RNN,
        Bidirectional,
        Dense,
        Dropout,
        Embedding,
        ReLU,
        Sequential,
        Tanh,
    )

    return [
        RNNLayer(2, 3, 1, dtype=np.float64, seed=0),
        LSTMLayer(2, 3, layer_norm=True, zoneout=(0.1, 0.2), seed=0),
        GRULayer(2, 3, 2, reset_after=True, layer_norm=True, seed=0),
        Dense(3, 2, seed=0),
        Embedding(5, 3, seed=0),
        Sequential(Embedding(5, 2, seed=0), LSTMLayer(2, 3, seed=1), Dropout(0.2, seed=2),
                   Tanh(), Dense(3, 1, seed=3), ReLU()),
        Bidirectional(GRULayer(2, 3, seed=0, zoneout=0.1)),
        LSTM(2, 3, 2, bidirectional=True, output_size=2, dropout=0.1, seed=0, layer_norm=True),
        GRU(2, 3, 3, seed=0, reset_after=True, dtype=np.float64),
        RNN(2, 3, 1, output_size=1, seed=0),
    ]  # fmt: skip


@pytest.mark.parametrize("model", _models(), ids=lambda m: type(m).__name__)
def test_the_shape_rules_agree_with_every_model_class(tmp_path, model):
    from rnnlab.io.schema import expected_tensors
    from rnnlab.registry import describe

    expected = expected_tensors("x", describe(model))
    assert list(expected) == list(model.params)
    for name, p in model.params.items():
        assert expected[name] == (p.shape, p.dtype), name
    model.save(tmp_path / "m.safetensors")
    loaded = rnnlab.load(tmp_path / "m.safetensors")
    for name, p in model.params.items():
        np.testing.assert_array_equal(loaded.params[name], p)


def test_a_version_1_file_without_its_digest_is_refused_with_the_key_named(tmp_path):
    from safetensors.numpy import save as st_save

    info, tensors = _parts(V1_FILE)
    del info["sha256"]
    bad = tmp_path / "v1.safetensors"
    bad.write_bytes(st_save(tensors, {"rnnlab": json.dumps(info)}))
    _load_fails(bad, r"lacks the key\(s\) \['sha256'\]")


def test_a_class_without_a_shape_rule_is_bounded_by_the_stored_values(tmp_path):
    from rnnlab.models import Dense
    from rnnlab.registry import register

    built = []

    @register
    class ToyAffine(Dense):  # a class io has no shape rule for (as an app might register)
        def __init__(self, in_features, out_features, **kwargs):
            built.append((in_features, out_features))
            super().__init__(in_features, out_features, **kwargs)

    toy = ToyAffine(3, 2, dtype=np.float64, seed=0)
    toy.save(tmp_path / "toy.safetensors")
    built.clear()
    loaded = rnnlab.load(tmp_path / "toy.safetensors")
    np.testing.assert_array_equal(loaded.params["W"], toy.params["W"])
    assert built == [(3, 2)]
    info, tensors = _parts(tmp_path / "toy.safetensors")
    info["model"]["config"]["out_features"] = 10**9
    built.clear()
    _load_fails(_craft(tmp_path / "big.safetensors", info, tensors), "more than the 8 values")
    assert built == []
