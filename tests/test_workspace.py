"""The CPU kernels' workspace pool is bounded and can be freed (issue 11.10).

Real kernel calls (numba backend) over many sequence lengths: the pool stays under its bound,
results stay exact, and ``rnnlab.free_workspaces()`` returns the memory (traced by tracemalloc,
which sees NumPy's allocations).
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
import tracemalloc
import weakref

import numpy as np
import pytest

import rnnlab
from rnnlab import LSTMLayer
from rnnlab.kernels.cpu import workspace
from rnnlab.kernels.cpu.workspace import WorkspacePool
from tests.conftest import run_interleaved


@pytest.fixture
def pool_limit():
    """Set the global pool's bound for one test; restore it (and empty the pool) afterwards."""
    previous = workspace.limit()
    yield workspace.set_limit
    workspace.set_limit(previous)
    workspace.clear()


def _train_step(layer, reference, num_steps):
    rng = np.random.default_rng(num_steps)
    x = rng.standard_normal((num_steps, 4, 3))
    dy = rng.standard_normal((num_steps, 4, 8))
    y = layer.forward(x)
    np.testing.assert_allclose(y, reference.forward(x), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layer.backward(dy), reference.backward(dy), rtol=1e-12, atol=1e-14)


def test_pool_stays_under_its_bound_with_real_kernels(pool_limit):
    bound = 64 * 1024
    pool_limit(bound)
    layer = LSTMLayer(3, 8, dtype=np.float64, seed=0, backend="numba")
    reference = LSTMLayer(3, 8, dtype=np.float64, seed=0, backend="reference")
    largest = 0
    for num_steps in range(5, 45, 2):  # 20 sequence lengths
        _train_step(layer, reference, num_steps)
        largest = max(largest, workspace.nbytes())
        assert workspace.nbytes() <= bound
    assert largest > bound // 2  # the pool was in use, up to near its bound


def test_free_workspaces_gives_the_memory_back(pool_limit):
    pool_limit(workspace.DEFAULT_LIMIT)
    workspace.clear()
    gc.collect()
    tracemalloc.start()
    try:
        layer = LSTMLayer(3, 8, dtype=np.float64, seed=0, backend="numba")
        reference = LSTMLayer(3, 8, dtype=np.float64, seed=0, backend="reference")
        for num_steps in range(20, 220, 10):  # 20 sequence lengths
            _train_step(layer, reference, num_steps)
        del layer, reference
        gc.collect()
        held = workspace.nbytes()
        before, _ = tracemalloc.get_traced_memory()
        assert held > 1_000_000  # kept for reuse after the layer is gone
        assert rnnlab.free_workspaces() == held
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert workspace.nbytes() == 0
    assert before - after >= 0.95 * held  # returned, not only forgotten


def test_least_recently_used_shapes_are_dropped_first():
    pool = WorkspacePool(limit=2 * 800)
    first, second = pool.take("a", (100,), np.float64), pool.take("b", (100,), np.float64)
    gone_first, gone_second = weakref.ref(first), weakref.ref(second)
    del first, second
    assert pool.take("a", (100,), np.float64) is gone_first()  # reused: "a" is now the newest
    pool.take("c", (100,), np.float64)  # room for one more: "b", the oldest, is dropped
    assert gone_second() is None
    assert gone_first() is not None
    assert pool.nbytes() == 2 * 800


def test_a_dropped_buffer_in_use_stays_valid():
    """Dropping only removes the pool's reference: a cache that uses the buffer keeps it."""
    pool = WorkspacePool(limit=800)
    kept = pool.take("a", (100,), np.float64)
    kept[...] = 7.0
    pool.take("b", (100,), np.float64)  # the bound forces "a" out while `kept` uses it
    np.testing.assert_array_equal(kept, 7.0)
    assert not np.shares_memory(kept, pool.take("a", (100,), np.float64))


def test_an_array_over_the_bound_is_not_kept():
    pool = WorkspacePool(limit=100)
    array = pool.take("a", (1000,), np.float32)
    assert array.shape == (1000,)
    assert pool.nbytes() == 0
    assert pool.set_limit(0) == 100


@pytest.mark.parametrize("value", [-1, 1.5, True, "1"])
def test_bad_limits_are_refused(value):
    with pytest.raises(ValueError, match=r"limit: expected a whole number of bytes >= 0"):
        WorkspacePool().set_limit(value)


def test_limit_from_the_environment_and_nothing_imported_to_free():
    code = (
        "import sys, rnnlab; print(rnnlab.free_workspaces(), "
        "'rnnlab.kernels.cpu' in sys.modules); "
        "from rnnlab.kernels.cpu import workspace; print(workspace.limit())"
    )
    env = dict(os.environ, RNNLAB_WORKSPACE_BYTES="12345")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["0", "False", "12345"], out.stderr
    env["RNNLAB_WORKSPACE_BYTES"] = "lots"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert "RNNLAB_WORKSPACE_BYTES: expected a whole number of bytes >= 0, got 'lots'" in out.stderr


PIECES = ((0, 6, (2, 3)), (6, 10, (4,)))  # two views of one buffer of 10 elements


@pytest.mark.parametrize(
    "hold",
    [
        lambda views: views[0],  # a view itself (a cache's h)
        lambda views: views[1][1:],  # a view of a view (its base is the buffer)
        lambda views: views[0].base,  # the buffer
        lambda views: views[1].T,
    ],
)
def test_views_come_back_only_when_nothing_refers_to_them(hold):
    pool = WorkspacePool()
    first = pool.take_views("k", PIECES, 10, np.float32)
    assert [v.shape for v in first] == [(2, 3), (4,)]
    assert all(v.flags.c_contiguous and v.base is first[0].base for v in first)
    assert not np.shares_memory(first[0], first[1])
    ids = [id(v) for v in first]
    held = hold(first)
    del first
    second = pool.take_views("k", PIECES, 10, np.float32)
    assert not any(np.shares_memory(held, v) for v in second)  # still in use: not handed out
    del held, second
    third = pool.take_views("k", PIECES, 10, np.float32)
    assert [id(v) for v in third] == ids  # free again: the same view objects
    assert pool.nbytes() == 2 * 10 * 4  # two buffers, no third


def test_views_of_other_shapes_are_other_entries():
    pool = WorkspacePool()
    del pool.take_views("k", PIECES, 10, np.float32)[:]
    other = pool.take_views("k", ((0, 10, (5, 2)),), 10, np.float32)
    assert [v.shape for v in other] == [(5, 2)]
    assert pool.take_views("k", PIECES, 10, np.float64)[0].dtype == np.float64


def test_views_are_never_shared_between_threads():
    """Threads taking views of one key at once: each fills its views and finds its own values
    there after the others had their turns (no entry handed out twice)."""
    pool, errors = WorkspacePool(), []

    def work(mark):
        for _ in range(300):
            views = pool.take_views("k", PIECES, 10, np.float64)
            for v in views:
                v[...] = mark
            for _ in range(3):
                time.sleep(0)  # let the other threads run
            if not all((v == mark).all() for v in views):
                errors.append(mark)
            del views

    run_interleaved(work, 4, switch_s=1e-6)
    assert errors == []
