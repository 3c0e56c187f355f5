"""pickle and copy.deepcopy round trips are exact: parameters, grads, config, mode, RNG streams,
and the copy's ``params`` views are live. A model pickled in one process runs in another."""

import copy
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rnnlab
from rnnlab import GRULayer, LSTMLayer, RNNLayer
from rnnlab.layers import ForwardRequiredError
from rnnlab.models import GRU, LSTM, RNN, Bidirectional, Dense, Dropout, Embedding, Sequential

SRC = str(Path(rnnlab.__file__).resolve().parents[1])


def _factories():
    """(id, build, input) for every module kind and option; inputs are (T, B, F) or ids."""
    x = np.random.default_rng(0).normal(size=(4, 2, 3))
    ids = np.array([[0, 3], [2, 1], [4, 4]])
    return [
        ("rnn_head", lambda: RNNLayer(3, 4, 2, dtype=np.float64, seed=1), x),
        ("lstm_ln_zoneout", lambda: LSTMLayer(3, 4, layer_norm=True, zoneout=(0.3, 0.2),
                                              forget_bias=1.0, seed=2), x),
        ("gru_reset_after_zoneout", lambda: GRULayer(3, 4, 2, reset_after=True, zoneout=0.4,
                                                     layer_norm=True, dtype=np.float64, seed=3), x),
        ("gru_batch_first", lambda: GRULayer(3, 4, batch_first=True, seed=4), x),
        ("dense", lambda: Dense(3, 2, dtype=np.float64, seed=5), x),
        ("embedding", lambda: Embedding(5, 3, seed=6), ids),
        ("dropout", lambda: Dropout(0.5, seed=7), x),
        ("sequential", lambda: Sequential(LSTMLayer(3, 4, seed=8, zoneout=0.2),
                                          Dropout(0.3, seed=9), Dense(4, 2, seed=10)), x),
        ("bidirectional", lambda: Bidirectional(GRULayer(3, 4, seed=11, zoneout=0.3)), x),
        ("lstm_stack", lambda: LSTM(3, 4, 2, bidirectional=True, dropout=0.3, output_size=2,
                                    seed=12, layer_norm=True), x),
        ("gru_stack", lambda: GRU(3, 4, 2, dropout=0.2, seed=13, reset_after=True), x),
        ("rnn_stack", lambda: RNN(3, 4, 1, output_size=1, seed=14, dtype=np.float64), x),
    ]  # fmt: skip


FACTORIES = _factories()
IDS = [f[0] for f in FACTORIES]


def _exercised(build, x):
    """A module after a training forward/backward (grads non-zero, streams advanced)."""
    model = build()
    y = model.forward(x)
    if hasattr(model, "params") and model.params:
        model.backward(np.ones_like(y))
    return model


def _rng_states(model):
    if hasattr(model, "rng_state"):
        return model.rng_state()
    rng = getattr(model, "zoneout_rng", None)
    return {} if rng is None else {"zoneout": rng.bit_generator.state}


def _assert_same(a, b):
    assert type(a) is type(b)
    assert a.get_config() == b.get_config()
    assert a.training == b.training
    assert list(a.params) == list(b.params)
    for name in a.params:
        assert a.params[name].dtype == b.params[name].dtype
        np.testing.assert_array_equal(a.params[name], b.params[name])
        np.testing.assert_array_equal(a.grads[name], b.grads[name])
    assert _rng_states(a) == _rng_states(b)


COPIERS = {
    "pickle": lambda m: pickle.loads(pickle.dumps(m)),
    "pickle_protocol_2": lambda m: pickle.loads(pickle.dumps(m, protocol=2)),
    "deepcopy": copy.deepcopy,
}


@pytest.mark.parametrize("how", list(COPIERS))
@pytest.mark.parametrize(("name", "build", "x"), FACTORIES, ids=IDS)
def test_a_round_trip_is_exact_and_independent(name, build, x, how):
    model = _exercised(build, x)
    twin = COPIERS[how](model)
    _assert_same(model, twin)
    # the same streams in the same state: the next training forward draws the same masks
    model.train()
    twin.train()
    np.testing.assert_array_equal(twin.forward(x), model.forward(x))
    assert _rng_states(model) == _rng_states(twin)
    # independent: changing the copy leaves the original alone
    for name_, p in twin.params.items():
        before = model.params[name_].copy()
        p[...] = 0.5
        np.testing.assert_array_equal(model.params[name_], before)


WITH_PARAMS = [f for f in FACTORIES if f[0] != "dropout"]


@pytest.mark.parametrize("how", list(COPIERS))
@pytest.mark.parametrize(("name", "build", "x"), WITH_PARAMS, ids=[f[0] for f in WITH_PARAMS])
def test_the_copys_parameter_views_are_live(name, build, x, how):
    twin = COPIERS[how](_exercised(build, x).eval())
    assert twin.params
    reference = build().eval()
    for key in twin.params:
        twin.params[key][...] = 0.25  # writes through the view into the module
        reference.params[key] = np.full(reference.params[key].shape, 0.25)
    np.testing.assert_array_equal(twin.forward(x), reference.forward(x))
    twin.zero_grad()
    assert all(not g.any() for g in twin.grads.values())


@pytest.mark.parametrize("how", list(COPIERS))
def test_a_copy_keeps_eval_mode_and_grads(how):
    layer = _exercised(lambda: LSTMLayer(3, 4, zoneout=0.5, seed=0), FACTORIES[0][2]).eval()
    twin = COPIERS[how](layer)
    assert twin.training is False
    assert any(g.any() for g in twin.grads.values())
    x = FACTORIES[0][2]
    np.testing.assert_array_equal(twin.forward(x), layer.forward(x))  # eval: no masks drawn


def test_a_pickled_layer_has_no_forward_cache():
    layer = _exercised(lambda: GRULayer(3, 4, seed=0), FACTORIES[0][2])
    twin = pickle.loads(pickle.dumps(layer))
    with pytest.raises(ForwardRequiredError, match="before forward"):
        twin.backward(np.ones((4, 2, 4)))


def test_a_shared_stream_stays_shared_within_one_copy():
    layer = GRULayer(3, 4, seed=0, zoneout=0.3)
    pair = {"layer": layer, "bi": Bidirectional(layer)}
    twin = pickle.loads(pickle.dumps(pair))
    assert twin["bi"].forward_layer.zoneout_rng is twin["layer"].zoneout_rng
    stack = pickle.loads(pickle.dumps(LSTM(3, 4, 3, dropout=0.2, seed=0)))
    assert stack.dropouts[0].rng is stack.dropouts[1].rng


_CHILD = """
import pickle, sys
import numpy as np
model, x = pickle.load(sys.stdin.buffer)
model.train()
pickle.dump((model.forward(x), model.forward(x)), sys.stdout.buffer)
"""


@pytest.mark.parametrize("name", ["lstm_stack", "sequential", "gru_reset_after_zoneout"])
def test_a_model_pickled_here_runs_identically_in_another_process(name):
    _, build, x = FACTORIES[IDS.index(name)]
    model = _exercised(build, x)
    payload = pickle.dumps((model, x))
    env = {**os.environ, "PYTHONPATH": SRC}
    run = subprocess.run(
        [sys.executable, "-c", _CHILD], input=payload, capture_output=True, env=env, timeout=120
    )
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    first, second = pickle.loads(run.stdout)
    model.train()
    np.testing.assert_array_equal(first, model.forward(x))  # same masks drawn, in order
    np.testing.assert_array_equal(second, model.forward(x))


def test_loading_a_file_still_never_unpickles(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps(GRULayer(2, 3, seed=0)))
    with pytest.raises(rnnlab.CheckpointError, match="pickle"):
        rnnlab.load(path)


def test_a_model_and_its_optimizer_pickled_together_stay_bound():
    from rnnlab import optim

    x = FACTORIES[0][2]
    model = _exercised(lambda: LSTM(3, 4, 2, output_size=1, seed=0, dtype=np.float64), x)
    opt = optim.Adam(model, lr=0.01)
    opt.step()
    model2, opt2 = pickle.loads(pickle.dumps((model, opt)))
    for m, o in ((model, opt), (model2, opt2)):
        o.zero_grad()
        m.backward(np.ones_like(m.forward(x)))
        o.step()
    for name, p in model.params.items():
        np.testing.assert_array_equal(model2.params[name], p)
    assert opt2.step_count == 2


def test_a_params_dict_pickles_to_a_detached_snapshot_with_fixed_names():
    layer = GRULayer(3, 4, seed=0)
    snapshot = pickle.loads(pickle.dumps(layer.params))
    assert list(snapshot) == list(layer.params)
    snapshot["W_z"][...] = 7.0
    assert not np.any(layer.params["W_z"] == 7.0)
    with pytest.raises(KeyError, match="no parameter named 'W_q'"):
        snapshot["W_q"] = np.zeros((4, 3))


def test_per_process_bookkeeping_about_the_cache_is_not_pickled():
    # what a guard records about a forward (thread ids, stamps) means nothing in another process
    x = FACTORIES[0][2]
    for model in (GRULayer(3, 4, seed=0), Sequential(GRULayer(3, 4, seed=0), Dense(4, 1))):
        model.forward(x)
        model.__dict__["_guard_stamp"] = 41
        model.__dict__["_guard_threads"] = {1: 41}
        twin = pickle.loads(pickle.dumps(model))
        assert not [k for k in vars(twin) if k.startswith("_guard_")]
