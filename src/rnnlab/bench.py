"""Benchmark rnnlab's layers against PyTorch's in one process (``rnnlab bench``).

Method (so that the ratios mean something on a busy, noisy machine):

- same process, same thread count (``torch.set_num_threads`` and threadpoolctl for NumPy's and
  SciPy's BLAS), float32, no output head, GRU in PyTorch's form (``reset_after=True``);
- parity first: the PyTorch module is built from the rnnlab layer's weights
  (:func:`rnnlab.interop.torch.to_torch`) and both outputs and input gradients must agree;
- warm-up calls (Numba load/compile, oneDNN primitive creation) outside the clock, then
  repetitions in which the measurements (rnnlab forward, forward+backward, no_grad forward and
  padded forward+backward, PyTorch forward and forward+backward) are interleaved, so drifts in
  machine load hit both sides alike, in a random order drawn anew every repetition; each timed
  call follows at least ``PRIME_S`` of untimed calls of the same measurement, so that it runs
  as in a program that uses one library: both libraries keep idle worker threads spinning for
  a while after a call (PyTorch's OpenMP workers a few ms, OpenBLAS's ~0.1 s), and a call made
  right after the other library's ran with a core taken (PyTorch's backward slowed the next
  call up to 3x; rnnlab's second thread, since round four, started ~3 ms late after PyTorch's
  forward at (100,32,128,256)). The figure reported is the median, with the spread
  (interquartile range over median) as the noise seen;
- forward: rnnlab ``layer.forward`` (which always keeps its cache for backward) against
  PyTorch under ``torch.no_grad()`` (its inference path, the fastest it has);
- forward+backward: ``forward`` then ``backward(dy)`` against ``y = module(x)``,
  ``y.backward(dy)`` (gradients of all weights and of x);
- inference: rnnlab's forward under ``rnnlab.no_grad()`` (no backward cache) against the same
  PyTorch forward under ``torch.no_grad()``;
- padded batches: forward (``lengths=``, each sequence valid for T/2 to T steps) then
  backward, against rnnlab's own unpadded forward+backward of the same size (the padded rows
  still run every step, so this is the cost of the masking alone); not measured for B = 1;
- the load average (``os.getloadavg``) before and after, since other processes on the machine
  slow PyTorch's two threads far more than rnnlab's one;
- GEMM peak: the best of NumPy's and PyTorch's float32 1024² matrix product, measured in the
  same run; a forward's share of it counts the FLOPs of its matrix products only.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field

import numpy as np

SIZES = [(10, 1, 1, 8), (50, 1, 8, 32), (50, 16, 32, 64), (50, 64, 32, 128)]
SIZES += [(100, 32, 128, 256), (200, 64, 64, 256)]
CELLS = ("rnn", "lstm", "gru")
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
TIME_PER_CASE_S = 1.0  # clock budget per (cell, size), split among the repetitions


@dataclass
class CaseResult:
    cell: str
    size: tuple[int, int, int, int]
    ms: dict[str, float] = field(default_factory=dict)  # median per measurement
    spread: dict[str, float] = field(default_factory=dict)  # IQR / median per measurement
    repetitions: int = 0
    parity: float = 0.0  # largest relative difference against PyTorch
    gemm_fraction: dict[str, float] = field(default_factory=dict)  # forward, of peak
    activation_bytes: dict[str, int] = field(default_factory=dict)

    def ratio(self, what: str) -> float | None:
        if what == "padded":  # against rnnlab's own unpadded forward+backward
            padded = self.ms.get("rnnlab_padded")
            return None if padded is None else padded / self.ms["rnnlab_fwdbwd"]
        torch_ms = self.ms.get(f"torch_{what}")
        if what == "infer":  # against PyTorch's forward, which already runs under no_grad
            torch_ms = self.ms.get("torch_fwd")
        return None if not torch_ms else self.ms[f"rnnlab_{what}"] / torch_ms


def forward_flops(cell: str, size) -> float:
    """FLOPs of a forward's matrix products: input projection and recurrent product."""
    T, B, I, H = size
    G = GATES[cell] * H
    return 2.0 * T * B * G * (I + H)


def padded_lengths(num_steps: int, batch_size: int) -> np.ndarray | None:
    """Lengths of the padded-batch measurement: a variable-length batch, each sequence valid
    for T/2 to T steps (seeded), the longest exactly T; None for a single sequence (nothing to
    pad)."""
    if batch_size < 2:
        return None
    lengths = np.random.default_rng(2).integers((num_steps + 1) // 2, num_steps + 1, batch_size)
    lengths[0] = num_steps
    return lengths


def make_layer(cell: str, size, backend: str, seed: int = 0):
    from rnnlab import GRULayer, LSTMLayer, RNNLayer

    _, _, I, H = size
    if cell == "rnn":
        return RNNLayer(I, H, seed=seed, backend=backend)
    if cell == "lstm":
        return LSTMLayer(I, H, seed=seed, backend=backend)
    return GRULayer(I, H, reset_after=True, seed=seed, backend=backend)


def gemm_peak_gflops(torch=None, n: int = 1024, repeats: int = 7) -> dict[str, float]:
    """Best float32 GEMM rate (GFLOP/s) of NumPy's BLAS and of PyTorch, medians of repeats."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, n, n), dtype=np.float32)
    out = {"numpy": _rate(lambda: a @ b, 2.0 * n**3, repeats)}
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        out["torch"] = _rate(lambda: ta @ tb, 2.0 * n**3, repeats)
    return out


def _rate(fn, flops, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return flops / statistics.median(times) / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


# Untimed calls of a measurement before each timed one (see the module docstring): longer than
# PyTorch's OpenMP workers spin after a call.
PRIME_S = 0.005


def _primed(fn) -> float:
    """Milliseconds of one call of ``fn``, after at least ``PRIME_S`` of untimed calls of it."""
    start = time.perf_counter()
    fn()
    while time.perf_counter() - start < PRIME_S:
        fn()
    return _timed(fn)


def rnnlab_activation_bytes(layer) -> int:
    """Bytes of the arrays the layer's cache keeps for backward (each buffer counted once)."""
    seen, total = set(), 0
    for a in layer._cache:
        if a is None:  # an inference cache's missing C
            continue
        base = a if a.base is None else a.base
        if id(base) not in seen:
            seen.add(id(base))
            total += base.nbytes
    return total


def torch_activation_bytes(torch, module, x) -> int:
    """Bytes of the tensors autograd saves for backward, found with saved-tensors hooks.

    Every tensor an autograd node saves passes through the pack hook; storages are counted
    once each (by data pointer), and the module's parameters are left out (rnnlab's count
    leaves its weights out too).
    """
    params = {p.untyped_storage().data_ptr() for p in module.parameters()}
    storages: dict[int, int] = {}

    def pack(t):
        s = t.untyped_storage()
        if s.data_ptr() not in params:
            storages[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y, _ = module(x)
    del y
    return sum(storages.values())


def run_case(cell, size, backend, torch, time_budget=TIME_PER_CASE_S) -> CaseResult:
    from rnnlab import no_grad

    T, B, I, H = size
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, B, I), dtype=np.float32)
    dy = rng.standard_normal((T, B, H), dtype=np.float32)
    layer = make_layer(cell, size, backend)
    result = CaseResult(cell, size)

    def ours_forward():
        layer.forward(x)

    def ours_both():
        layer.forward(x)
        layer.backward(dy)

    def ours_infer():
        with no_grad():
            layer.forward(x)

    lengths = padded_lengths(T, B)

    def ours_padded():
        layer.forward(x, lengths=lengths)
        layer.backward(dy)

    cases = {
        "rnnlab_fwd": ours_forward,
        "rnnlab_fwdbwd": ours_both,
        "rnnlab_infer": ours_infer,
    }
    if lengths is not None:
        cases["rnnlab_padded"] = ours_padded
    if torch is not None:
        from rnnlab.interop.torch import to_torch

        module = to_torch(layer)
        tx, tdy = torch.from_numpy(x), torch.from_numpy(dy)
        result.parity = _parity(torch, layer, module, x, dy)

        def torch_forward():
            with torch.no_grad():
                module(tx)

        def torch_both():
            tx_grad = tx.detach().requires_grad_(True)
            y, _ = module(tx_grad)
            y.backward(tdy)

        cases |= {"torch_fwd": torch_forward, "torch_fwdbwd": torch_both}
    for fn in cases.values():  # warm-up: JIT load, oneDNN primitives, page faults
        fn()
        fn()
    # one repetition: each measurement primed (at least PRIME_S or one call), then timed
    estimate = sum(2 * _timed(fn) + PRIME_S * 1e3 for fn in cases.values())
    reps = int(min(60, max(5, time_budget * 1e3 / max(estimate, 1e-3))))
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for order in measurement_orders(list(cases), reps):
        for name in order:
            samples[name].append(_primed(cases[name]))
    result.repetitions = reps
    for name, values in samples.items():
        med = statistics.median(values)
        q = statistics.quantiles(values, n=4)
        result.ms[name] = med
        result.spread[name] = (q[2] - q[0]) / med
    layer.forward(x)
    result.activation_bytes["rnnlab"] = rnnlab_activation_bytes(layer)
    if torch is not None:
        result.activation_bytes["torch"] = torch_activation_bytes(torch, module, tx)
    return result


def measurement_orders(names: list[str], repetitions: int, seed: int = 3) -> list[list[str]]:
    """The order of the measurements in each repetition: a fresh random one every time.

    So that no measurement always comes right after the same other one (a call right after
    PyTorch's backward measured up to 3x slower than the next one). Rotating one order does not
    do this: it keeps every measurement's predecessor, and rnnlab's forward always followed
    PyTorch's backward (the RNN forward at (50,64,32,128) read 1.5x PyTorch's in runs 6 and 7,
    the same call in isolation 0.5x).
    """
    rng = np.random.default_rng(seed)
    return [[names[k] for k in rng.permutation(len(names))] for _ in range(repetitions)]


def _parity(torch, layer, module, x, dy) -> float:
    """Largest relative difference of output and dx; raises if above float32 tolerance."""
    y = layer.forward(x)
    dx = layer.backward(dy)
    layer.zero_grad()
    tx = torch.from_numpy(x).requires_grad_(True)
    ty, _ = module(tx)
    ty.backward(torch.from_numpy(dy))
    worst = 0.0
    for ours, theirs in ((y, ty.detach().numpy()), (dx, tx.grad.numpy())):
        worst = max(worst, float(np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs))))
    if worst > 1e-4:
        raise RuntimeError(f"parity check failed: relative difference {worst:.2e} > 1e-4")
    module.zero_grad()
    return worst


def fill_gemm_fractions(results, peak_gflops: float) -> None:
    for r in results:
        flops = forward_flops(r.cell, r.size)
        for side in ("rnnlab", "torch"):
            ms = r.ms.get(f"{side}_fwd")
            if ms:
                r.gemm_fraction[side] = flops / (ms * 1e-3) / (peak_gflops * 1e9)


_COMPILE_SCRIPT = """
import sys, time
import numpy as np
t0 = time.perf_counter()
from rnnlab.bench import make_layer
cell = sys.argv[1]
layer = make_layer(cell, (3, 2, 3, 4), "numba")
x = np.ones((3, 2, 3), np.float32)
layer.forward(x)
layer.backward(np.ones((3, 2, 4), np.float32))
print(time.perf_counter() - t0)
"""


def compile_times(cells=CELLS) -> dict[str, dict[str, float]]:
    """First-call time (empty Numba cache: compile) and cached-load time per cell, float32.

    Each is a fresh interpreter running forward and backward once, so both include the
    import of rnnlab and Numba (~0.5 s); the cache lives in a temporary NUMBA_CACHE_DIR.
    """
    times = {}
    with tempfile.TemporaryDirectory() as cache_dir:
        env = os.environ | {"NUMBA_CACHE_DIR": cache_dir}
        src = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
        for cell in cells:
            runs = []
            for _ in range(2):
                out = subprocess.run(
                    [sys.executable, "-c", _COMPILE_SCRIPT, cell],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                runs.append(float(out.stdout.strip().splitlines()[-1]))
            times[cell] = {"first_call_s": runs[0], "cached_load_s": runs[1]}
    return times


def run(sizes=SIZES, cells=CELLS, backend="auto", threads=None, use_torch=True, budget=None):
    """Run the whole benchmark; returns a JSON-able dict."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from rnnlab.machine import collect

    torch = None
    if use_torch:
        try:
            import torch
        except ImportError:
            torch = None
    threads = threads or os.cpu_count()
    if torch is not None:
        torch.set_num_threads(threads)
    results = []
    load_before = os.getloadavg()
    with threadpool_limits(limits=threads), contextlib.ExitStack() as limits:
        from rnnlab import kernels

        resolved = kernels.resolve(backend, "cpu")
        if resolved == "numba":
            kernels.numba_kernels("lstm")  # make SciPy's BLAS loaded before the limits apply
            from rnnlab.kernels.cpu.rows import thread_limit

            limits.enter_context(thread_limit(threads))  # the kernels' own second thread too
        peak = gemm_peak_gflops(torch)
        for size in sizes:
            for cell in cells:
                results.append(run_case(cell, size, backend, torch, budget or TIME_PER_CASE_S))
                print(".", end="", file=sys.stderr, flush=True)
        peak_after = gemm_peak_gflops(torch)
        blas = [
            {k: info.get(k) for k in ("internal_api", "architecture", "num_threads", "version")}
            for info in threadpool_info()
        ]
    print(file=sys.stderr)
    best = max(max(peak.values()), max(peak_after.values()))
    fill_gemm_fractions(results, best)
    return {
        "machine": collect(),
        "threads": threads,
        "torch": None if torch is None else torch.__version__,
        "backend": resolved,
        "mkl_packed": _mkl_packed(resolved),
        "gemm_peak_gflops": {"before": peak, "after": peak_after, "used": best},
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "blas": blas,
        "results": [
            asdict(r) | {f"ratio_{w}": r.ratio(w) for w in ("fwd", "fwdbwd", "infer", "padded")}
            for r in results
        ],
    }


def _mkl_packed(backend: str) -> bool:
    """Whether the Numba kernels' per-step products run on MKL's packed copy (rnnlab[mkl])."""
    if backend != "numba":
        return False
    from rnnlab.kernels.cpu import packed

    return packed.available()


def _load(report: dict, when: str) -> str:
    load = report.get("load_average", {}).get(when)
    return "?" if load is None else "/".join(f"{v:.1f}" for v in load)


def format_table(report: dict) -> str:
    """The human-readable table ``rnnlab bench`` prints."""
    lines = [
        f"threads {report['threads']}, backend {report['backend']}"
        f"{' (MKL packed per-step products)' if report.get('mkl_packed') else ''}, "
        f"torch {report['torch']}, "
        f"GEMM peak {report['gemm_peak_gflops']['used']:.0f} GFLOP/s (float32, 1024²), "
        f"load average {_load(report, 'before')} before, {_load(report, 'after')} after",
        "",
        "| cell | (T,B,I,H) | fwd ms rnnlab / torch | ratio | fwd+bwd ms rnnlab / torch | ratio "
        "| no_grad fwd ms rnnlab | ratio | padded fwd+bwd / unpadded "
        "| fwd % GEMM peak rnnlab / torch | act. memory MB rnnlab / torch | noise (IQR/med) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        ms, frac, mem = r["ms"], r["gemm_fraction"], r["activation_bytes"]
        noise = max(r["spread"].values())

        def pair(a, b, fmt):
            return f"{fmt.format(a)} / {fmt.format(b) if b is not None else '-'}"

        torch_frac = 100 * frac["torch"] if "torch" in frac else None
        torch_mem = mem["torch"] / 1e6 if "torch" in mem else None

        def ratio(v):
            return "-" if v is None else f"{v:.2f}"

        lines.append(
            f"| {r['cell']} | {tuple(r['size'])} "
            f"| {pair(ms['rnnlab_fwd'], ms.get('torch_fwd'), '{:.3f}')} | {ratio(r['ratio_fwd'])} "
            f"| {pair(ms['rnnlab_fwdbwd'], ms.get('torch_fwdbwd'), '{:.3f}')} "
            f"| {ratio(r['ratio_fwdbwd'])} "
            f"| {ms['rnnlab_infer']:.3f} | {ratio(r['ratio_infer'])} | {ratio(r['ratio_padded'])} "
            f"| {pair(100 * frac['rnnlab'], torch_frac, '{:.0f}')} "
            f"| {pair(mem['rnnlab'] / 1e6, torch_mem, '{:.2f}')} "
            f"| {noise:.2f} |"
        )
    if "compile" in report:
        lines.append("")
        for cell, t in report["compile"].items():
            lines.append(
                f"{cell}: first call (compile) {t['first_call_s']:.1f} s, "
                f"cached load {t['cached_load_s']:.2f} s (fresh process, forward + backward)"
            )
    return "\n".join(lines)
