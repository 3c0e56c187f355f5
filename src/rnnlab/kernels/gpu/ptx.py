"""Compile every GPU kernel to PTX without a GPU: the check the simulator cannot make.

The CUDA simulator runs kernel bodies as Python, so it never types or compiles them; a kernel
that Numba cannot compile would pass in the simulator and fail on the first real launch. This
module asks Numba's CUDA compiler (NVVM, plus NVRTC for the list of architectures) for PTX of
each kernel, in float32 and float64, for one compute capability. It needs those two libraries
(the CUDA toolkit's libnvvm and the ``nvidia-cuda-nvrtc`` wheel), not a device.

Must run with the real numba.cuda (``NUMBA_ENABLE_CUDASIM`` unset).
"""

from __future__ import annotations

from numba import types

__all__ = ["KERNEL_SIGNATURES", "compile_all", "toolchain_status"]

# Argument ranks of each kernel: an int is a C-contiguous array of that rank, "t" the step index
# (a Python int, int64), "flag" a bool. Keyed by (module, factory, position in its tuple).
KERNEL_SIGNATURES = {
    ("rnn", "_kernels", 0): (3, 2, 3, "t"),
    ("rnn", "_kernels", 1): (3, 2, 3, 3, "t"),
    ("lstm", "_kernels", 0): (3, 2, 2, 3, 3, 3, 3, "t"),
    ("lstm", "_kernels", 1): (3, 2, 2, 3, 3, 2, 3, 3, "t"),
    ("gru", "forward_kernels", 0): (3, 2, 2, 3, 3, 3, "t"),
    ("gru", "forward_kernels", 1): (3, 2, 2, 3, 3, "t"),
    ("gru", "forward_kernels", 2): (3, 2, 1, 2, 3, 3, 3, "t"),
    ("gru", "backward_kernels", 0): (3, 2, 2, 3, 3, 3, 2, "t"),
    ("gru", "backward_kernels", 1): (2, 2, 3, 3, 3, 2, "t"),
    ("gru", "backward_kernels", 2): (3, 2, 2, 3, 3, 3, 3, 3, 2, "t"),
    ("persistent", "_kernels", 0): (3, 2, 2, 3),
    ("persistent", "_kernels", 1): (3, 2, 2, 2, 3, 3, 3, 3),
    ("persistent", "_kernels", 2): (3, 2, 1, 2, 3, 3, 3, "flag"),
}


def toolchain_status() -> tuple[bool, str]:
    """(True, "ok") when NVVM and NVRTC load, else (False, what is missing)."""
    from numba import cuda
    from numba.core import config

    if config.ENABLE_CUDASIM:
        return False, "numba.cuda is the simulator (NUMBA_ENABLE_CUDASIM=1); PTX needs the real one"

    def probe(a):
        a[0] = 1.0

    try:
        cuda.compile_ptx(probe, (types.float32[::1],), cc=(8, 0))
    except Exception as exc:  # missing libnvvm/libnvrtc surface as several error types
        return False, f"the CUDA compiler libraries are not loadable ({type(exc).__name__}: {exc})"
    return True, "ok"


def _signature(ranks, dtype_name):
    scalar = getattr(types, dtype_name)
    args = []
    for rank in ranks:
        if rank == "t":
            args.append(types.int64)
        elif rank == "flag":
            args.append(types.boolean)
        else:
            args.append(types.Array(scalar, rank, "C"))
    return tuple(args)


def compile_all(cc=(8, 0), dtypes=("float32", "float64")) -> dict:
    """PTX of every kernel, keyed ``"module.factory[i]/dtype"``; raises on the first failure."""
    import importlib
    from types import SimpleNamespace
    from unittest import mock

    from numba import cuda
    from numba.cuda import dispatcher

    # Device functions (sigmoid, dot, ...) compile for "the current device", which does not
    # exist here; name the target instead. Fresh kernels (the factories' __wrapped__) keep
    # these compilations out of the caches a real launch would use.
    fake_device = SimpleNamespace(compute_capability=tuple(cc))
    out = {}
    with mock.patch.object(dispatcher, "get_current_device", return_value=fake_device):
        for (module_name, factory_name, index), ranks in KERNEL_SIGNATURES.items():
            module = importlib.import_module(f"{__package__}.{module_name}")
            factory = getattr(module, factory_name).__wrapped__
            for dtype_name in dtypes:
                kernel = factory(dtype_name)[index]
                signature = _signature(ranks, dtype_name)
                ptx, _ = cuda.compile_ptx(kernel.py_func, signature, cc=cc)
                out[f"{module_name}.{factory_name}[{index}]/{dtype_name}"] = ptx
    return out
