"""Hypothesis-driven fuzzing of the checkpoint reader: every damaged or crafted file is either a
valid checkpoint or a CheckpointError, never another exception, and each is decided fast."""

import json
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnnlab
from rnnlab import CheckpointError, GRULayer, optim
from rnnlab.io import format as rformat

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A checkpoint with everything: config options, optimizer buffers, step, RNG, extra."""
    path = tmp_path_factory.mktemp("fuzz") / "good.safetensors"
    layer = GRULayer(1, 2, 1, dtype=np.float64, seed=0, zoneout=0.1, reset_after=True)
    opt = optim.SGD(layer, lr=0.1, momentum=0.9)
    for _ in range(2):
        opt.zero_grad()
        layer.forward(np.ones((2, 1, 1)))
        layer.backward(np.ones((2, 1, 1)))
        opt.step()
    rnnlab.save_checkpoint(path, layer, opt, step=2, rng=np.random.default_rng(1), extra={"a": 1})
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    info = json.loads(header["__metadata__"]["rnnlab"])
    from safetensors.numpy import load_file

    stored = load_file(path)
    tensors = {k: stored[k] for k in sorted(stored, key=lambda k: header[k]["data_offsets"][0])}
    return {"path": path, "data": data, "info": info, "tensors": tensors, "n": n}


def _outcome(path):
    """'ok' or 'refused'; any other exception fails the test."""
    try:
        rnnlab.load_checkpoint(path)
    except CheckpointError:
        return "refused"
    return "ok"


def _write(good, name, data: bytes):
    path = good["path"].with_name(name)
    path.write_bytes(data)
    return path


@FUZZ
@given(data=st.data())
def test_changed_bytes_anywhere_are_refused(good, data):
    size = len(good["data"])
    changes = data.draw(
        st.lists(st.tuples(st.integers(0, size - 1), st.integers(1, 255)), min_size=1,
                 max_size=8, unique_by=lambda c: c[0])
    )  # fmt: skip
    damaged = bytearray(good["data"])
    for position, mask in changes:
        damaged[position] ^= mask
    assert _outcome(_write(good, "flip.st", bytes(damaged))) == "refused"


@FUZZ
@given(data=st.data())
def test_truncated_or_extended_files_are_refused(good, data):
    keep = data.draw(st.integers(0, len(good["data"]) - 1))
    tail = data.draw(st.binary(max_size=64))
    damaged = good["data"][:keep] + tail
    if damaged != good["data"]:
        assert _outcome(_write(good, "cut.st", damaged)) == "refused"


@FUZZ
@given(length=st.integers(0, 2**64 - 1), body=st.binary(max_size=256))
def test_random_length_fields_and_bodies_are_refused(good, length, body):
    assert _outcome(_write(good, "raw.st", struct.pack("<Q", length) + body)) == "refused"


@FUZZ
@given(header=st.binary(min_size=1, max_size=512))
def test_random_headers_of_a_consistent_length_are_refused(good, header):
    path = _write(good, "hdr.st", struct.pack("<Q", len(header)) + header)
    assert _outcome(path) == "refused"


FIXED = ("format", "format_version", "params", "dtype", "model", "library_version")


DESCRIPTION_KEYS = ["format", "format_version", "library_version", "model", "dtype", "params",
                    "optimizer", "step", "rng", "model_rng", "extra", "unknown"]  # fmt: skip


@FUZZ
@given(key=st.sampled_from(DESCRIPTION_KEYS), value=JSON)
def test_any_value_in_any_description_field_is_loaded_or_refused(good, key, value):
    info = dict(good["info"], **{key: value})
    path = _write(good, "desc.st", rformat.encode(info, good["tensors"]))
    outcome = _outcome(path)
    if key == "unknown" or (key in FIXED and value != good["info"][key]):
        assert outcome == "refused"


@FUZZ
@given(
    key=st.sampled_from(["input_size", "hidden_size", "output_size", "dtype", "layer_norm",
                         "zoneout", "zoneout_seed", "reset_after", "batch_first", "init",
                         "backend", "other"]),
    value=JSON | st.integers(min_value=-5, max_value=10**30),
)  # fmt: skip
def test_any_value_in_the_model_config_is_loaded_or_refused(good, key, value):
    info = json.loads(json.dumps(good["info"]))
    config = info["model"]["config"]
    original = config.get(key, "absent")
    config[key] = value
    outcome = _outcome(_write(good, "cfg.st", rformat.encode(info, good["tensors"])))
    shaping = ("input_size", "hidden_size", "output_size", "dtype", "reset_after", "other")
    if key in shaping and value != original:
        assert outcome == "refused"


@FUZZ
@given(
    part=st.sampled_from(["hyper", "rng", "model_rng", "opt_step"]),
    field=st.sampled_from(["lr", "momentum", "state", "bit_generator", "zoneout", "x"]),
    value=JSON,
)
def test_optimizer_and_rng_fields_are_loaded_or_refused(good, part, field, value):
    info = json.loads(json.dumps(good["info"]))
    if part == "hyper":
        info["optimizer"]["hyper"][field] = value
    elif part == "opt_step":
        info["optimizer"]["step"] = value
    else:
        info[part][field] = value
    _outcome(_write(good, "opt.st", rformat.encode(info, good["tensors"])))


@FUZZ
@given(
    name=st.sampled_from(["model.W_z", "model.b_hn", "optimizer.momentum_buffer.U_h"]),
    entry=JSON
    | st.fixed_dictionaries(
        {
            "dtype": st.sampled_from(["F64", "F32", "F16", "I64", "BOOL", 7]),
            "shape": st.lists(st.integers(-2, 2**40), max_size=4) | JSON,
            "data_offsets": st.lists(st.integers(-8, 2**40), max_size=3) | JSON,
        }
    ),
)
def test_crafted_tensor_table_entries_are_refused(good, name, entry):
    data = good["data"]
    n = good["n"]
    header = json.loads(data[8 : 8 + n])
    if header[name] == entry:
        return
    header[name] = entry
    raw = json.dumps(header).encode()
    path = _write(good, "tab.st", struct.pack("<Q", len(raw)) + raw + data[8 + n :])
    assert _outcome(path) == "refused"
