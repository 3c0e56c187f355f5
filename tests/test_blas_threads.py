"""One OpenBLAS thread inside the kernels while the machine is busy (kernels/cpu/blas_threads)."""

from __future__ import annotations

import ctypes
import glob
import threading
from pathlib import Path

import numpy as np
import pytest
import scipy

from rnnlab import LSTMLayer
from rnnlab.kernels.cpu import blas_threads


def openblas_threads() -> int:
    libs = Path(scipy.__file__).parent.parent / "scipy.libs"
    (path,) = glob.glob(str(libs / "libscipy_openblas*.so*"))
    return ctypes.CDLL(path).scipy_openblas_get_num_threads()


BIG = 10**9  # FLOPs of products large enough to share between threads


@pytest.fixture
def two_threads():
    if blas_threads._set_local() is None:
        pytest.skip("SciPy's OpenBLAS not found")
    previous = blas_threads._set_local()(2)
    yield
    blas_threads._set_local()(previous)


def test_busy_machine_gets_one_thread_then_the_count_back(two_threads, monkeypatch):
    monkeypatch.setattr(blas_threads, "machine_busy", lambda: True)
    with blas_threads.kernel_blas((True, True), BIG):
        assert openblas_threads() == 1
        with blas_threads.kernel_blas(
            (True, True), BIG
        ):  # nested / concurrent calls share the setting
            assert openblas_threads() == 1
        assert openblas_threads() == 1
    assert openblas_threads() == 2


def test_quiet_machine_or_no_blas_changes_nothing(two_threads, monkeypatch):
    monkeypatch.setattr(blas_threads, "machine_busy", lambda: False)
    with blas_threads.kernel_blas((True, True), BIG):
        assert openblas_threads() == 2
    monkeypatch.setattr(blas_threads, "machine_busy", lambda: True)
    with blas_threads.kernel_blas((False, False), BIG):
        assert openblas_threads() == 2


def test_small_products_get_one_thread_on_a_quiet_machine(two_threads, monkeypatch):
    monkeypatch.setattr(blas_threads, "machine_busy", lambda: False)
    with blas_threads.kernel_blas((False, True), 1_000_000):
        assert openblas_threads() == 1
    assert openblas_threads() == 2


def test_overlapping_calls_from_threads_restore_the_count(two_threads, monkeypatch):
    monkeypatch.setattr(blas_threads, "machine_busy", lambda: True)
    first_in, release = threading.Event(), threading.Event()

    def hold():
        with blas_threads.kernel_blas((True, True), BIG):
            first_in.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    first_in.wait(5)
    with blas_threads.kernel_blas((True, True), BIG):
        release.set()  # the other call leaves first; this one still needs one thread
        thread.join()
        assert openblas_threads() == 1
    assert openblas_threads() == 2


def test_kernels_give_the_same_results_busy_or_not(two_threads, monkeypatch):
    x = np.random.default_rng(0).standard_normal((20, 16, 8)).astype(np.float32)
    results = []
    for busy in (False, True):
        monkeypatch.setattr(blas_threads, "machine_busy", lambda b=busy: b)
        layer = LSTMLayer(8, 128, seed=0)  # large enough for BLAS in every product
        y = layer(x)
        results.append((y, layer.backward(np.ones_like(y))))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-5, atol=1e-6)
    assert openblas_threads() == 2
