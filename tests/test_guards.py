"""In-place changes before backward (issue 11.5) and one module in two places (11.6).

Each case runs a model twice on the same data: once untouched, once with the change a user
could make between forward and backward. Either the change raises a clear error at once, or
the gradients are exactly those of the untouched run; never a different number silently.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnlab import GRULayer, LSTMLayer, RNNLayer, StaleForwardError
from rnnlab.models import (
    GRU,
    LSTM,
    Bidirectional,
    Dense,
    Dropout,
    Embedding,
    ReLU,
    Sequential,
    Tanh,
)
from tests.conftest import HYPOTHESIS_SETTINGS

READ_ONLY = "read-only"


def _grads(model):
    return {name: np.array(g) for name, g in model.grads.items()}


def _layers():
    """(id, factory, forward keyword arguments) for every recurrent family and option path."""
    opts = dict(dtype=np.float64, seed=0)
    return [
        ("rnn", lambda: RNNLayer(3, 4, **opts), {}),
        ("lstm", lambda: LSTMLayer(3, 4, **opts), {}),
        ("gru", lambda: GRULayer(3, 4, **opts), {}),
        ("rnn_reference", lambda: RNNLayer(3, 4, backend="reference", **opts), {}),
        ("lstm_masked", lambda: LSTMLayer(3, 4, **opts), {"lengths": np.array([5, 2])}),
        ("gru_layer_norm", lambda: GRULayer(3, 4, layer_norm=True, **opts), {}),
        ("lstm_zoneout", lambda: LSTMLayer(3, 4, zoneout=0.3, **opts), {}),
        ("gru_head", lambda: GRULayer(3, 4, 2, **opts), {}),
        ("lstm_batch_first", lambda: LSTMLayer(3, 4, batch_first=True, **opts), {}),
    ]


LAYERS = _layers()
LAYER_IDS = [case[0] for case in LAYERS]


def _data(layer):
    rng = np.random.default_rng(1)
    shape = (2, 5, 3) if layer.batch_first else (5, 2, 3)
    x = rng.standard_normal(shape)
    out = (layer.output_size or layer.hidden_size,)
    dy = rng.standard_normal(shape[:2] + out)
    state = rng.standard_normal((2, 4))
    if layer.has_cell_state:
        state = (state, rng.standard_normal((2, 4)))
    return x, dy, state


def _run(factory, kwargs, change=None):
    """forward, ``change(x, state, lengths, y, layer)``, backward: (dx, grads, d_initial)."""
    layer = factory()
    if getattr(layer, "zoneout_rng", None) is not None:
        layer.zoneout_rng = np.random.default_rng(7)  # the same masks in both runs
    x, dy, state = _data(layer)
    lengths = None if "lengths" not in kwargs else kwargs["lengths"].copy()
    y = layer.forward(x, state, lengths=lengths)
    if change is not None:
        change(x, state, lengths, y, layer)
    dx = layer.backward(dy)
    return dx, _grads(layer), layer.grad_initial_state


def _assert_same(a, b):
    np.testing.assert_array_equal(a[0], b[0])
    for name in a[1]:
        np.testing.assert_array_equal(a[1][name], b[1][name], err_msg=name)
    for da, db in zip(np.atleast_1d(a[2]), np.atleast_1d(b[2]), strict=True):
        np.testing.assert_array_equal(da, db)


def _scale_state(state):
    for part in state if isinstance(state, tuple) else (state,):
        part *= 3.0


INPUT_CHANGES = {
    "x": lambda x, state, lengths, y, layer: x.__imul__(-2.0),
    "state": lambda x, state, lengths, y, layer: _scale_state(state),
    "lengths": lambda x, state, lengths, y, layer: lengths is not None and lengths.fill(5),
}


INPUT_CASES = [
    (what, *case)
    for what in sorted(INPUT_CHANGES)
    for case in LAYERS
    if what != "lengths" or "lengths" in case[2]
]


@pytest.mark.parametrize(
    ("what", "name", "factory", "kwargs"), INPUT_CASES, ids=[f"{c[0]}-{c[1]}" for c in INPUT_CASES]
)
def test_caller_arrays_changed_before_backward_do_not_change_gradients(what, name, factory, kwargs):
    """x, the initial state and lengths are the caller's: the cache keeps its own copies."""
    _assert_same(_run(factory, kwargs, INPUT_CHANGES[what]), _run(factory, kwargs))


def _write(target):
    target[...] = 0.0


@pytest.mark.parametrize(("name", "factory", "kwargs"), LAYERS, ids=LAYER_IDS)
def test_arrays_backward_reads_are_handed_out_read_only(name, factory, kwargs):
    layer = factory()
    x, _, state = _data(layer)
    y = layer.forward(x, state, **kwargs)
    handed_out = [y, layer.hidden_states, layer.final_state]
    if layer.has_cell_state:
        handed_out += [layer.cell_states, layer.get_cell_states()]
    flat = []
    for item in handed_out:
        flat.extend(item if isinstance(item, tuple) else (item,))
    for array in flat:
        with pytest.raises(ValueError, match=READ_ONLY):
            _write(array)
        with pytest.raises(ValueError, match=READ_ONLY):
            array += 1.0
    # the copy a user takes to change the values is an ordinary array
    y.copy()[...] = 0.0


def test_the_reported_case_raises_at_the_write():
    """issue 11.5: y = layer(x); y[3:] = 0; layer.backward(dy) was off by ~0.6 silently."""
    layer = LSTMLayer(3, 4, seed=0)
    y = layer(np.ones((6, 2, 3), np.float32))
    with pytest.raises(ValueError, match="assignment destination is read-only"):
        y[3:] = 0


def test_next_forward_may_take_the_final_state_as_its_state():
    """The stateful loop: a read-only final state is a valid initial state."""
    layer = LSTMLayer(3, 4, dtype=np.float64, seed=0)
    x = np.random.default_rng(2).standard_normal((4, 2, 3))
    layer.forward(x)
    state = layer.final_state
    y = layer.forward(x, state)
    reference = LSTMLayer(3, 4, dtype=np.float64, seed=0)
    reference.forward(x)
    np.testing.assert_array_equal(
        y, reference.forward(x, tuple(s.copy() for s in reference.final_state))
    )


def _model_cases():
    opts = dict(dtype=np.float64, seed=0)
    return [
        ("dense", lambda: Dense(3, 2, **opts), (5, 2, 3)),
        ("tanh", Tanh, (5, 2, 3)),
        ("relu", ReLU, (5, 2, 3)),
        (
            "sequential",
            lambda: Sequential(LSTMLayer(3, 4, **opts), Tanh(), Dense(4, 2, **opts)),
            (5, 2, 3),
        ),
        ("bidirectional", lambda: Bidirectional(GRULayer(3, 4, **opts)), (5, 2, 3)),
        ("stack", lambda: LSTM(3, 4, num_layers=2, **opts), (5, 2, 3)),
        ("stack_head", lambda: GRU(3, 4, num_layers=2, output_size=2, **opts), (5, 2, 3)),
    ]


MODELS = _model_cases()


def _run_model(factory, shape, change_x=False, change_y=False):
    model = factory()
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape)
    y = model.forward(x)
    dy = rng.standard_normal(y.shape)
    if change_x:
        x *= -2.0
    if change_y:
        if y.flags.writeable:  # not read-only: then it must not be what backward reads
            y[...] = 0.0
        else:
            with pytest.raises(ValueError, match=READ_ONLY):
                y[...] = 0.0
    return model.backward(dy), _grads(model)


@pytest.mark.parametrize(("name", "factory", "shape"), MODELS, ids=[m[0] for m in MODELS])
@pytest.mark.parametrize("change", ["x", "y"])
def test_models_input_and_output_changes_do_not_change_gradients(name, factory, shape, change):
    changed = _run_model(factory, shape, change_x=change == "x", change_y=change == "y")
    clean = _run_model(factory, shape)
    np.testing.assert_array_equal(changed[0], clean[0])
    for key in clean[1]:
        np.testing.assert_array_equal(changed[1][key], clean[1][key], err_msg=key)


def test_embedding_ids_changed_before_backward():
    ids = np.array([[0, 1], [2, 1]])
    dy = np.arange(12.0).reshape(2, 2, 3)
    emb = Embedding(4, 3, dtype=np.float64, seed=0)
    emb.forward(ids)
    ids[...] = 3
    emb.backward(dy)
    np.testing.assert_array_equal(emb.grads["W"][3], 0.0)  # id 3 was never looked up
    np.testing.assert_array_equal(emb.grads["W"][1], dy[0, 1] + dy[1, 1])


def test_dropout_mask_is_read_only():
    drop = Dropout(0.5, seed=0)
    drop.forward(np.ones((4, 3)))
    with pytest.raises(ValueError, match=READ_ONLY):
        drop.mask[...] = 1.0


# ------------------------------------------------------------------ one module, one place
def _repeats():
    layer = LSTMLayer(3, 3, seed=0)
    stack = LSTM(3, 3, seed=0)
    bi = Bidirectional(GRULayer(3, 3, seed=0))
    dense = Dense(3, 3)
    return [
        ("layer_twice", lambda: Sequential(layer, layer), r"modules\[1\]: the same LSTMLayer"),
        ("stack_twice", lambda: Sequential(stack, Dense(3, 3), stack), r"modules\[2\]: the same"),
        ("bidirectional_twice", lambda: Sequential(bi, Dense(6, 6), Dense(6, 6), bi), "same"),
        ("nested", lambda: Sequential(Sequential(dense, Tanh()), dense), r"modules\[0\]\.0"),
        ("list_form", lambda: Sequential([dense, dense]), r"modules\[1\]: the same Dense"),
    ]


@pytest.mark.parametrize(("name", "build", "match"), _repeats(), ids=[r[0] for r in _repeats()])
def test_a_repeated_module_is_refused(name, build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_the_reported_case_is_refused_and_copies_work():
    """issue 11.6: Sequential(l, l) gave gradients off by ~1.9; deepcopy gives two layers."""
    layer = RNNLayer(3, 3, dtype=np.float64, seed=0)
    with pytest.raises(ValueError, match=r"copy\.deepcopy"):
        Sequential(layer, layer)
    first, second = copy.deepcopy(layer), copy.deepcopy(layer)  # run by hand below
    model = Sequential(layer, copy.deepcopy(layer))
    assert model.num_parameters() == 2 * layer.num_parameters()
    x = np.random.default_rng(4).standard_normal((4, 2, 3))
    y = model(x)
    dy = np.ones_like(y)
    model.backward(dy)
    second(first(x))
    first.backward(second.backward(dy))
    np.testing.assert_allclose(model.grads["0.W_xh"], first.grads["W_xh"], rtol=1e-12)


def _shared_pair():
    shared = GRULayer(3, 4, dtype=np.float64, seed=0)
    one = Sequential(shared, Dense(4, 2, dtype=np.float64, seed=1))
    two = Sequential(shared, Dense(4, 1, dtype=np.float64, seed=2))
    return shared, one, two


def test_a_module_in_two_containers_raises_at_the_stale_backward():
    _, one, two = _shared_pair()
    rng = np.random.default_rng(5)
    x1, x2 = rng.standard_normal((2, 4, 2, 3))
    y1 = one(x1)
    two(x2)  # runs `shared` again: its cache is now x2's
    with pytest.raises(StaleForwardError, match=r"child 0 \(GRULayer\) ran another forward"):
        one.backward(np.ones_like(y1))
    y1 = one(x1)  # forward again: then backward is fine
    one.backward(np.ones_like(y1))


def test_a_child_called_directly_between_forward_and_backward_is_detected():
    shared, one, _ = _shared_pair()
    x = np.random.default_rng(6).standard_normal((4, 2, 3))
    y = one(x)
    shared(x[:2])
    with pytest.raises(StaleForwardError, match="run this module's forward again"):
        one.backward(np.ones_like(y))


def test_bidirectional_keeps_its_own_copy_of_the_wrapped_layer():
    """Bidirectional(l) copies l: running l itself in between changes nothing (held)."""
    layer = GRULayer(3, 4, dtype=np.float64, seed=0)
    bi = Bidirectional(layer)
    x = np.random.default_rng(7).standard_normal((4, 2, 3))
    y = bi(x)
    dy = np.random.default_rng(8).standard_normal(y.shape)
    layer(x[::-1].copy())
    dx = bi.backward(dy)
    clean = Bidirectional(GRULayer(3, 4, dtype=np.float64, seed=0))
    clean(x)
    np.testing.assert_array_equal(dx, clean.backward(dy))


@pytest.mark.parametrize(
    "factory",
    [
        lambda: LSTMLayer(3, 4, dtype=np.float64, seed=0),
        lambda: GRU(3, 4, num_layers=2, output_size=2, dtype=np.float64, seed=0),
        lambda: Sequential(RNNLayer(3, 4, dtype=np.float64, seed=0), Dense(4, 2, seed=1)),
    ],
    ids=["layer", "stack_head", "sequential"],
)
def test_an_optimizer_step_between_forward_and_backward_is_refused(factory):
    """The weights changed after forward: backward would mix old activations and new weights."""
    from rnnlab.optim import SGD

    model = factory()
    opt = SGD(model, lr=0.1)
    x = np.random.default_rng(9).standard_normal((4, 2, 3))
    y = model(x)
    model.backward(np.ones_like(y))
    opt.step()  # the right order: forward, backward, step
    y = model(x)
    opt.step()
    before = _grads(model)
    with pytest.raises(StaleForwardError, match=r"call backward before optimizer\.step\(\)"):
        model.backward(np.ones_like(y))
    for key, grad in _grads(model).items():  # refused before anything accumulated
        np.testing.assert_array_equal(grad, before[key])
    y = model(x)  # a fresh forward is fine
    model.backward(np.ones_like(y))


def test_no_copy_under_no_grad():
    """Inference keeps no cache for backward: the caller's x is not copied there."""
    from rnnlab import no_grad
    from rnnlab.guards import own

    x = np.ones((4, 2, 3))
    with no_grad():
        assert own(x, x) is x
    assert own(x, x) is not x
    assert own(x[1:], x) is not None
    assert not np.shares_memory(own(x[1:], x), x)


def test_a_copy_used_where_stamps_start_afresh_raises_nothing(monkeypatch):
    """A model trained, stepped and copied (pickled to a worker process, whose stamp counter
    starts elsewhere) must train there without a false StaleForwardError."""
    import itertools

    from rnnlab import guards
    from rnnlab.optim import SGD

    model = Sequential(LSTMLayer(3, 4, dtype=np.float64, seed=0), Dense(4, 2, seed=1))
    opt = SGD(model, lr=0.1)
    x = np.ones((4, 2, 3))
    for _ in range(2):
        y = model(x)
        model.backward(np.ones_like(y))
        opt.step()
    twin = copy.deepcopy(model)
    monkeypatch.setattr(guards, "_stamps", itertools.count(1))  # as in a fresh process
    twin_opt = SGD(twin, lr=0.1)
    for _ in range(3):
        y = twin(x)
        twin.backward(np.ones_like(y))
        twin_opt.step()
    y = twin(x)
    twin_opt.step()
    with pytest.raises(StaleForwardError):  # still detected there
        twin.backward(np.ones_like(y))


@HYPOTHESIS_SETTINGS
@given(
    cell=st.sampled_from([RNNLayer, LSTMLayer, GRULayer]),
    num_steps=st.integers(1, 5),
    batch_size=st.integers(1, 3),
    batch_first=st.booleans(),
    padded=st.booleans(),
    changes=st.sets(st.sampled_from(["x", "state", "lengths"]), min_size=1),
    seed=st.integers(0, 2**16),
)
def test_fuzz_caller_arrays_changed_before_backward(
    cell, num_steps, batch_size, batch_first, padded, changes, seed
):
    """Any shape, layout and padding; any set of the caller's arrays rewritten in place."""
    rng = np.random.default_rng(seed)
    shape = (batch_size, num_steps, 2) if batch_first else (num_steps, batch_size, 2)
    x = rng.standard_normal(shape)
    dy = rng.standard_normal((*shape[:2], 3))
    h0 = rng.standard_normal((batch_size, 3))
    lengths = rng.integers(1, num_steps + 1, batch_size) if padded else None

    def run(change):
        layer = cell(2, 3, batch_first=batch_first, dtype=np.float64, seed=seed)
        state = (h0.copy(), h0.copy() * 0.5) if layer.has_cell_state else h0.copy()
        given_x = x.copy()
        given_lengths = None if lengths is None else lengths.copy()
        layer.forward(given_x, state, lengths=given_lengths)
        if change:
            given_x[...] = 0.0 if "x" in changes else given_x
            for part in state if isinstance(state, tuple) else (state,):
                part *= 2.0 if "state" in changes else 1.0
            if given_lengths is not None and "lengths" in changes:
                given_lengths[...] = num_steps
        dx = layer.backward(dy)
        return dx, _grads(layer)

    changed, clean = run(True), run(False)
    np.testing.assert_array_equal(changed[0], clean[0])
    for name in clean[1]:
        np.testing.assert_array_equal(changed[1][name], clean[1][name], err_msg=name)
