"""GPU timings: rnnlab on "cuda" against PyTorch's cuDNN layers, ready for a machine with a GPU.

Never run on a GPU: the machines rnnlab was written on have none, so no GPU figure exists yet
(docs/gpu.md). On a machine without CuPy, a CUDA device or a CUDA build of PyTorch, :func:`run`
raises :class:`~rnnlab.DeviceUnavailableError` saying which is missing.

Method (as the CPU bench): parity first (rnnlab's and cuDNN's outputs on the same weights and
input must agree), then timings with warm-up calls outside the clock (numba-cuda compiles each
kernel on its first launch), each timed call ended by a device synchronisation (CuPy's stream
for rnnlab, ``torch.cuda.synchronize`` for PyTorch), medians, rnnlab and PyTorch interleaved
so that clock and thermal drift hit both, and the ratio rnnlab / PyTorch from the same run.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from .backend import DeviceUnavailableError, cupy_status, to_device

__all__ = ["GRID", "GUIDE_SHAPE", "format_rows", "gpu_status", "report", "run"]

# (T, B, I, H): the CPU bench's grid (rnnlab.bench.SIZES, PERFORMANCE.md), so CPU and GPU
# rows compare; the guide's GPU table is seq 50, batch 64, hidden 128 (input 32 assumed),
# always timed.
GRID = [(10, 1, 1, 8), (50, 1, 8, 32), (50, 16, 32, 64), (50, 64, 32, 128)]
GRID += [(100, 32, 128, 256), (200, 64, 64, 256)]
GUIDE_SHAPE = (50, 64, 32, 128)
CELLS = ("rnn", "lstm", "gru")
PARITY_RTOL = {"float32": 1e-3, "float64": 1e-9}


def gpu_status() -> tuple[bool, str]:
    """(True, "ok") when CuPy sees a device and PyTorch is a CUDA build that sees one too."""
    cupy, reason = cupy_status()
    if cupy is None:
        return False, reason
    try:
        import torch
    except ImportError as exc:
        return False, f"PyTorch (the cuDNN peer) is not installed ({exc})"
    if not torch.cuda.is_available():
        return False, f"PyTorch {torch.__version__} sees no CUDA device (a CPU-only build?)"
    return True, "ok"


def _layers(cell, shape, dtype):
    """The rnnlab layer on "cuda" and the PyTorch module with the same weights, on the GPU."""
    import rnnlab
    from rnnlab.interop.torch import to_torch

    _, _, I, H = shape
    make = {
        "rnn": lambda: rnnlab.RNNLayer(I, H, seed=0, dtype=dtype),
        "lstm": lambda: rnnlab.LSTMLayer(I, H, seed=0, dtype=dtype),
        "gru": lambda: rnnlab.GRULayer(I, H, seed=0, dtype=dtype, reset_after=True),
    }[cell]
    layer = make()
    module = to_torch(layer).cuda()
    return layer.to("cuda"), module


def _median_ms(call, synchronize, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        call()
    synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def bench_case(cell: str, shape, dtype="float32", repeats: int = 20, warmup: int = 3) -> dict:
    """One row: parity error, then forward and forward+backward medians (ms) for both."""
    import cupy
    import torch

    T, B, I, H = shape
    layer, module = _layers(cell, shape, np.dtype(dtype))
    x_host = np.random.default_rng(0).standard_normal((T, B, I)).astype(dtype)
    x = to_device(x_host, "cuda")
    dy = cupy.ones((T, B, H), dtype=dtype)
    x_torch = torch.from_numpy(x_host).cuda().requires_grad_(True)
    y_torch, _ = module(x_torch)
    y_ours = to_device(layer.forward(x), "cpu")
    scale = float(np.abs(y_ours).max()) or 1.0
    parity = float(np.abs(y_ours - y_torch.detach().cpu().numpy()).max()) / scale
    if parity > PARITY_RTOL[dtype]:
        raise RuntimeError(f"{cell} {shape}: rnnlab and cuDNN disagree, relative error {parity}")
    stream_sync = cupy.cuda.get_current_stream().synchronize

    def ours_fwd():
        layer.forward(x)

    def ours_both():
        layer.forward(x)
        layer.backward(dy)

    def torch_fwd():
        with torch.no_grad():
            module(x_torch)

    def torch_both():
        y, _ = module(x_torch)
        y.backward(torch.ones_like(y))

    row = {"cell": cell, "shape": shape, "dtype": dtype, "parity": parity}
    rounds: dict[str, list[float]] = {
        "ours_fwd": [],
        "torch_fwd": [],
        "ours_both": [],
        "torch_both": [],
    }
    for _ in range(3):  # interleaved rounds; the median of round medians is reported
        rounds["ours_fwd"].append(_median_ms(ours_fwd, stream_sync, repeats, warmup))
        rounds["torch_fwd"].append(_median_ms(torch_fwd, torch.cuda.synchronize, repeats, warmup))
        rounds["ours_both"].append(_median_ms(ours_both, stream_sync, repeats, warmup))
        rounds["torch_both"].append(_median_ms(torch_both, torch.cuda.synchronize, repeats, warmup))
    row |= {k: statistics.median(v) for k, v in rounds.items()}
    row["ratio_fwd"] = row["ours_fwd"] / row["torch_fwd"]
    row["ratio_both"] = row["ours_both"] / row["torch_both"]
    row["kernels"] = layer._impl.name
    return row


def run(cells=CELLS, shapes=None, dtype="float32", repeats: int = 20) -> list[dict]:
    """Time every (cell, shape); the guide's shape is always included. Needs a GPU."""
    ok, reason = gpu_status()
    if not ok:
        raise DeviceUnavailableError(
            f"rnnlab bench --device cuda needs a GPU, and none is usable here: {reason}. "
            "No GPU timing was measured."
        )
    import torch

    torch.backends.cudnn.enabled = True
    shapes = list(GRID if shapes is None else shapes)
    if GUIDE_SHAPE not in shapes:
        shapes.append(GUIDE_SHAPE)
    return [bench_case(cell, shape, dtype, repeats) for cell in cells for shape in shapes]


def format_rows(rows) -> str:
    """A table of :func:`run`'s rows; the guide's shape is marked."""
    lines = [
        "cell  (T,B,I,H)           kernels      rnnlab fwd / fwd+bwd ms   "
        "cuDNN fwd / fwd+bwd ms   ratio fwd / fwd+bwd"
    ]
    for r in rows:
        mark = " *guide" if tuple(r["shape"]) == GUIDE_SHAPE else ""
        lines.append(
            f"{r['cell']:<5} {r['shape']!s:<19} {r['kernels']:<12} "
            f"{r['ours_fwd']:>9.3f} / {r['ours_both']:<9.3f}    "
            f"{r['torch_fwd']:>9.3f} / {r['torch_both']:<9.3f}   "
            f"{r['ratio_fwd']:>6.2f} / {r['ratio_both']:<6.2f}{mark}"
        )
    lines.append("ratio = rnnlab time / PyTorch cuDNN time (below 1: rnnlab faster)")
    return "\n".join(lines)


def report(cells=CELLS, shapes=None, dtype="float32", repeats: int = 20) -> tuple[int, str]:
    """``(exit status, text)`` for ``rnnlab bench --device cuda``: the table, or, without a GPU,
    status 1 and the sentence saying that nothing was measured and why."""
    try:
        rows = run(cells, shapes, dtype, repeats)
    except DeviceUnavailableError as exc:
        return 1, str(exc)
    header = f"rnnlab on cuda vs PyTorch cuDNN, {dtype}, medians of {repeats} synchronised calls"
    return 0, header + "\n" + format_rows(rows)
