"""Guards at the module boundary: misuses that would give a silently wrong gradient are refused.

A module keeps what backward needs (its *cache*) between ``forward`` and ``backward``. Four ways
of disturbing that cache used to give wrong gradients without any error; each is closed here, and
the modules call these helpers from one or two lines each:

- **In-place changes** (:func:`read_only`, :func:`own`). Arrays handed out that share memory with
  the cache (a head-less layer's output, ``hidden_states``, ``final_state``, ``cell_states``,
  Tanh/ReLU outputs) are read-only views: writing to one raises NumPy's
  ``ValueError: assignment destination is read-only`` at the write (docs/models.md, "Safe
  use", explains it). Inputs the cache would share with the caller (``x``, the initial state,
  ``lengths``) are copied, so the caller may reuse its arrays freely. A copy, not a
  fingerprint: a checksum is either slow or can miss a change, and a copy of the input costs
  O(T·B·I) against the forward's O(T·B·(I+H)·G·H).
- **Concurrent use** (:func:`forward_guard`, :func:`backward_guard`, :func:`check_owner`). A
  second thread entering forward or backward while another thread is inside one of them raises
  :class:`ConcurrentUseError`; so does a backward (or a state read) whose thread ran a forward
  that another thread's forward has since replaced. One thread may still hand a forward over to
  another for backward, as long as no second forward came in between.
- **A module in two places** (:func:`check_distinct`, the stamps). ``Sequential(l, l)`` is
  refused at construction; a module shared by two containers raises :class:`StaleForwardError`
  at the backward of the container whose forward it no longer holds.
- **Ctrl-C inside an optimiser step** (:func:`deferred_interrupts`): the commit of a step runs
  with SIGINT held back, so a step is applied wholly or not at all. A step between forward and
  backward (:func:`mark_stepped`) makes that backward raise :class:`StaleForwardError`.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np

from .grad_mode import is_grad_enabled

__all__ = [
    "ConcurrentUseError",
    "StaleForwardError",
    "backward_guard",
    "check_distinct",
    "check_owner",
    "deferred_interrupts",
    "forward_guard",
    "mark_stepped",
    "own",
    "read_only",
    "read_only_states",
]

F = TypeVar("F", bound=Callable[..., Any])

# id(module) -> the thread inside its forward/backward right now. Kept outside the module, so
# that a copy or a pickle taken meanwhile never carries it; an entry lives only during a call,
# while the module is alive, so its id cannot be reused meanwhile.
_busy: dict[int, int] = {}
_STAMP = "_guard_stamp"  # stamp of the forward whose cache the module holds
_THREADS = "_guard_threads"  # thread id -> stamp of that thread's last forward on the module
_SEEN = "_guard_children"  # the children's stamps right after the container's forward
_STEPPED = "_guard_stepped"  # stamp of the last optimiser step that changed the parameters
_STEP_SEEN = "_guard_step_seen"  # the _STEPPED value when the cached forward ran
# Stamps are only compared for equality, and start at a random point in each process, so that
# a module copied or pickled into another process never mistakes one of its stamps for a new
# one there. next() on a count is atomic in CPython.
_stamps = itertools.count(int.from_bytes(os.urandom(8), "little"))
_containers: dict[type, bool] = {}  # class -> has children() (a lookup, not hasattr, per call)


class ConcurrentUseError(RuntimeError):
    """One module used by several threads at once (its forward cache would be mixed up)."""


class StaleForwardError(RuntimeError, ValueError):
    """A backward whose forward cache no longer matches the model: a child of the container ran
    another forward elsewhere, or an optimiser step changed the weights since the forward."""


# ------------------------------------------------------------------ arrays handed out / kept
def read_only(arr: Any) -> Any:
    """A read-only view of a NumPy array (writes raise ValueError); other arrays are copied.

    CuPy arrays have no read-only flag, so a device array that shares the cache is handed out as
    a copy instead: changing it is then harmless.
    """
    if isinstance(arr, np.ndarray):
        view = arr.view()
        view.setflags(write=False)
        return view
    return arr.copy() if hasattr(arr, "copy") else arr


def read_only_states(cache: Any) -> Any:
    """``cache`` (a NamedTuple) with its state fields ``h`` and ``C`` as read-only views."""
    fields = {name: read_only(getattr(cache, name)) for name in ("h", "C") if hasattr(cache, name)}
    return cache._replace(**fields)


def own(arr: Any, given: Any = None) -> Any:
    """``arr`` (validated from the caller's ``given``) as an array nothing outside can write.

    Validation returns the caller's own array, or a view of it, when no conversion was needed;
    a cache holding it would change with the caller's next in-place write. Such an array is
    copied; a fresh one (converted, stacked, transposed) is kept as is. None and tuples of arrays
    (an LSTM state) are handled too. Under :func:`rnnlab.no_grad` nothing is kept for backward,
    so nothing is copied. Without a ``given`` (a state the layer made itself) there is nothing
    of the caller's to copy.
    """
    if given is None:
        return arr
    if isinstance(arr, tuple):
        parts = given if isinstance(given, tuple | list) and len(given) == len(arr) else ()
        return tuple(own(part, parts[k] if parts else None) for k, part in enumerate(arr))
    if arr is None or (arr is not given and arr.base is None) or not is_grad_enabled():
        return arr  # fresh already, or nothing will be kept
    return arr.copy()


# ------------------------------------------------------------------ threads and stamps
def _thread_name(ident: int | None) -> str:
    for thread in threading.enumerate():
        if thread.ident == ident:
            return repr(thread.name)
    return f"id {ident} (finished)"


def _refuse_busy(module: Any, what: str, holder: int) -> None:
    me = threading.get_ident()
    raise ConcurrentUseError(
        f"{type(module).__name__}.{what}: the module is in use by thread "
        f"{_thread_name(holder)} right now (called from thread {_thread_name(me)}); a module "
        "keeps one forward cache, so give each thread its own copy (copy.deepcopy(model)) "
        "or hold a lock around forward and backward (docs/models.md, threads)"
    )


def _refuse_replaced(module: Any, what: str) -> None:
    state = module.__dict__
    last = next((t for t, s in state[_THREADS].items() if s == state[_STAMP]), None)
    raise ConcurrentUseError(
        f"{type(module).__name__}.{what}: thread {_thread_name(last)} ran forward on this "
        f"module after thread {_thread_name(threading.get_ident())} did, so the cache is no "
        "longer this thread's; give each thread its own copy (copy.deepcopy(model)) or hold a "
        "lock around forward and backward (docs/models.md, threads)"
    )


def _refuse_stepped(module: Any) -> None:
    raise StaleForwardError(
        f"{type(module).__name__}.backward: an optimiser step changed the parameters after "
        "this forward, so backward would mix the old activations with the new weights; "
        "call backward before optimizer.step() (forward, backward, step), or run forward again"
    )


def check_owner(module: Any, what: str) -> None:
    """Raise :class:`ConcurrentUseError` when another thread is inside ``module`` now, or when
    this thread's own forward was replaced by another thread's (backward or ``final_state``
    would read the other thread's cache)."""
    state = module.__dict__
    me = threading.get_ident()
    holder = _busy.get(id(module), me)
    if holder != me:
        _refuse_busy(module, what, holder)
    mine = state.get(_THREADS, {}).get(me)
    if mine is not None and mine != state.get(_STAMP):
        _refuse_replaced(module, what)


def _child_stamps(module: Any) -> tuple:
    return tuple(child.__dict__.get(_STAMP) for _, child in module.children())


def _check_children(module: Any, seen: tuple) -> None:
    if seen == _child_stamps(module):
        return
    for (prefix, child), stamp in zip(module.children(), seen, strict=True):
        if child.__dict__.get(_STAMP) != stamp:
            raise StaleForwardError(
                f"{type(module).__name__}.backward: its child {prefix} ({type(child).__name__}) "
                "ran another forward since this module's forward (it is used elsewhere too, "
                "or was called directly), so its cache belongs to that call; run this module's "
                "forward again before backward, or give each container its own copy "
                "(copy.deepcopy(module))"
            )


# These wrappers run on every call of every module, so they do only dict operations (atomic
# under the GIL) and no function calls on the normal path. The busy entry is a test-and-set:
# setdefault inserts this call's thread id unless an entry exists. get_ident() returns a new int
# object on every call (thread ids are large), so `holder is me` tells that this call inserted
# it; an equal id from an earlier object is the same thread re-entering (a nested call).


def forward_guard(method: F) -> F:
    """Decorate a module's ``forward``: refuse concurrent entry, stamp the cache it leaves."""

    @functools.wraps(method)
    def forward(self, *args, **kwargs):
        key, me = id(self), threading.get_ident()
        holder = _busy.setdefault(key, me)
        if holder is not me:
            if holder != me:
                _refuse_busy(self, "forward", holder)
            return method(self, *args, **kwargs)
        try:
            result = method(self, *args, **kwargs)
            state = self.__dict__
            stamp = state[_STAMP] = next(_stamps)
            threads = state.get(_THREADS)
            if threads is None:
                threads = state[_THREADS] = {}
            threads[me] = stamp
            state[_STEP_SEEN] = state.get(_STEPPED)
            container = _containers.get(type(self))
            if container is None:
                container = _containers[type(self)] = hasattr(type(self), "children")
            if container:
                state[_SEEN] = _child_stamps(self)
            return result
        finally:
            del _busy[key]

    return forward  # type: ignore[return-value]


def mark_stepped(model: Any) -> None:
    """Record that an optimiser step changed ``model``'s parameters (every module in it)."""
    stamp = next(_stamps)

    def walk(module: Any) -> None:
        module.__dict__[_STEPPED] = stamp
        for _, child in module.children() if hasattr(module, "children") else ():
            walk(child)

    walk(model)


def backward_guard(method: F) -> F:
    """Decorate a module's ``backward``: the cache must be this thread's, whole, and made with
    the current weights."""

    @functools.wraps(method)
    def backward(self, *args, **kwargs):
        key, me = id(self), threading.get_ident()
        holder = _busy.setdefault(key, me)
        if holder is not me:
            if holder != me:
                _refuse_busy(self, "backward", holder)
            return method(self, *args, **kwargs)
        try:
            state = self.__dict__
            stamp = state.get(_STAMP)
            if stamp is not None:  # else: no forward yet, and the method says so
                mine = state[_THREADS].get(me)
                if mine is not None and mine != stamp:
                    _refuse_replaced(self, "backward")
                if state.get(_STEPPED) != state.get(_STEP_SEEN):
                    _refuse_stepped(self)
                seen = state.get(_SEEN)
                if seen:
                    _check_children(self, seen)
            return method(self, *args, **kwargs)
        finally:
            del _busy[key]

    return backward  # type: ignore[return-value]


# ------------------------------------------------------------------ one module, one place
def check_distinct(modules: Sequence[Any], name: str = "modules") -> None:
    """Refuse a module that appears twice in ``modules`` or anywhere inside them.

    A module keeps one forward cache and one set of gradients: used twice in one model, the
    second forward overwrites the first one's cache and backward mixes them (the gradients were
    off by ~1.9), and ``num_parameters`` counts it twice. Sharing weights is not supported.
    """
    seen: dict[int, str] = {}

    def walk(module: Any, path: str) -> None:
        if id(module) in seen:
            raise ValueError(
                f"{path}: the same {type(module).__name__} object as {seen[id(module)]}; a "
                "module can appear only once in a model (it keeps one forward cache, so a "
                "second use would give wrong gradients). For a second layer with the same "
                "initial weights use copy.deepcopy(module); shared weights are not supported"
            )
        seen[id(module)] = path
        for prefix, child in module.children() if hasattr(module, "children") else ():
            walk(child, f"{path}.{prefix}")

    for index, module in enumerate(modules):
        walk(module, f"{name}[{index}]")


# ------------------------------------------------------------------ Ctrl-C
@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold SIGINT back inside the block; deliver it, to the previous handler, at its end.

    Only the main thread receives signals in Python, and only there can a handler be set; in
    other threads the block runs as is (a KeyboardInterrupt cannot arrive there).
    """
    if threading.current_thread() is not threading.main_thread() or not callable(
        signal.getsignal(signal.SIGINT)
    ):  # not the main thread, or a handler installed outside Python: leave it alone
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            signal.raise_signal(signal.SIGINT)  # now handled as it would have been
