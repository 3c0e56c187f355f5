"""The per-step product with its weight matrix packed once per call (Intel MKL, optional).

A recurrent layer multiplies by the same U at every step. A plain GEMM call re-packs U into
its kernel's tile layout each time; MKL's packed API packs it once (``cblas_?gemm_pack``) and
then runs every step on the packed copy (``cblas_?gemm_compute``), the trick oneDNN's LSTM
uses. Measured on the 2-core benchmark machine, per-step shapes of the benchmark's LSTMs,
GFLOP/s of h(t-1) · Uᵀ over all steps: (32,128)·(128,512) 148 packed on one thread against 76
for SciPy's OpenBLAS on two, (64,128)·(128,512) 165 against 104, (64,256)·(256,1024) 122
against 137. The LSTM kernels, forward+backward, interleaved: (50,16,32,64) 2.2 against 2.4
ms, (50,32,8,128) 8.3 against 10.7, (100,32,128,256) 66 against 74, equal from (50,64,32,128)
where OpenBLAS's two threads make up for the packing. The GRU (both forms) gained 7-23 % and
the RNN 8-18 % at the same sizes; every cell's kernels use it.

The kernels pack W as well and project the inputs step by step (:func:`.matmul.project_step`),
P(t) = x(t) · Wᵀ just before the step that reads it, instead of one product over all steps
beforehand: P(t) is then still in cache when the gates read it, where the whole P (T·B·4H,
52 MB at (200,64,64,256)) made a round trip through memory. LSTM forward kernel on one
thread, interleaved: (100,32,128,256) 17.5 against 24.6 ms, (200,64,64,256) 65 against 70.
Both cores (rows.py) also use MKL's general product (:func:`mkl_gemm`, ``cblas_?gemm``) for
the backward's weight gradients.

MKL is optional (``pip install 'rnnlab[mkl]'``). The kernels call its functions by the names
``rnnlab_sgemm_compute`` / ``rnnlab_dgemm_compute`` / ``rnnlab_sgemm`` / ``rnnlab_dgemm``,
which this module registers with
LLVM's symbol table at import: MKL's functions where its library is found, else a stub that is
never called (the kernels take the packed path only when :func:`available`). Binding by name,
not by address, keeps Numba's on-disk cache valid across processes.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import glob
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from llvmlite import binding as llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .workspace import POOL

__all__ = [
    "UNPACKED",
    "available",
    "mkl_gemm",
    "mkl_threads",
    "pack",
    "packed_product",
    "step_packing",
    "will_pack",
]  # fmt: skip

ROW_MAJOR, NO_TRANS, TRANS, PACKED, B_MATRIX = 101, 111, 112, 151, 162
_SYMBOLS = {
    np.dtype(np.float32): "rnnlab_sgemm_compute",
    np.dtype(np.float64): "rnnlab_dgemm_compute",
}
_GEMM_SYMBOLS = {np.dtype(np.float32): "rnnlab_sgemm", np.dtype(np.float64): "rnnlab_dgemm"}


def _library_paths() -> list[str]:
    """Where the ``mkl`` wheel puts its runtime library (the environment's lib/), then the
    loader's search path."""
    found = []
    for prefix in dict.fromkeys([sys.prefix, sys.base_prefix]):
        found += sorted(glob.glob(str(Path(prefix) / "lib" / "libmkl_rt.so*")))
    return [*found, "libmkl_rt.so.3", "libmkl_rt.so.2", "libmkl_rt.so"]


@functools.cache
def _mkl() -> ctypes.CDLL | None:
    if os.environ.get("RNNLAB_MKL", "").strip() == "0":  # to compare, or to rule MKL out
        return None
    for path in _library_paths():
        try:
            return _declare(ctypes.CDLL(path))
        except (OSError, AttributeError):  # not there, or an MKL without the packed API
            continue
    return None


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    """``lib`` with the argument types of the functions used here (AttributeError if one is
    missing)."""
    lib.cblas_sgemm_compute, lib.cblas_dgemm_compute  # noqa: B018 - both must exist
    for name in ("cblas_sgemm_pack_get_size", "cblas_dgemm_pack_get_size"):
        getattr(lib, name).restype = ctypes.c_size_t
        getattr(lib, name).argtypes = [ctypes.c_int] * 4
    for name, real in (("cblas_sgemm_pack", ctypes.c_float), ("cblas_dgemm_pack", ctypes.c_double)):
        getattr(lib, name).restype = None
        pointers = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
        getattr(lib, name).argtypes = [ctypes.c_int] * 6 + [real, *pointers]
    lib.MKL_Set_Num_Threads_Local.restype = ctypes.c_int
    lib.MKL_Set_Num_Threads_Local.argtypes = [ctypes.c_int]
    return lib


def _never_called(*args) -> None:  # pragma: no cover - the kernels check available() first
    raise AssertionError("the packed product ran without MKL")


# Where MKL is missing the symbols name a stub: the kernels test available() before they call
# them, so it is never called, and its signature does not matter. Kept alive here: LLVM holds
# only its address.
_STUB = ctypes.CFUNCTYPE(None)(_never_called)


def _register() -> None:
    lib = _mkl()
    for symbol in [*_SYMBOLS.values(), *_GEMM_SYMBOLS.values()]:
        # rnnlab_sgemm_compute -> MKL's cblas_sgemm_compute, and so on
        function = _STUB if lib is None else getattr(lib, symbol.replace("rnnlab", "cblas"))
        address = ctypes.cast(function, ctypes.c_void_p).value
        llvm.add_symbol(symbol, address)


_register()  # before any kernel that calls the symbols is compiled or loaded from the cache


def available() -> bool:
    """Whether MKL's packed GEMM was found (``RNNLAB_MKL=0`` rules it out)."""
    return _mkl() is not None


def pack(M: np.ndarray, rows: int, transpose: bool, slot: int = 0) -> np.ndarray:
    """M (transposed when ``transpose``) packed as the right operand of products with ``rows``
    rows: bytes only :func:`packed_product` reads. M (N, K) row-major; the product is
    out (rows, N) = A (rows, K) · Mᵀ when ``transpose``, else out (rows, K') = A · M."""
    lib = _mkl()
    assert lib is not None, "pack() needs MKL: check available() first"
    M = np.ascontiguousarray(M)
    single = M.dtype == np.float32
    n, k = (M.shape[0], M.shape[1]) if transpose else (M.shape[1], M.shape[0])
    size_of = lib.cblas_sgemm_pack_get_size if single else lib.cblas_dgemm_pack_get_size
    # MKL pads the packed copy to its blocking: ~8 MB even for a small U. From the pool, so that
    # its pages are not faulted in again at every call.
    # One pool key per weight block (``slot``): a split forward holds four packed copies at once
    # (U and W for each thread), which one key's three pooled buffers could not all be.
    name = f"packed.{slot}.transposed" if transpose else f"packed.{slot}"
    packed = POOL.take(name, (size_of(B_MATRIX, rows, n, k),), np.uint8)
    pack_into = lib.cblas_sgemm_pack if single else lib.cblas_dgemm_pack
    pack_into(
        ROW_MAJOR, B_MATRIX, TRANS if transpose else NO_TRANS, rows, n, k, 1.0,
        M.ctypes.data, M.shape[1], packed.ctypes.data,
    )  # fmt: skip
    return packed


_EMPTY = np.empty(0, np.uint8)  # "not packed": the kernels test packed.size
# The ``packed`` argument of a kernel call that packs none of its 1, 2 or 3 weight blocks
UNPACKED = {count: (_EMPTY,) * count for count in (1, 2, 3)}
# MKL's own threads are Intel OpenMP workers that spin between calls; in one process with
# SciPy's OpenBLAS (the kernels' other products) they held the second core and slowed
# OpenBLAS's two-thread products 1.5-2.5x: with two MKL threads the LSTM at (100,32,128,256)
# lost (112 against 69 ms forward+backward), with one it gained (66 against 74). So one.
MKL_THREADS = 1
# Smaller products stay with OpenBLAS: packing gains little there, and MKL's packed copy takes
# ~8 MB whatever the size of U.
PACK_MIN_BATCH = 8
PACK_MIN_HIDDEN = 64


def will_pack(batch_size: int, hidden_size: int, step_blas: bool) -> bool:
    """Whether :func:`step_packing` packs for products of ``batch_size`` rows with a state of
    ``hidden_size`` under a ``use_blas`` plan whose per-step flag is ``step_blas``."""
    small = batch_size < PACK_MIN_BATCH or hidden_size < PACK_MIN_HIDDEN
    return step_blas and not small and available()  # the small sizes stop at the first tests


def step_packing(
    blocks: tuple[np.ndarray, ...], batch_size: int, blas: tuple[bool, bool], transpose: bool
) -> tuple[tuple[np.ndarray, ...], int]:
    """(packed copies, MKL threads) of the weight blocks of a kernel's per-step products (U;
    the GRU's U_zr and U_h in its guide form), or empty arrays and 0 where the products stay
    with BLAS or the loop: no MKL, or a size where the plan (``use_blas``) keeps the loop.

    Forward: h(t-1) · Uᵀ (``transpose``); backward: δ(t) · U. The kernel call runs inside
    :func:`mkl_threads` with the count returned (``MKL_THREADS``).
    """
    if not will_pack(batch_size, blocks[0].shape[1], blas[0]):
        return UNPACKED[len(blocks)], 0
    with mkl_threads(MKL_THREADS):  # packing runs on MKL's threads too
        packs = tuple(pack(block, batch_size, transpose, k) for k, block in enumerate(blocks))
        return packs, MKL_THREADS


def mkl_threads(count: int) -> contextlib.AbstractContextManager:
    """MKL's thread count for this thread inside the block (``MKL_Set_Num_Threads_Local``);
    nothing at all for ``count`` 0 (no packing: the small sizes, where a generator context
    alone would cost ~1.5 µs a call)."""
    lib = _mkl()
    return _NOTHING if lib is None or count == 0 else _local_threads(lib, count)


_NOTHING = contextlib.nullcontext()


@contextlib.contextmanager
def _local_threads(lib: ctypes.CDLL, count: int) -> Iterator[None]:
    previous = lib.MKL_Set_Num_Threads_Local(count)
    try:
        yield
    finally:
        lib.MKL_Set_Num_Threads_Local(previous)  # 0: back to the global setting


@intrinsic
def packed_product(typingctx, A, packed, out):
    """out (m, n) = A (m, k) · (the packed matrix), inside compiled kernels. A and out are
    C-contiguous rows; k = A's columns, n = out's columns; beta 0."""
    if not (isinstance(A, types.Array) and isinstance(out, types.Array)):
        return None
    dtype = np.dtype(A.dtype.name)
    if dtype not in _SYMBOLS or out.dtype != A.dtype:
        return None
    sig = types.void(A, packed, out)

    def codegen(context, builder, signature, args):
        a_arr = context.make_array(signature.args[0])(context, builder, args[0])
        p_arr = context.make_array(signature.args[1])(context, builder, args[1])
        o_arr = context.make_array(signature.args[2])(context, builder, args[2])
        real = ir.FloatType() if dtype == np.float32 else ir.DoubleType()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(
            ir.VoidType(),
            [i32, i32, i32, i32, i32, i32, real.as_pointer(), i32, ir.IntType(8).as_pointer(),
             i32, real, real.as_pointer(), i32],
        )  # fmt: skip
        fn = cgutils.get_or_insert_function(builder.module, fnty, _SYMBOLS[dtype])
        a_shape = cgutils.unpack_tuple(builder, a_arr.shape, 2)
        o_shape = cgutils.unpack_tuple(builder, o_arr.shape, 2)
        m, k = (builder.trunc(v, i32) for v in a_shape)
        n = builder.trunc(o_shape[1], i32)
        const = lambda v: ir.Constant(i32, v)  # noqa: E731
        builder.call(
            fn,
            [const(ROW_MAJOR), const(NO_TRANS), const(PACKED), m, n, k,
             builder.bitcast(a_arr.data, real.as_pointer()), k,
             builder.bitcast(p_arr.data, ir.IntType(8).as_pointer()), n,
             ir.Constant(real, 0.0), builder.bitcast(o_arr.data, real.as_pointer()), n],
        )  # fmt: skip
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def mkl_gemm(typingctx, A, B, C, trans_a, trans_b, beta):
    """C (m, n) = op(A) · op(B) + beta · C through MKL's ``cblas_?gemm``, inside compiled
    kernels; op transposes where ``trans_a`` / ``trans_b``. A, B and C are 2-D arrays with
    contiguous rows (each row's elements adjacent; rows may be further apart: a column block of
    a C-contiguous array), as stored: for a transposed operand pass the array itself."""
    arrays = (A, B, C)
    if not all(isinstance(a, types.Array) and a.ndim == 2 for a in arrays):
        return None
    dtype = np.dtype(A.dtype.name)
    if dtype not in _GEMM_SYMBOLS or B.dtype != A.dtype or C.dtype != A.dtype:
        return None
    sig = types.void(A, B, C, types.boolean, types.boolean, A.dtype)

    def codegen(context, builder, signature, args):
        real = ir.FloatType() if dtype == np.float32 else ir.DoubleType()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(
            ir.VoidType(),
            [i32, i32, i32, i32, i32, i32, real, real.as_pointer(), i32, real.as_pointer(), i32,
             real, real.as_pointer(), i32],
        )  # fmt: skip
        fn = cgutils.get_or_insert_function(builder.module, fnty, _GEMM_SYMBOLS[dtype])
        a, b, c = (
            context.make_array(ty)(context, builder, value)
            for ty, value in zip(signature.args[:3], args[:3], strict=True)
        )
        itemsize = ir.Constant(ir.IntType(64), dtype.itemsize)

        def rows_and_stride(arr):  # (rows, columns, leading dimension in elements)
            rows, cols = (
                builder.trunc(v, i32) for v in cgutils.unpack_tuple(builder, arr.shape, 2)
            )
            stride = cgutils.unpack_tuple(builder, arr.strides, 2)[0]
            return rows, cols, builder.trunc(builder.udiv(stride, itemsize), i32)

        a_rows, a_cols, lda = rows_and_stride(a)
        _, _, ldb = rows_and_stride(b)
        c_rows, c_cols, ldc = rows_and_stride(c)
        k = builder.select(args[3], a_rows, a_cols)
        op = lambda flag: builder.select(flag, ir.Constant(i32, TRANS), ir.Constant(i32, NO_TRANS))  # noqa: E731
        pointer = lambda arr: builder.bitcast(arr.data, real.as_pointer())  # noqa: E731
        builder.call(
            fn,
            [ir.Constant(i32, ROW_MAJOR), op(args[3]), op(args[4]), c_rows, c_cols, k,
             ir.Constant(real, 1.0), pointer(a), lda, pointer(b), ldb, args[5], pointer(c), ldc],
        )  # fmt: skip
        return context.get_dummy_value()

    return sig, codegen
