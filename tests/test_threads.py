"""One module used from several threads (issue 11.9): detected and refused, never wrong.

Real threads throughout. The ordering tests force the interleaving that used to give a wrong
dx (one thread's forward between another thread's forward and backward) with events; the
stress test runs four threads freely and checks that every backward either returns exactly
the single-threaded dx or raises ConcurrentUseError.
"""

from __future__ import annotations

import copy
import threading
import time

import numpy as np
import pytest

from rnnlab import ConcurrentUseError, GRULayer, LSTMLayer
from rnnlab.models import LSTM, Dense, Sequential
from tests.conftest import run_interleaved


def _inputs(count, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((6, 2, 3)) for _ in range(count)]


def _expected_dx(factory, x, dy):
    layer = factory()
    layer.forward(x)
    return layer.backward(dy)


def _in_thread(target):
    """Run ``target`` in a new thread; return what it returned or raised."""
    result = {}

    def run():
        try:
            result["value"] = target()
        except Exception as exc:
            result["error"] = exc

    thread = threading.Thread(target=run, name="worker")
    thread.start()
    thread.join()
    return result


FACTORIES = {
    "gru": lambda: GRULayer(3, 4, dtype=np.float64, seed=0),
    "lstm_stack": lambda: LSTM(3, 4, num_layers=2, dtype=np.float64, seed=0),
    "sequential": lambda: Sequential(
        LSTMLayer(3, 4, dtype=np.float64, seed=0), Dense(4, 4, dtype=np.float64, seed=1)
    ),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_backward_after_another_threads_forward_raises(name):
    model = FACTORIES[name]()
    x_main, x_other = _inputs(2)
    dy = np.ones((6, 2, 4))
    model.forward(x_main)
    other = _in_thread(lambda: model.forward(x_other))
    assert "error" not in other
    with pytest.raises(
        ConcurrentUseError, match=r"ran forward on this module after thread 'MainThread' did"
    ):
        model.backward(dy)
    # the other thread's own backward is still exactly right
    done = _in_thread(lambda: model.backward(dy))
    np.testing.assert_array_equal(done["value"], _expected_dx(FACTORIES[name], x_other, dy))


def test_state_read_after_another_threads_forward_raises():
    layer = FACTORIES["gru"]()
    x_main, x_other = _inputs(2)
    layer.forward(x_main)
    _in_thread(lambda: layer.forward(x_other))
    with pytest.raises(ConcurrentUseError, match="final_state"):
        _ = layer.final_state


def test_forward_handed_to_another_thread_for_backward_is_allowed():
    """No second forward in between: the cache is the one the caller means."""
    layer = FACTORIES["gru"]()
    (x,) = _inputs(1)
    dy = np.ones((6, 2, 4))
    _in_thread(lambda: layer.forward(x))
    np.testing.assert_array_equal(layer.backward(dy), _expected_dx(FACTORIES["gru"], x, dy))


def test_overlapping_calls_are_refused_while_the_first_runs():
    """A second thread entering while the first is inside forward gets an error at once."""
    layer = FACTORIES["gru"]()
    inside, release = threading.Event(), threading.Event()
    original = layer._run_forward

    def slow_forward(*args, **kwargs):
        inside.set()
        release.wait(10)
        return original(*args, **kwargs)

    layer._run_forward = slow_forward
    x_main, x_other = _inputs(2)
    first = threading.Thread(target=lambda: layer.forward(x_main), name="first")
    first.start()
    assert inside.wait(10)
    try:
        with pytest.raises(ConcurrentUseError, match="in use by thread 'first' right now"):
            layer.forward(x_other)
        with pytest.raises(ConcurrentUseError, match="in use by thread 'first'"):
            layer.backward(np.ones((6, 2, 4)))
        with pytest.raises(ConcurrentUseError, match=r"hidden_states: the module is in use"):
            _ = layer.hidden_states
        twin = copy.deepcopy(layer)  # a copy taken meanwhile is free to use
        del twin._run_forward
        twin.forward(x_other)
        twin.backward(np.ones((6, 2, 4)))
    finally:
        release.set()
        first.join()
    del layer._run_forward
    layer.forward(x_main)  # free again once the first call is done


def test_four_threads_never_get_a_wrong_dx():
    """The issue's case: dx was wrong in 2 of 4 threads; now each is right or refused."""
    factory = FACTORIES["gru"]
    layer = factory()
    inputs = _inputs(4, seed=1)
    dy = np.random.default_rng(2).standard_normal((6, 2, 4))
    expected = [_expected_dx(factory, x, dy) for x in inputs]
    outcomes = {"right": 0, "refused": 0, "wrong": 0}
    lock = threading.Lock()
    start = threading.Barrier(4)

    def work(k):
        start.wait()
        for _ in range(30):
            try:
                layer.forward(inputs[k])
                time.sleep(0)  # as a loss computed between forward and backward may yield
                dx = layer.backward(dy)
                kind = "right" if np.array_equal(dx, expected[k]) else "wrong"
            except ConcurrentUseError:
                kind = "refused"
            with lock:
                outcomes[kind] += 1

    run_interleaved(work, 4)
    assert outcomes["wrong"] == 0, outcomes
    assert outcomes["right"] + outcomes["refused"] == 120
    assert outcomes["right"] > 0
