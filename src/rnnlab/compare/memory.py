"""Section 3: relative memory (weights, activations kept for backward, gradients; RNN = 1.0x).

Measured from the arrays the layers hold: the parameter buffer, the gradient buffer and the
forward cache (every array in it except the input x and the initial state, which the caller
owns and which are the same for every cell). The peak allocation of one forward+backward comes
from ``tracemalloc``, which NumPy reports its buffers to.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Sequence
from typing import Any

import numpy as np

from .config import GUIDE_TIMING_CONFIG
from .training import CELL_NAMES, CELLS
from .verdicts import CONFIRMED, PARTLY, REFUTED, verdict

#: The guide's "Memory Usage (relative)" table.
GUIDE_RELATIVE_MEMORY = {
    "rnn": {"weights": 1.0, "activations": 1.0, "gradients": 1.0, "total": 1.0},
    "lstm": {"weights": 4.0, "activations": 2.0, "gradients": 4.0, "total": 3.3},
    "gru": {"weights": 3.0, "activations": 1.5, "gradients": 3.0, "total": 2.5},
}
PARTS = ("weights", "activations", "gradients", "total", "peak")
_CALLER_OWNED = ("x", "h0", "C0")


def activation_bytes(cache: Any) -> int:
    """Bytes of the arrays a forward cache keeps for backward, inputs and initial state excluded."""
    return int(
        sum(
            getattr(cache, name).nbytes
            for name in cache._fields
            if name not in _CALLER_OWNED and hasattr(getattr(cache, name), "nbytes")
        )
    )


def measure_cell(cell: str, config: dict) -> dict[str, int]:
    """Bytes of weights, activations, gradients, their total, and the tracemalloc peak."""
    rng = np.random.default_rng(0)
    shape = (config["seq_len"], config["batch_size"])
    x = rng.standard_normal((*shape, config["input_size"])).astype(np.float32)
    dy = np.ones((*shape, config["hidden_size"]), np.float32)
    layer = CELLS[cell](config["input_size"], config["hidden_size"], seed=0, dtype=np.float32)
    layer.forward(x)  # warm: first-call allocations (kernels, caches) are not the layer's
    layer.backward(dy)
    layer._cache = None
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        layer.forward(x)
        layer.backward(dy)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    row = {
        "weights": int(layer._flat.nbytes),
        "activations": activation_bytes(layer._cache),
        "gradients": int(layer._flat_grad.nbytes),
        "peak": int(peak - base),
    }
    row["total"] = row["weights"] + row["activations"] + row["gradients"]
    return row


def run(cells: Sequence[str], config: dict = GUIDE_TIMING_CONFIG) -> dict:
    rows = {cell: measure_cell(cell, config) for cell in cells}
    relative = {}
    if "rnn" in rows:
        relative = {
            cell: {part: rows[cell][part] / rows["rnn"][part] for part in PARTS} for cell in cells
        }
    return {
        "config": dict(config),
        "dtype": "float32",
        "bytes": rows,
        "relative": relative,
        "verdicts": _verdicts(relative, cells, config),
    }


#: A measured ratio within this fraction of the guide's counts as the guide's.
TOLERANCE = 0.1


def memory_verdict(cell: str, got: dict[str, float], config: dict) -> dict:
    """The guide's relative memory of ``cell`` against measured ratios ``got[part]``.

    Confirmed when all four parts are within TOLERANCE, partly when 1-3 are off, refuted when
    all four are. Exact byte counts: not budget-limited.
    """
    claim = GUIDE_RELATIVE_MEMORY[cell]
    wrong = [p for p in claim if abs(got[p] - claim[p]) > TOLERANCE * claim[p]]
    return verdict(
        f"{CELL_NAMES[cell]} memory {claim['weights']:g}x weights, "
        f"{claim['activations']:g}x activations, {claim['gradients']:g}x gradients, "
        f"{claim['total']:g}x total",
        ", ".join(f"{got[p]:.2f}x {p}" for p in claim)
        + " (seq {seq_len}, batch {batch_size}, hidden {hidden_size})".format(**config),
        CONFIRMED if not wrong else PARTLY if len(wrong) < len(claim) else REFUTED,
        f"off by more than {TOLERANCE:.0%}: " + ", ".join(wrong) if wrong else "all within 10%",
        budget_limited=False,
    )


def _verdicts(relative, cells, config):
    return [
        memory_verdict(cell, relative[cell], config) for cell in ("lstm", "gru") if cell in relative
    ]
