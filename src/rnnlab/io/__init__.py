"""Save and load models and training checkpoints: safetensors plus a JSON header, nothing pickled.

A file is a plain safetensors file (https://github.com/huggingface/safetensors): an 8-byte
little-endian header length, a JSON header, then raw tensor bytes. rnnlab's own description sits
in the header's ``__metadata__`` under the key ``"rnnlab"`` as a JSON string::

    {"format": "rnnlab", "format_version": 2, "library_version": "0.1.0",
     "model": {"class": "LSTMLayer", "config": {...}},   # registry.describe(model)
     "dtype": "float64", "params": ["W_f", ...],
     "optimizer": {"type": "Adam", "hyper": {...}, "step": 120} | null,
     "step": 120 | null, "rng": <numpy bit_generator.state> | null,
     "model_rng": {...}, "extra": {...} | null}

and ``__metadata__["rnnlab_sha256"]`` is the SHA-256 of every byte of the file (its own digits
read as zeros): a changed byte anywhere, header or tensors, is a :class:`CheckpointError`.
Tensors are named ``model.<param>`` (the model's ``params`` keys, e.g. ``model.W_f`` or
``model.0.W_f`` in a container) and ``optimizer.<buffer>.<param>``.

The package: :mod:`.files` (safe writes, :func:`atomic_write_bytes`), :mod:`.format` (the byte
layout and the lazy reader), :mod:`.schema` (what the description may hold, and the shapes it
implies), :mod:`.checkpoint` (save/load). Loading never unpickles and never builds a model
before the header, the description and every stored shape agree with each other and with the
file's size. Pickling a module in memory (``pickle``, ``copy.deepcopy``, multiprocessing) is a
separate thing: see docs/training.md.
"""

from .checkpoint import Checkpoint, SaveMixin, load, load_checkpoint, save, save_checkpoint
from .files import atomic_write_bytes
from .format import FORMAT, FORMAT_VERSION, CheckpointError, CheckpointWarning

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "Checkpoint",
    "CheckpointError",
    "CheckpointWarning",
    "SaveMixin",
    "atomic_write_bytes",
    "load",
    "load_checkpoint",
    "save",
    "save_checkpoint",
]
