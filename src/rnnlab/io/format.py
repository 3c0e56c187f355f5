"""The byte layout of an rnnlab file, and a lazy, validating reader of it.

A file is a plain safetensors file: an 8-byte little-endian header length N, N bytes of JSON
header (space-padded to a multiple of 8), then the raw tensor bytes, little-endian, in the order
the header's ``data_offsets`` give, without gaps. rnnlab writes the header itself::

    {"__metadata__": {"rnnlab": "<JSON text: the description>", "rnnlab_sha256": "<64 hex>"},
     "model.W_f": {"dtype": "F64", "shape": [4, 3], "data_offsets": [0, 96]}, ...}

``rnnlab_sha256`` (format version 2) is the SHA-256 of every byte of the file, with its own 64
hex digits read as ``0``: the length field, the header (tensor table, description, padding) and
the tensor bytes. A changed byte anywhere is caught. Format version 1 files (rnnlab 0.1) had a
digest of the tensors only, inside the description; they are still read, with a
:class:`CheckpointWarning` that their header is not covered.

The reader looks at the first 8 bytes and the header before reading anything else, checks the
tensor table against the file's size, and reads the tensor bytes only when the caller asks
(after it has checked the table against the model description): a crafted or foreign file is
refused without being read whole.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import struct
from typing import IO, Any, NamedTuple, NoReturn

import numpy as np

__all__ = ["FORMAT", "FORMAT_VERSION", "CheckpointError", "CheckpointWarning", "encode"]

FORMAT = "rnnlab"
FORMAT_VERSION = 2
DIGEST_KEY = "rnnlab_sha256"
MAX_HEADER = 100 * 2**20  # safetensors' own limit on the JSON header
MAX_NDIM = 8
DTYPES: dict[str, np.dtype] = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8")}
DTYPE_CODES = {"float32": "F32", "float64": "F64"}
_PLACEHOLDER = "0" * 64
_DIGEST_FIELD = re.compile(rb'"' + DIGEST_KEY.encode() + rb'":"([0-9a-f]{64})"')


class CheckpointError(ValueError):
    """A file that is not a readable rnnlab checkpoint (the message names the file and why)."""


class CheckpointWarning(UserWarning):
    """A file that loads, with a caveat (an older format whose header has no checksum)."""


def fail(path, why: str) -> NoReturn:
    raise CheckpointError(f"{os.fspath(path)}: {why}")


# --------------------------------------------------------------------------------- JSON
def _no_duplicates(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} out of range")
    return value


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def parse_json(path, text: bytes | str, what: str):
    """JSON as the standard says it (no NaN, no duplicate keys), every failure a CheckpointError."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_float=_finite,
            parse_constant=_no_constant,
        )
    except RecursionError:
        fail(path, f"corrupt {what} (nested too deeply)")
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError, too-long ints, dups
        fail(path, f"corrupt {what} (not JSON: {exc})")


# --------------------------------------------------------------------------------- writing
def encode(description: dict, tensors: dict[str, np.ndarray]) -> bytes:
    """The bytes of a file holding ``tensors`` (name -> float32/float64 array, in order) and
    ``description`` (JSON-able), with the digest of format version 2."""
    table: dict[str, Any] = {}
    offset = 0
    for name, array in tensors.items():
        code = DTYPE_CODES[array.dtype.name]
        size = array.size * array.dtype.itemsize
        table[name] = {
            "dtype": code,
            "shape": list(array.shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    text = json.dumps(description, allow_nan=False, separators=(",", ":"))
    meta = {FORMAT: text, DIGEST_KEY: _PLACEHOLDER}
    header = json.dumps({"__metadata__": meta, **table}, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)  # safetensors aligns the data to 8 bytes
    parts = [struct.pack("<Q", len(header)), header]
    parts += [
        np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes() for a in tensors.values()
    ]
    digest = hashlib.sha256(b"".join(parts)).hexdigest()
    parts[1] = header.replace(
        f'"{DIGEST_KEY}":"{_PLACEHOLDER}"'.encode(), f'"{DIGEST_KEY}":"{digest}"'.encode()
    )
    return b"".join(parts)


# --------------------------------------------------------------------------------- reading
class Entry(NamedTuple):
    dtype: np.dtype
    shape: tuple[int, ...]
    start: int
    end: int


class Layout(NamedTuple):
    """What the first bytes of a file say: its description and tensor table, nothing read else."""

    prefix: bytes
    header: bytes
    meta: dict
    table: dict[str, Entry]
    data_size: int


def _read_exact(f: IO[bytes], size: int) -> bytes:
    return f.read(size)


def _refuse_other_formats(path, head: bytes) -> None:
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        fail(path, "this is a Python pickle; rnnlab never unpickles files (they can run code)")
    if head[:4] == b"PK\x03\x04":
        fail(
            path,
            "this is a zip archive (torch.save output?), not a safetensors file; "
            "rnnlab never unpickles files",
        )


def read_layout(path, f: IO[bytes], file_size: int) -> Layout:
    """Read and check the length field and the header (nothing else) of an open file."""
    prefix = _read_exact(f, 8)
    if len(prefix) < 8:
        _refuse_other_formats(path, prefix)
        fail(path, f"truncated: {file_size} bytes, too short for a safetensors header")
    (n,) = struct.unpack("<Q", prefix)
    if n > MAX_HEADER or n > file_size - 8 or n < 2:
        _refuse_other_formats(path, prefix)  # 0x480 starts like a pickle: believed only here
        fail(
            path,
            f"not a safetensors file or truncated: the header claims {n} bytes, "
            f"the file has {file_size - 8} after the length field",
        )
    header = _read_exact(f, n)
    if len(header) != n:
        fail(path, f"truncated: the file ended inside its {n}-byte header")
    if header[:1] != b"{":
        _refuse_other_formats(path, prefix)
    parsed = parse_json(path, header, "safetensors header")
    if not isinstance(parsed, dict):
        fail(path, "corrupt safetensors header (not a JSON object)")
    meta = parsed.pop("__metadata__", None)
    if not isinstance(meta, dict) or FORMAT not in meta:
        fail(
            path,
            "a safetensors file without rnnlab metadata (written by another library?); "
            "rnnlab.load reads files written by rnnlab.save",
        )
    data_size = file_size - 8 - n
    return Layout(prefix, header, meta, _check_table(path, parsed, data_size), data_size)


def _int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_entry(path, name: str, entry) -> Entry:
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        fail(path, f"corrupt safetensors header (bad entry for tensor {name!r})")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in DTYPES:
        fail(path, f"tensor {name!r} has dtype {dtype!r}; rnnlab files hold F32 or F64 only")
    if not (
        isinstance(shape, list)
        and len(shape) <= MAX_NDIM
        and all(_int(d) and d >= 0 for d in shape)
    ):
        fail(path, f"corrupt safetensors header (tensor {name!r} has shape {shape!r})")
    if not (
        isinstance(offsets, list) and len(offsets) == 2 and all(_int(o) and o >= 0 for o in offsets)
    ):
        fail(path, f"corrupt safetensors header (tensor {name!r} has offsets {offsets!r})")
    return Entry(DTYPES[dtype], tuple(shape), offsets[0], offsets[1])


def _check_table(path, parsed: dict, data_size: int) -> dict[str, Entry]:
    """Every tensor's bytes are its shape times its item size, back to back, filling the file."""
    table = {name: _check_entry(path, name, entry) for name, entry in parsed.items()}
    position = 0
    for name, entry in sorted(table.items(), key=lambda item: (item[1].start, item[1].end)):
        count = math.prod(entry.shape)
        if entry.start != position or entry.end - entry.start != count * entry.dtype.itemsize:
            fail(
                path,
                f"corrupt safetensors header (tensor {name!r}: offsets {entry.start}..{entry.end} "
                f"for shape {entry.shape}, expected to start at {position})",
            )
        position = entry.end
    if position != data_size:
        fail(
            path,
            f"truncated or corrupt: the header describes {position} bytes of tensor data, "
            f"the file holds {data_size}",
        )
    return table


def read_tensors(path, f: IO[bytes], layout: Layout, version: int) -> dict[str, np.ndarray]:
    """Read the tensor bytes, check the digest, return name -> native-endian arrays (copies)."""
    data = _read_exact(f, layout.data_size)
    if len(data) != layout.data_size or _read_exact(f, 1):
        fail(path, "the file changed size while it was read")
    tensors = {  # views of ``data`` (no copy on a little-endian machine); callers copy them
        name: np.frombuffer(data, e.dtype, math.prod(e.shape), e.start)
        .reshape(e.shape)
        .astype(e.dtype.newbyteorder("="), copy=False)
        for name, e in layout.table.items()
    }
    if version >= 2:
        _check_file_digest(path, layout, data)
    return tensors


def _check_file_digest(path, layout: Layout, data: bytes) -> None:
    stored = layout.meta.get(DIGEST_KEY)
    fields = _DIGEST_FIELD.findall(layout.header)
    if not isinstance(stored, str) or fields != [stored.encode()]:
        fail(path, "corrupt: the header's checksum field is missing or malformed")
    blank = layout.header.replace(fields[0], _PLACEHOLDER.encode())
    h = hashlib.sha256(layout.prefix)
    h.update(blank)
    h.update(data)  # no concatenated copy of a large file
    digest = h.hexdigest()
    if digest != stored:
        fail(path, "corrupt: the file's bytes do not match the checksum in its header")


def tensor_digest(tensors: dict[str, np.ndarray]) -> str:
    """Format version 1's digest: every tensor's name, dtype, shape and bytes (no header)."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        h.update(name.encode())
        h.update(str(arr.dtype).encode() + str(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()
