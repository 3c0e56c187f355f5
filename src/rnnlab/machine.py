"""Facts about this machine and this install: versions, the BLAS in use, the GPU path.

``rnnlab info`` prints them; benchmarks and the compare report record them. They live here, below
the CLI, so that library code never imports from :mod:`rnnlab.cli`.
"""

from __future__ import annotations

import os
import platform


def collect() -> dict[str, object]:
    """Versions, CPU count, BLAS and GPU availability, as a dict of printable values."""
    import numpy as np

    from ._version import __version__
    from .backend import cupy_status

    facts: dict[str, object] = {
        "rnnlab": __version__,
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
    facts["mkl_packed"] = _packed_description()
    facts["kernel_threads"] = _kernel_threads_description()
    cupy, reason = cupy_status()
    facts["gpu"] = "available" if cupy is not None else f"unavailable: {reason}"
    facts["gpu_kernels"] = _gpu_kernels()
    return facts


def _packed_description() -> str:
    """Whether the CPU kernels run every step's product on MKL's packed copy (docs/speed.md)."""
    from .kernels import numba_status

    if not numba_status()[0]:
        return "no: the Numba kernels are not available"
    from .kernels.cpu import packed

    if packed.available():
        return "yes (Intel MKL)"
    return "no: pip install 'rnnlab[mkl]' (x86-64), or RNNLAB_MKL=0 is set"


def _kernel_threads_description() -> str:
    """How many threads one CPU kernel call may use (kernels/cpu/rows.py, docs/speed.md)."""
    from .kernels import numba_status

    if not numba_status()[0]:
        return "1: the Numba kernels are not available"
    from .kernels.cpu import packed, rows

    if rows.WORKERS < 2:
        return "1: one core, or NUMBA_NUM_THREADS=1"
    if not packed.available():
        return "1: splitting a batch between the cores needs MKL (pip install 'rnnlab[mkl]')"
    return "2 (large batches split between the cores)"


def _gpu_kernels() -> str:
    """Which kernels a layer on "cuda" would run (docs/gpu.md)."""
    from .kernels.gpu import numba_cuda_status

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
