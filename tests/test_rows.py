"""Both cores for the recurrence (kernels/cpu/rows.py): the batch rows split between two
threads, the weight gradients split by steps, and MKL's general product those use."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import subprocess
import sys
import threading

import numba
import numpy as np
import pytest

import rnnlab
from rnnlab import GRULayer, LSTMLayer
from rnnlab.kernels.cpu import buffers, gru, lstm, packed, rnn, rows
from tests.conftest import rel_error
from tests.test_kernels_cpu import check_parity

needs_mkl = pytest.mark.skipif(not packed.available(), reason="needs MKL (in the test extra)")
B_SPLIT = 2 * packed.PACK_MIN_BATCH + 1  # the smallest batch that splits, and an odd one
H_SPLIT = packed.PACK_MIN_HIDDEN


@pytest.fixture
def split_everything(monkeypatch):
    """Every LSTM call that can split does (any size, whatever the load), and each split is
    recorded as the blocks it ran."""
    monkeypatch.setattr(rows, "ROW_SPLIT_MIN_FLOPS", 0)
    monkeypatch.setattr(rnn, "FORWARD_SPLIT_MIN_FLOPS", 0)
    monkeypatch.setattr(rnn, "BACKWARD_SPLIT_MIN_FLOPS", 0)
    monkeypatch.setattr(rows, "machine_busy", lambda: False)
    monkeypatch.setattr(rows, "WORKERS", 2)
    for module in (lstm, rnn, gru):
        monkeypatch.setattr(module, "use_blas", lambda *args: (True, True))
    runs = []
    real = rows.run_rows

    def spy(work, blocks):
        runs.append(blocks)
        real(work, blocks)

    monkeypatch.setattr(rows, "run_rows", spy)
    return runs


@needs_mkl
@pytest.mark.parametrize("variant", ["lstm", "rnn", "gru", "gru_reset_after"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lengths", [None, "padded"])
def test_split_forward_and_backward_equal_the_reference(split_everything, variant, dtype, lengths):
    """Forward, cache and every gradient of the split kernels against the reference (float32
    1e-5, float64 1e-12), padded rows in both blocks included."""
    T = 5
    if lengths == "padded":
        lengths = np.random.default_rng(1).integers(1, T + 1, B_SPLIT)
        lengths[0] = T
    check_parity(variant, T, B_SPLIT, 3, H_SPLIT, dtype, seed=7, lengths=lengths)
    middle = (B_SPLIT + 1) // 2
    assert ((0, middle), (middle, B_SPLIT)) in split_everything  # the rows were split
    assert ((0, T // 2), (T // 2, T)) in split_everything  # and the weight gradients by steps


@needs_mkl
@pytest.mark.parametrize(
    ("cls", "extra"), [(LSTMLayer, {}), (GRULayer, {}), (GRULayer, {"reset_after": True})]
)
@pytest.mark.parametrize("chunk_bytes", [1, 40_000])  # the smallest ring, one of a few steps
def test_split_inference_ring_equals_the_reference(
    split_everything, monkeypatch, cls, extra, chunk_bytes
):
    monkeypatch.setattr(buffers, "INFERENCE_CHUNK_BYTES", chunk_bytes)
    x = np.random.default_rng(2).standard_normal((9, B_SPLIT, 3))
    _check_no_grad_against_reference(cls, extra, x, seed=1)
    assert split_everything, "the inference forward did not split"


def _check_no_grad_against_reference(cls, extra, x, seed, lengths=None):
    """A float64 layer's ``no_grad`` outputs and final states against the reference's, 1e-12."""
    I = x.shape[-1]
    layer = cls(I, H_SPLIT, dtype=np.float64, seed=seed, **extra)
    reference = cls(I, H_SPLIT, dtype=np.float64, seed=seed, backend="reference", **extra)
    y_reference = reference(x, lengths=lengths)
    with rnnlab.no_grad():
        y = layer(x, lengths=lengths)
    assert rel_error(y, y_reference) <= 1e-12
    final = layer.final_state if cls is LSTMLayer else (layer.final_state,)
    final_reference = reference.final_state if cls is LSTMLayer else (reference.final_state,)
    for ours, theirs in zip(final, final_reference, strict=True):
        assert rel_error(ours, theirs) <= 1e-12


def test_no_split_where_it_cannot_pay(monkeypatch):
    monkeypatch.setattr(rows, "machine_busy", lambda: False)
    monkeypatch.setattr(rows, "WORKERS", 2)
    monkeypatch.setattr(rows, "will_pack", lambda rows, hidden, step_blas: step_blas)
    big = rows.ROW_SPLIT_MIN_FLOPS
    assert rows.row_blocks(64, 256, big, True) == ((0, 32), (32, 64))
    assert rows.row_blocks(65, 256, big, True) == ((0, 33), (33, 65))
    assert rows.row_blocks(64, 256, big - 1, True) == ((0, 64),)  # too little work
    assert rows.row_blocks(64, 256, big, True, min_flops=big + 1) == ((0, 64),)  # a cell's own
    assert rows.row_blocks(64, 256, big, False) == ((0, 64),)  # no packed per-step product
    monkeypatch.setattr(rows, "machine_busy", lambda: True)
    assert rows.row_blocks(64, 256, big, True) == ((0, 64),)  # the other core is taken
    monkeypatch.setattr(rows, "machine_busy", lambda: False)
    monkeypatch.setattr(rows, "WORKERS", 1)
    assert rows.row_blocks(64, 256, big, True) == ((0, 64),)  # one core


def test_blocks_keep_enough_rows_to_pack(monkeypatch):
    monkeypatch.setattr(rows, "machine_busy", lambda: False)
    monkeypatch.setattr(rows, "WORKERS", 2)
    small = 2 * packed.PACK_MIN_BATCH - 1
    assert rows.row_blocks(small, 256, 10**12, True) == ((0, small),)


def test_run_rows_runs_both_blocks_on_two_threads():
    seen = {}

    def work(lo, hi):
        seen[lo, hi] = threading.get_ident()

    rows.run_rows(work, ((0, 3), (3, 5)))
    assert set(seen) == {(0, 3), (3, 5)}
    assert seen[0, 3] == threading.get_ident()
    assert seen[3, 5] != threading.get_ident()


def test_run_rows_waits_for_the_worker_and_raises_its_error():
    finished = threading.Event()

    def work(lo, hi):
        if lo == 0:
            return
        finished.set()
        raise ValueError("second block failed")

    with pytest.raises(ValueError, match="second block failed"):
        rows.run_rows(work, ((0, 1), (1, 2)))
    assert finished.is_set()


def test_run_rows_keeps_the_callers_error_and_still_waits():
    done = []

    def work(lo, hi):
        if lo == 0:
            raise KeyError("first block failed")
        done.append(hi)

    with pytest.raises(KeyError, match="first block failed"):
        rows.run_rows(work, ((0, 1), (1, 2)))
    assert done == [2]  # the worker's block ran to the end before the error came back


def _split_in_child(queue):
    out = []
    rows.run_rows(lambda lo, hi: out.append((lo, hi)), ((0, 1), (1, 2)))
    queue.put(sorted(out))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork")
def test_a_forked_child_gets_a_worker_of_its_own():
    rows.run_rows(lambda lo, hi: None, ((0, 1), (1, 2)))  # the parent's worker exists
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_split_in_child, args=(queue,))
    child.start()
    result = queue.get(timeout=60)
    child.join(timeout=60)
    assert child.exitcode == 0
    assert result == [(0, 1), (1, 2)]


@numba.njit(cache=False)
def _gemm(A, B, C, trans_a, trans_b, beta):
    packed.mkl_gemm(A, B, C, trans_a, trans_b, beta)


@needs_mkl
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("trans_a", "trans_b"), [(False, False), (True, False), (False, True)])
def test_mkl_gemm_equals_numpy(dtype, trans_a, trans_b):
    rng = np.random.default_rng(3)
    m, n, k = 7, 5, 11
    A = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    B = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    C = rng.standard_normal((m, n)).astype(dtype)
    expected = (A.T if trans_a else A) @ (B.T if trans_b else B) + 0.5 * C
    _gemm(A, B, C, trans_a, trans_b, dtype(0.5))
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(C, expected, rtol=rtol, atol=rtol)


@needs_mkl
def test_mkl_gemm_reads_and_writes_column_blocks_of_wider_arrays():
    """Rows further apart than their length (a block of columns): the leading dimension is
    the array's row stride, so nothing outside the block is read or written."""
    rng = np.random.default_rng(4)
    A_wide, B_wide = rng.standard_normal((6, 10)), rng.standard_normal((4, 9))
    C_wide = np.zeros((6, 12))
    A, B, C = A_wide[:, 2:6], B_wide[:, 1:4], C_wide[:, 3:6]
    _gemm(A, B, C, False, False, 0.0)
    np.testing.assert_allclose(C, A @ B, rtol=1e-12)
    untouched = np.ones(C_wide.shape, bool)
    untouched[:, 3:6] = False
    assert not C_wide[untouched].any()


def test_thread_limit_turns_the_split_off_and_back(monkeypatch):
    monkeypatch.setattr(rows, "machine_busy", lambda: False)
    monkeypatch.setattr(rows, "WORKERS", 2)
    monkeypatch.setattr(rows, "will_pack", lambda rows, hidden, step_blas: step_blas)
    big = rows.ROW_SPLIT_MIN_FLOPS
    with rows.thread_limit(1):
        assert rows.row_blocks(64, 256, big, True) == ((0, 64),)
    with rows.thread_limit(8):  # never more than the machine gave
        assert rows.WORKERS == 2
    assert rows.row_blocks(64, 256, big, True) == ((0, 32), (32, 64))


def test_numba_num_threads_1_turns_the_split_off():
    code = "from rnnlab.kernels.cpu import rows; print(rows.WORKERS)"
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"


def test_ctrl_c_while_waiting_is_raised_after_the_worker_finished(monkeypatch):
    """An interrupt that arrives while the caller waits for the worker does not let the
    caller go before the worker has stopped writing into its arrays."""
    released = threading.Event()
    finished = []

    class InterruptedOnce(concurrent.futures.Future):
        calls = 0

        def exception(self, timeout=None):
            InterruptedOnce.calls += 1
            if InterruptedOnce.calls == 1:
                released.set()  # let the worker finish only now, after the interrupt
                raise KeyboardInterrupt
            return super().exception(timeout)

    class Worker:
        def submit(self, fn, *args):
            future = InterruptedOnce()

            def run():
                released.wait()
                fn(*args)
                finished.append(args)
                future.set_result(None)

            threading.Thread(target=run).start()
            return future

    monkeypatch.setattr(rows, "_the_worker", Worker)
    with pytest.raises(KeyboardInterrupt):
        rows.run_rows(lambda lo, hi: None, ((0, 1), (1, 2)))
    assert finished == [(1, 2)]
    assert InterruptedOnce.calls == 2


@needs_mkl
@pytest.mark.parametrize("variant", ["lstm", "rnn", "gru", "gru_reset_after"])
def test_a_single_step_splits_its_rows_but_not_its_steps(split_everything, variant):
    """T = 1: the rows still split, the weight gradients come from the one step (an empty
    half would have had no first step to start dU from)."""
    check_parity(variant, 1, B_SPLIT, 3, H_SPLIT, np.float64, seed=9)
    middle = (B_SPLIT + 1) // 2
    assert ((0, middle), (middle, B_SPLIT)) in split_everything


@needs_mkl
@pytest.mark.parametrize(
    ("cls", "extra"), [(LSTMLayer, {}), (GRULayer, {}), (GRULayer, {"reset_after": True})]
)
def test_smallest_inference_ring_carries_padded_states(split_everything, monkeypatch, cls, extra):
    """The smallest ring (as for a large B·H: one step of gate buffers for the GRU, two for the
    LSTM, whose C(t) would otherwise overwrite C(t-1)) with padded rows: each sequence's state
    at its own last step, as the reference keeps it (the LSTM's one-step ring failed here)."""
    monkeypatch.setattr(buffers, "INFERENCE_CHUNK_BYTES", 1)
    T = 7
    x = np.random.default_rng(4).standard_normal((T, B_SPLIT, 3))
    lengths = np.random.default_rng(5).integers(1, T + 1, B_SPLIT)
    _check_no_grad_against_reference(cls, extra, x, seed=2, lengths=lengths)
