"""Section 6: CPU versus GPU forward time at the guide's configuration.

The CPU row is always measured. The GPU row is measured only when CuPy and a CUDA device are
usable; otherwise it says "not measured" and why, in the words of
:func:`rnnlab.backend.cupy_status`. Nothing is ever filled in from the guide.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from ..backend import cupy_status
from .config import GUIDE_TIMING_CONFIG
from .training import CELL_NAMES, CELLS
from .verdicts import CONFIRMED, NOT_MEASURED, REFUTED, verdict

#: The guide's "CPU vs GPU Performance" table, forward pass, milliseconds.
GUIDE_GPU_TABLE = {
    "rnn": {"cpu_ms": 250.0, "gpu_ms": 15.0, "speedup": 16.0},
    "lstm": {"cpu_ms": 800.0, "gpu_ms": 25.0, "speedup": 32.0},
    "gru": {"cpu_ms": 600.0, "gpu_ms": 20.0, "speedup": 30.0},
}


def _forward_ms(layer, x, reps, sync=lambda: None):
    times = []
    for rep in range(reps + 2):  # two warm-up calls (kernel compilation, allocator)
        sync()
        start = time.perf_counter()
        layer.forward(x)
        sync()
        if rep >= 2:
            times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def run(cells: Sequence[str], reps: int = 7, config: dict = GUIDE_TIMING_CONFIG) -> dict:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((config["seq_len"], config["batch_size"], config["input_size"])).astype(
        np.float32
    )
    cupy, reason = cupy_status()
    rows = {}
    for cell in cells:
        layer = CELLS[cell](config["input_size"], config["hidden_size"], seed=0, dtype=np.float32)
        row = {"cpu_ms": _forward_ms(layer, x, reps), "guide": GUIDE_GPU_TABLE[cell]}
        if cupy is not None:
            layer.to("cuda")
            x_gpu = cupy.asarray(x)
            row["gpu_ms"] = _forward_ms(layer, x_gpu, reps, cupy.cuda.Device().synchronize)
            row["speedup"] = row["cpu_ms"] / row["gpu_ms"]
        rows[cell] = row
    gpu_note = "measured" if cupy is not None else f"not measured: {reason}"
    if cupy is not None:
        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        gpu_note = f"measured on {props['name'].decode(errors='replace')}"
    return {
        "config": dict(config),
        "rows": rows,
        "gpu": gpu_note,
        "verdicts": _verdicts(rows, gpu_note),
    }


#: The GPU speedup counts as the guide's when at least this fraction of the claimed one.
SPEEDUP_FRACTION = 0.5


def gpu_verdict(cell: str, row: dict, gpu_note: str) -> dict:
    """The guide's CPU/GPU forward times of ``cell`` against a measured ``row``.

    Confirmed when the measured speedup is at least SPEEDUP_FRACTION of the guide's; "not
    measured" (with the reason) without a GPU.
    """
    guide = row["guide"]
    measured = f"CPU {row['cpu_ms']:.1f} ms"
    if "gpu_ms" in row:
        measured += f", GPU {row['gpu_ms']:.2f} ms, {row['speedup']:.1f}x"
        fast = row["speedup"] >= SPEEDUP_FRACTION * guide["speedup"]
        outcome, note = (CONFIRMED if fast else REFUTED), gpu_note
    else:
        outcome = NOT_MEASURED
        faster = guide["cpu_ms"] / row["cpu_ms"]
        note = f"GPU {gpu_note}. Our CPU forward is {faster:.0f}x faster than the guide's CPU."
    return verdict(
        f"{CELL_NAMES[cell]} forward: CPU {guide['cpu_ms']:.0f} ms, GPU "
        f"{guide['gpu_ms']:.0f} ms, {guide['speedup']:.0f}x",
        measured,
        outcome,
        note,
        budget_limited=False,
        timing=True,
    )


def _verdicts(rows, gpu_note):
    return [gpu_verdict(cell, row, gpu_note) for cell, row in rows.items()]
