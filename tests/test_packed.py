"""MKL's packed per-step product (kernels/cpu/packed.py): parity with the reference for every
cell (both GRU forms), the OpenBLAS path it replaces, and the fallback where MKL is missing
or ruled out."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys

import numba
import numpy as np
import pytest

from rnnlab.kernels.cpu import packed, rows
from tests.test_kernels_cpu import FAST, check_parity


def _mkl_installed() -> bool:
    try:
        importlib.metadata.distribution("mkl")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def test_found_exactly_where_installed():
    # the test extra installs mkl, so CI runs the packed path; without it the kernels fall back
    assert packed.available() == _mkl_installed()


@numba.njit(cache=False)
def _product(A, packed_matrix, out):
    packed.packed_product(A, packed_matrix, out)


@pytest.mark.skipif(not packed.available(), reason="needs MKL (in the test extra)")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("rows", "n", "k"), [(1, 8, 32), (5, 7, 13), (32, 512, 128)])
def test_packed_product_equals_numpy_both_orientations(dtype, rows, n, k):
    rng = np.random.default_rng(0)
    M = rng.standard_normal((n, k)).astype(dtype)
    A = rng.standard_normal((rows, k)).astype(dtype)
    out = np.full((rows, n), np.nan, dtype)  # beta = 0: nothing of the old contents survives
    _product(A, packed.pack(M, rows, transpose=True), out)
    assert_product_within_rounding(out, A, M.T)
    A2 = rng.standard_normal((rows, n)).astype(dtype)
    out2 = np.full((rows, k), np.nan, dtype)
    _product(A2, packed.pack(M, rows, transpose=False), out2)
    assert_product_within_rounding(out2, A2, M)


def assert_product_within_rounding(out, A, B):
    """out equals A · B up to the rounding of its own dtype, whatever the order of summation.

    Each entry is a sum of k products, which MKL adds in an order of its own (it differs
    between CPUs: AVX2 against AVX-512 code). The forward error of such a sum is at most
    gamma_k · (|A| · |B|) entrywise, gamma_k = k·u / (1 - k·u) with u the unit roundoff (Higham,
    *Accuracy and Stability of Numerical Algorithms*, §3.1), and NumPy's result, the reference,
    has the same bound: so the two differ by at most 2 gamma_k (|A| · |B|). A fixed relative
    tolerance does not hold where terms cancel: on the AMD machine an entry of -0.2975, a sum of
    512 float32 products whose magnitudes add up to hundreds, came out 1.7e-5 from NumPy's.
    A wrong product (a transposed operand, a wrong leading dimension) misses this by orders of
    magnitude.
    """
    k = A.shape[1]
    u = np.finfo(out.dtype).eps / 2
    gamma = k * u / (1 - k * u)
    bound = 2 * gamma * (np.abs(A) @ np.abs(B))
    error = np.abs(out - A @ B)
    assert np.isfinite(out).all()
    worst = np.unravel_index(np.argmax(error - bound), error.shape)
    assert (error <= bound).all(), (
        f"entry {worst}: |out - A·B| = {error[worst]:.3g} > bound {bound[worst]:.3g}"
    )


@pytest.mark.parametrize("variant", ["rnn", "lstm", "gru", "gru_reset_after"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("use_mkl", [True, False])
@pytest.mark.parametrize("lengths", [None, np.array([6, 1, 3, 6, 2, 5, 6, 4])])
def test_parity_with_and_without_packing(variant, dtype, use_mkl, lengths, monkeypatch):
    """The per-step products through BLAS (both products), packed by MKL or through OpenBLAS:
    forward, cache and every gradient equal to the reference's."""
    module = FAST[variant]
    monkeypatch.setattr(module, "use_blas", lambda *args: (True, True))
    packings = []

    def spy(blocks, *args, **kwargs):
        if use_mkl:
            result = packed.step_packing(blocks, *args, **kwargs)
        else:
            result = (packed._EMPTY,) * len(blocks), 0
        packings.append(all(p.size > 0 for p in result[0]))
        return result

    monkeypatch.setattr(rows, "step_packing", spy)  # where every kernel call packs
    B, H = packed.PACK_MIN_BATCH, packed.PACK_MIN_HIDDEN  # the smallest size that is packed
    check_parity(variant, 6, B, 3, H, dtype, seed=3, lengths=lengths)
    assert packings, "the kernels never asked for a packing"
    assert all(packings) == (use_mkl and packed.available())  # the path under test ran


def test_rnnlab_mkl_0_rules_mkl_out():
    code = "from rnnlab.kernels.cpu import packed; print(packed.available())"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "RNNLAB_MKL": "0"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False"


def test_no_packing_where_the_loop_runs_or_the_product_is_small():
    U = np.ones((4 * packed.PACK_MIN_HIDDEN, packed.PACK_MIN_HIDDEN), np.float32)
    rows = packed.PACK_MIN_BATCH
    assert packed.step_packing((U,), rows, (False, True), transpose=True)[0][0].size == 0
    assert packed.step_packing((U,), rows - 1, (True, True), transpose=True)[0][0].size == 0
    small = np.ones((4 * 8, 8), np.float32)
    assert packed.step_packing((small,), rows, (True, True), transpose=True)[0][0].size == 0
