"""The data of the new compare sections: the temporal-order problem and the fixed training sets."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.compare.limited_data import DataJob
from rnnlab.compare.temporal_order import SYMBOLS, WINDOWS, OrderJob, temporal_order


@pytest.mark.parametrize("num_relevant", [2, 3])
def test_temporal_order_labels_are_the_order_of_x_and_y(num_relevant):
    x, labels = temporal_order(300, 50, num_relevant=num_relevant, seed=0)
    assert x.shape == (300, 50, len(SYMBOLS))  # samples first
    assert labels.shape == (300,)
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(x.sum(axis=-1), 1.0)  # one symbol per step
    symbols = x.argmax(axis=-1)
    assert (symbols[:, 0] == SYMBOLS.index("B")).all()
    assert (symbols[:, -1] == SYMBOLS.index("E")).all()
    for row, label in zip(symbols, labels, strict=True):
        steps = np.flatnonzero((row == SYMBOLS.index("X")) | (row == SYMBOLS.index("Y")))
        assert len(steps) == num_relevant
        bits = [int(row[t] == SYMBOLS.index("Y")) for t in steps]
        assert int("".join(map(str, bits)), 2) == label
        for t, (start, end) in zip(steps, WINDOWS[num_relevant], strict=True):
            assert round(start * 50) <= t <= round(end * 50)
    assert set(labels) == set(range(2**num_relevant))  # every order occurs


def test_temporal_order_is_reproducible_and_refuses_bad_arguments():
    a, la = temporal_order(5, 20, seed=3)
    b, lb = temporal_order(5, 20, seed=3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lb)
    with pytest.raises(ValueError, match="seq_len: expected an int >= 10"):
        temporal_order(5, 9)
    with pytest.raises(ValueError, match="num_relevant: expected 2 or 3"):
        temporal_order(5, 20, num_relevant=4)
    with pytest.raises(ValueError, match="num_sequences"):
        temporal_order(0, 20)


def test_limited_data_jobs_share_the_training_set_across_cells_but_not_sizes():
    def job(cell, size):
        return DataJob(cell, size, 0, 0, 8, 4, 0, 4, 1e-2)

    assert job("gru", 50).seed_sequence(0).entropy == job("lstm", 50).seed_sequence(0).entropy
    assert job("gru", 50).seed_sequence(0).entropy != job("gru", 200).seed_sequence(0).entropy
    # with no updates the held-out score is the untrained model's: a number, finite
    result = job("gru", 50).run()
    assert np.isfinite(result["score"])
    assert result["train_size"] == 50


def test_order_job_learns_the_short_temporal_order_problem():
    """12 steps, 150 updates: a GRU orders the two symbols far above chance (score 0)."""
    result = OrderJob("gru", 12, 0, 0, 2, 16, 150, 32, 2e-2).run()
    assert result["score"] > 0.5
    assert 0.0 <= result["raw_metric"] <= 1.0
