"""``rnnlab info``: versions, the BLAS in use, whether the GPU path is available and why not."""

from __future__ import annotations

import argparse
import os
import platform
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._common import Subparsers


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser("info", help="versions, BLAS in use, GPU availability")
    p.set_defaults(run=run)


def collect() -> dict:
    """Everything ``rnnlab info`` prints, as a dict (also used by benchmarks and reports)."""
    import numpy as np

    import rnnlab
    from rnnlab.backend import cupy_status

    facts = {
        "rnnlab": rnnlab.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
    }
    try:
        import numba

        facts["numba"] = numba.__version__
    except ImportError:
        facts["numba"] = "not installed"
    facts["blas"] = _blas_description()
    cupy, reason = cupy_status()
    facts["gpu"] = "available" if cupy is not None else f"unavailable: {reason}"
    facts["gpu_kernels"] = _gpu_kernels()
    return facts


def _gpu_kernels() -> str:
    """Which kernels a layer on "cuda" would run (docs/gpu.md)."""
    from rnnlab.kernels.gpu import numba_cuda_status

    usable, reason = numba_cuda_status()
    return "numba-cuda" if usable else f"reference cells on CuPy ({reason})"


def _blas_description() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        import numpy as np

        config = np.show_config(mode="dicts")
        blas = config.get("Build Dependencies", {}).get("blas", {})
        return f"{blas.get('name', 'unknown')} {blas.get('version', '')}".strip()
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    if not pools:
        return "unknown"
    return "; ".join(
        f"{p.get('internal_api')} {p.get('version')} ({p.get('num_threads')} threads, "
        f"{p.get('architecture')})"
        for p in pools
    )


def run(args: argparse.Namespace) -> int:
    """Print one fact per line."""
    for key, value in collect().items():
        print(f"{key:>10}: {value}")
    return 0
