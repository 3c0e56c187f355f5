"""Both cores for the recurrence: the batch rows split between two threads.

The rows of a batch never meet in the recurrence: row n of h(t) depends only on row n of
h(t-1) and of x(t). So a kernel's step loop can run as two independent loops over two blocks
of rows, one on the calling thread and one on a worker thread, with no synchronisation per
step, only a join at the end. The backward's weight gradients (dx, dW, dU, db) follow as a
second split, by steps, each half's sums added at the end.

It needs MKL (packed.py): each block multiplies by its own packed copies of the weights on one
MKL thread, and concurrent MKL calls run side by side. Measured on the 2-core benchmark
machine, 200 per-step products (64,256)·(256,1024): one thread 182-199 GFLOP/s, the same rows
as two blocks of 32 on two threads 357-384. An earlier try through SciPy's OpenBLAS lost at
every size.

What it must not meet is another library's idle worker threads: OpenBLAS's spin for about
0.1 s after each threaded call (``OPENBLAS_THREAD_TIMEOUT``), PyTorch's OpenMP workers for a
few milliseconds, each on a core the worker thread needs. So no product inside a split goes
to OpenBLAS. Measured, LSTM kernels, split against one thread, interleaved with one-thread
calls whose OpenBLAS products ran on two threads: forward 0.94-1.19x, backward 0.94-1.28x;
with those OpenBLAS threads told not to spin (``OPENBLAS_THREAD_TIMEOUT=4``), forward
0.59-0.75x and backward 0.65-0.74x from (50,16,32,128) to (100,32,128,256).

A worker that has been idle starts 0.05-1 ms late on these VMs, so the split waits for calls
whose per-step products total ``ROW_SPLIT_MIN_FLOPS``; and a busy machine (load average at
least the number of cores) keeps one thread, as the BLAS-thread policy does.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numba
import numpy as np

from .blas_threads import kernel_blas, machine_busy
from .config import bulk_flops
from .matmul import MKL, input_grads, recurrent_grad
from .packed import UNPACKED, mkl_threads, step_packing, will_pack

__all__ = [
    "ROW_SPLIT_MIN_FLOPS", "recurrent_flops", "row_blocks", "run_kernel", "run_rows",
    "split_by_steps", "split_weight_grads", "thread_limit",
]  # fmt: skip

# Per-step product FLOPs of a whole call from which two threads share the rows. Alone, the split
# gained from 26 MFLOP ((50,16,16,64): forward 0.86-0.93x, backward 0.74-0.75x); interleaved
# with PyTorch in `rnnlab bench`, whose spinning workers delay the second thread, it was level
# at (50,16,32,64) and (50,32,8,128), within the noise. From 100 MFLOP ((50,16,32,128) and up)
# the forward takes a few milliseconds and such a delay matters less.
ROW_SPLIT_MIN_FLOPS = 100_000_000
# Threads a kernel call may use: two where there are two cores and Numba's thread cap (the
# environment variable NUMBA_NUM_THREADS, read at import) allows two; 1 turns the split off.
WORKERS = 2 if min(os.cpu_count() or 1, numba.config.NUMBA_NUM_THREADS) >= 2 else 1


@contextlib.contextmanager
def thread_limit(count: int) -> Iterator[None]:
    """At most ``count`` threads per kernel call inside the block (``rnnlab bench --threads``);
    process-wide, like a BLAS thread limit."""
    global WORKERS
    saved, WORKERS = WORKERS, min(WORKERS, max(1, count))
    try:
        yield
    finally:
        WORKERS = saved


def recurrent_flops(x_shape: tuple[int, int, int], hidden_size: int, gates: int) -> int:
    """FLOPs of the per-step products h(t-1) · Uᵀ over a whole sequence of this size."""
    num_steps, batch_size, _ = x_shape
    return 2 * num_steps * batch_size * gates * hidden_size * hidden_size


def row_blocks(
    batch_size: int,
    hidden_size: int,
    flops: int,
    step_blas: bool,
    min_flops: int | None = None,
) -> tuple[tuple[int, int], ...]:
    """The blocks of batch rows (lo, hi) a kernel call runs on, one per thread: the whole batch
    unless both blocks' per-step products are packed (:func:`.packed.will_pack`), the products
    total ``min_flops`` (``ROW_SPLIT_MIN_FLOPS`` unless given) and the machine is not busy."""
    half = batch_size // 2
    if (
        WORKERS < 2
        or flops < (ROW_SPLIT_MIN_FLOPS if min_flops is None else min_flops)
        or not will_pack(half, hidden_size, step_blas)
        or machine_busy()
    ):
        return ((0, batch_size),)
    middle = (batch_size + 1) // 2
    return ((0, middle), (middle, batch_size))


_worker: ThreadPoolExecutor | None = None
_worker_lock = threading.Lock()


def _the_worker() -> ThreadPoolExecutor:
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rnnlab-rows")
        return _worker


def _forget_worker() -> None:  # a forked child has the executor object but not its thread
    global _worker, _worker_lock
    _worker, _worker_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_worker)


def run_rows(work: Callable[[int, int], None], blocks: tuple[tuple[int, int], ...]) -> None:
    """``work(lo, hi)`` for every block: the first on this thread, the second on the worker
    thread; returns when both are done, raising the first error either raised."""
    if len(blocks) == 1:
        work(*blocks[0])
        return
    (lo, hi), (lo2, hi2) = blocks
    other = _the_worker().submit(work, lo2, hi2)
    try:
        work(lo, hi)
    finally:
        error = _wait(other)  # always: the worker writes into the caller's arrays
    if error is not None:
        raise error


def run_kernel(
    blas: tuple[bool, bool],
    x_shape: tuple[int, int, int],
    hidden_size: int,
    gates: int,
    weights: tuple,
    transpose: bool,
    kernel: Callable[..., None],
    min_flops: int | None = None,
) -> bool:
    """One kernel call of a cell, on one thread or on two; returns whether it split.

    ``kernel(blas, packed, lo, hi)`` runs the cell's compiled kernel for the batch rows lo:hi,
    with the cell's ``use_blas`` plan ``blas`` and MKL's packed copies of ``weights``
    (:func:`.packed.step_packing`, ``transpose`` as there). One block (:func:`row_blocks`):
    the whole batch here, under the BLAS and MKL thread settings of a one-thread call; the
    kernel, seeing all rows, also does what follows the step loop (a backward's weight
    gradients). Two: each block on its own thread with its own packed copies, and the caller
    adds what follows the loop (:func:`split_weight_grads`).

    One compiled function per kernel serves both: a second one for the whole batch, calling
    the first, cost Numba about half a second of compilation per kernel (LLVM optimised the
    inlined step loop again: LSTM forward 1.55 s for the one function against 1.14 + 0.97 s for
    the two, backward 1.93 against 2.45)."""
    batch_size = x_shape[1]
    if not blas[0] and not blas[1]:  # the small sizes: no BLAS, nothing packed, one thread
        kernel(blas, UNPACKED[len(weights)], 0, batch_size)  # (the rest costs ~2 µs a call)
        return False
    flops = recurrent_flops(x_shape, hidden_size, gates)
    blocks = row_blocks(batch_size, hidden_size, flops, blas[0], min_flops)
    if len(blocks) == 1:
        packed, threads = step_packing(weights, batch_size, blas, transpose)
        with kernel_blas(blas, bulk_flops(x_shape, hidden_size, gates)), mkl_threads(threads):
            kernel(blas, packed, 0, batch_size)
        return False

    def block(lo, hi):
        packed, threads = step_packing(weights, hi - lo, blas, transpose)
        with mkl_threads(threads):
            kernel(blas, packed, lo, hi)

    run_rows(block, blocks)
    return True


def _wait(other: Future) -> BaseException | None:
    """The worker's error, once it has finished; a Ctrl-C meanwhile is raised only after that,
    so that no buffer the caller gets back (or the pool hands out again) is still written to."""
    interrupted = None
    while True:
        try:
            error = other.exception()
            break
        except KeyboardInterrupt as stop:
            interrupted = stop
    if interrupted is not None:
        raise interrupted
    return error


def split_by_steps(num_steps: int, grads: tuple, compute: Callable[..., None]) -> None:
    """Weight gradients of a split backward (all rows done), split by steps between the two
    threads: ``compute(t0, t1, part)`` sums steps t0:t1 into ``part``, arrays shaped like
    ``grads`` (the first half into ``grads`` itself, the second into arrays of its own, added
    at the end), on one MKL thread: a BLAS with threads of its own would leave them spinning
    on the cores the next split needs."""
    if num_steps < 2:  # nothing to split (and an empty half would have no first step)
        with mkl_threads(1):
            compute(0, num_steps, grads)
        return
    later = tuple(np.empty_like(g) for g in grads)

    def half(t0, t1):
        with mkl_threads(1):
            compute(t0, t1, grads if t0 == 0 else later)

    run_rows(half, ((0, num_steps // 2), (num_steps // 2, num_steps)))
    for total, rest in zip(grads, later, strict=True):
        total += rest


def split_weight_grads(delta, x, W, h0, h, dx, grads, delta_rec=None) -> None:
    """:func:`split_by_steps` for dx, dW, dU, db (``grads`` = (dW, dU, db)) from δ: the
    one-thread kernel's :func:`.matmul.input_grads` and :func:`.matmul.recurrent_grad` on
    each half, through MKL. ``delta_rec``: the recurrent product's gradient where it differs
    from δ (GRU, reset after)."""
    delta_rec = delta if delta_rec is None else delta_rec

    def compute(t0, t1, part):
        dW, dU, db = part
        h_before = h0 if t0 == 0 else h[t0 - 1]
        input_grads(delta[t0:t1], x[t0:t1], W, dx[t0:t1], dW, db, MKL)  # (0)
        recurrent_grad(delta_rec[t0:t1], h_before, h[t0:t1], dU, MKL)  # (1)

    split_by_steps(delta.shape[0], grads, compute)
