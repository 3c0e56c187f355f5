"""Runs rnnlab's GPU kernels in Numba's CUDA simulator on inputs written by a test.

Not a test module: ``tests/test_gpu_kernels_sim.py`` starts it in a subprocess with
``NUMBA_ENABLE_CUDASIM=1``, because the simulator must be chosen before ``numba.cuda`` is first
imported and the test process must keep the real numba.cuda (and the CPU kernels) untouched.

Usage: ``python gpu_sim_runner.py INPUTS.npz OUTPUTS.npz MAX_THREADS``. For every case
``name`` in the inputs (arrays ``name/x``, ``name/h0``, ...) it writes

- ``name/fwd/<field>``: the cache of the per-step GPU forward,
- ``name/pfwd/<field>``: the cache of the persistent forward,
- ``name/bwd/<k>``: the GPU backward's outputs (flattened) on the GPU forward's cache,
- ``name/bwd_ref_cache/<k>``: the GPU backward on the reference forward's cache.
"""

from __future__ import annotations

import os
import sys

import numpy as np


def run_case(cell, arrays, gpu, persistent, cells):
    a = arrays
    if cell == "rnn":
        params = (a["W"], a["U"], a["b"])
        forward = lambda f: f(a["x"], a["h0"], *params)  # noqa: E731
        backward = lambda cache: gpu.rnn.rnn_backward(  # noqa: E731
            a["dh"], a["dh_final"], cache, a["W"], a["U"]
        )
        fwd, pfwd, ref = gpu.rnn.rnn_forward, persistent.rnn_forward, cells.rnn_forward
    elif cell == "lstm":
        params = (a["W"], a["U"], a["b"])
        forward = lambda f: f(a["x"], a["h0"], a["C0"], *params)  # noqa: E731
        backward = lambda cache: gpu.lstm.lstm_backward(  # noqa: E731
            a["dh"], a["dh_final"], a["dC_final"], cache, a["W"], a["U"]
        )
        fwd, pfwd, ref = gpu.lstm.lstm_forward, persistent.lstm_forward, cells.lstm_forward
    else:
        b_hn = a.get("b_hn")
        params = (a["W"], a["U"], a["b"], b_hn)
        forward = lambda f: f(a["x"], a["h0"], *params)  # noqa: E731
        backward = lambda cache: gpu.gru.gru_backward(  # noqa: E731
            a["dh"], a["dh_final"], cache, a["W"], a["U"], b_hn is not None
        )
        fwd, pfwd, ref = gpu.gru.gru_forward, persistent.gru_forward, cells.gru_forward
    out = {}
    _, cache = forward(fwd)
    out.update({f"fwd/{k}": v for k, v in cache._asdict().items()})
    _, pcache = forward(pfwd)
    out.update({f"pfwd/{k}": v for k, v in pcache._asdict().items()})
    out.update({f"bwd/{k}": v for k, v in enumerate(_flatten(backward(cache)))})
    _, ref_cache = forward(ref)
    out.update({f"bwd_ref_cache/{k}": v for k, v in enumerate(_flatten(backward(ref_cache)))})
    return out


def _flatten(result):
    flat = []
    for item in result:
        flat.extend(item if isinstance(item, tuple) else (item,))
    return flat


def main(argv):
    inputs_path, outputs_path, max_threads = argv[1], argv[2], int(argv[3])
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        raise SystemExit("gpu_sim_runner: NUMBA_ENABLE_CUDASIM=1 must be set")
    from rnnlab import cells
    from rnnlab.kernels import gpu
    from rnnlab.kernels.gpu import _launch, persistent
    from rnnlab.kernels.gpu import gru as _gru  # noqa: F401  (loads gpu.gru)
    from rnnlab.kernels.gpu import lstm as _lstm  # noqa: F401
    from rnnlab.kernels.gpu import rnn as _rnn  # noqa: F401

    if not _launch.is_simulator():
        raise SystemExit("gpu_sim_runner: numba.cuda is not the simulator")
    _launch.MAX_THREADS_PER_BLOCK = max_threads  # small shapes still span several blocks
    with np.load(inputs_path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    names = sorted({k.split("/")[0] for k in arrays})
    results = {}
    for name in names:
        case = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith(name + "/")}
        cell = name.split("-")[0]
        for key, value in run_case(cell, case, gpu, persistent, cells).items():
            results[f"{name}/{key}"] = value
    tmp = outputs_path + ".tmp.npz"
    np.savez(tmp, **results)
    os.replace(tmp, outputs_path)


if __name__ == "__main__":
    main(sys.argv)
