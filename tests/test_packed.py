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
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, A @ M.T, rtol=rtol, atol=rtol)
    A2 = rng.standard_normal((rows, n)).astype(dtype)
    out2 = np.full((rows, k), np.nan, dtype)
    _product(A2, packed.pack(M, rows, transpose=False), out2)
    np.testing.assert_allclose(out2, A2 @ M, rtol=rtol, atol=rtol)


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
