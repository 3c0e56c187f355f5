"""The GPU kernels against the reference cells, run in Numba's CUDA simulator (no GPU needed).

The simulator must be selected before ``numba.cuda`` is first imported, and this process keeps
the real numba.cuda (and other helpers' CPU kernels) untouched, so the kernels run in one
subprocess (``gpu_sim_runner.py``, ``NUMBA_ENABLE_CUDASIM=1``) on inputs written here; every
comparison with the reference happens here. Shapes are tiny: the simulator runs each CUDA
thread as a Python thread. A second subprocess compiles every kernel to PTX with the real
numba.cuda (what the simulator never does) when the CUDA compiler libraries are present.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rnnlab
from rnnlab import cells
from rnnlab.cells.gru import GRUCache
from rnnlab.cells.lstm import LSTMCache
from rnnlab.cells.rnn import RNNCache

# Tolerances against the reference. The arithmetic is the reference's, operation for operation,
# except exp/tanh (libm in the simulator, NumPy's own loops in the reference) and, in float32,
# the simulator's intermediate results in double precision; the persistent kernel also sums its
# dot products in another order. Measured worst cases: 7e-16 (float64), 1e-6 (float32).
RTOL = {"float64": 1e-12, "float32": 2e-5}
ATOL = {"float64": 1e-13, "float32": 5e-6}
SIM_MAX_THREADS = 32  # one warp per block in the simulator, so 51 elements take two blocks

# (T, B, I, H): the usual small case, T = B = I = H = 1, and one spanning two blocks.
SHAPES = {"small": (3, 2, 3, 5), "unit": (1, 1, 1, 1), "blocks": (2, 3, 2, 17)}
CELLS = ("rnn", "lstm", "gru_before", "gru_after")
GATES = {"rnn": 1, "lstm": 4, "gru_before": 3, "gru_after": 3}
CASES = [
    f"{cell}-{dtype}-{shape}"
    for cell in CELLS
    for dtype in ("float64", "float32")
    for shape in SHAPES
    if dtype == "float64" or shape == "small"
]
RUNNER = Path(__file__).with_name("gpu_sim_runner.py")


def _case_inputs(name, rng):
    cell, dtype, shape = name.split("-")
    T, B, I, H = SHAPES[shape]
    G = GATES[cell]

    def draw(*s, scale=1.0):
        return (scale * rng.standard_normal(s)).astype(dtype)

    arrays = {
        "x": draw(T, B, I),
        "h0": draw(B, H, scale=0.5),
        "W": draw(G * H, I, scale=0.7),
        "U": draw(G * H, H, scale=0.7),
        "b": draw(G * H, scale=0.3),
        "dh": draw(T, B, H),
        "dh_final": draw(B, H),
    }
    if cell == "lstm":
        arrays |= {"C0": draw(B, H), "dC_final": draw(B, H)}
    if cell == "gru_after":
        arrays["b_hn"] = draw(H, scale=0.3)
    return arrays


def _env():
    src = str(Path(rnnlab.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    return env


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    """(inputs, outputs) of one simulator run over every case."""
    rng = np.random.default_rng(20240607)
    inputs = {name: _case_inputs(name, rng) for name in CASES}
    folder = tmp_path_factory.mktemp("gpu_sim")
    flat = {f"{n}/{k}": v for n, case in inputs.items() for k, v in case.items()}
    np.savez(folder / "inputs.npz", **flat)
    env = _env() | {"NUMBA_ENABLE_CUDASIM": "1"}
    cmd = [sys.executable, str(RUNNER), str(folder / "inputs.npz"), str(folder / "out.npz")]
    proc = subprocess.run(
        [*cmd, str(SIM_MAX_THREADS)], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    with np.load(folder / "out.npz", allow_pickle=False) as data:
        outputs = {k: data[k] for k in data.files}
    return inputs, outputs


def _reference(cell, a):
    """Reference forward cache and flattened backward outputs."""
    if cell == "rnn":
        _, cache = cells.rnn_forward(a["x"], a["h0"], a["W"], a["U"], a["b"])
        back = cells.rnn_backward(a["dh"], a["dh_final"], cache, a["W"], a["U"])
    elif cell == "lstm":
        _, cache = cells.lstm_forward(a["x"], a["h0"], a["C0"], a["W"], a["U"], a["b"])
        back = cells.lstm_backward(a["dh"], a["dh_final"], a["dC_final"], cache, a["W"], a["U"])
    else:
        _, cache = cells.gru_forward(a["x"], a["h0"], a["W"], a["U"], a["b"], a.get("b_hn"))
        back = _gru_backward(cache, a)
    return cache, _flatten(back)


def _gru_backward(cache, a):
    return cells.gru_backward(a["dh"], a["dh_final"], cache, a["W"], a["U"], "b_hn" in a)


def _flatten(result):
    flat = []
    for item in result:
        flat.extend(item if isinstance(item, tuple) else (item,))
    return flat


def _close(actual, expected, dtype, what):
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    np.testing.assert_allclose(actual, expected, rtol=RTOL[dtype], atol=ATOL[dtype], err_msg=what)


def _outputs(outputs, name, part):
    prefix = f"{name}/{part}/"
    return {k[len(prefix) :]: v for k, v in outputs.items() if k.startswith(prefix)}


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("part", ["fwd", "pfwd"])
def test_forward_cache_equals_reference(sim, name, part):
    inputs, outputs = sim
    cell, dtype, _ = name.split("-")
    ref_cache, _ = _reference(cell, inputs[name])
    got = _outputs(outputs, name, part)
    assert set(got) == set(ref_cache._fields)
    for field, expected in ref_cache._asdict().items():
        _close(got[field], expected, dtype, f"{name} {part} {field}")


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("part", ["bwd", "bwd_ref_cache"])
def test_backward_equals_reference(sim, name, part):
    """GPU backward on its own cache and on the reference's: dx, initial states, every dW."""
    inputs, outputs = sim
    cell, dtype, _ = name.split("-")
    _, ref_back = _reference(cell, inputs[name])
    got = _outputs(outputs, name, part)
    assert len(got) == len(ref_back)
    for k, expected in enumerate(ref_back):
        _close(got[str(k)], expected, dtype, f"{name} {part} output {k}")


@pytest.mark.parametrize("name", [n for n in CASES if n.endswith("small")])
def test_reference_backward_accepts_gpu_cache(sim, name):
    """The other pairing: the GPU forward's cache feeds the reference backward."""
    inputs, outputs = sim
    cell, dtype, _ = name.split("-")
    a = inputs[name]
    cache_type = {"rnn": RNNCache, "lstm": LSTMCache}.get(cell, GRUCache)
    cache = cache_type(**_outputs(outputs, name, "fwd"))
    _, ref_back = _reference(cell, a)
    if cell == "rnn":
        back = cells.rnn_backward(a["dh"], a["dh_final"], cache, a["W"], a["U"])
    elif cell == "lstm":
        back = cells.lstm_backward(a["dh"], a["dh_final"], a["dC_final"], cache, a["W"], a["U"])
    else:
        back = _gru_backward(cache, a)
    for k, (got, expected) in enumerate(zip(_flatten(back), ref_back, strict=True)):
        _close(got, expected, dtype, f"{name} reference backward output {k}")


def test_kernels_compile_to_ptx_and_float32_stays_single_precision(tmp_path):
    """Every kernel compiles for sm_80 with the real numba.cuda (types, codegen), and the float32
    kernels contain no double-precision instruction (a float64 literal would promote them).
    float32 only, to keep the suite short: the float64 kernels are the same code."""
    script = (
        "import json, sys\n"
        "from rnnlab.kernels.gpu import ptx\n"
        "ok, why = ptx.toolchain_status()\n"
        "out = {'ok': ok, 'why': why}\n"
        "if ok:\n"
        "    out['f64_in_f32'] = [k for k, v in ptx.compile_all(dtypes=('float32',)).items()\n"
        "                        if k.endswith('float32') and '.f64' in v]\n"
        "    out['count'] = len(ptx.KERNEL_SIGNATURES)\n"
        "print(json.dumps(out))\n"
    )
    env = _env()
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if not result["ok"]:
        pytest.skip(f"cannot compile CUDA kernels here: {result['why']}")
    assert result["count"] == 13
    assert result["f64_in_f32"] == []
