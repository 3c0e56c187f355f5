"""Data sets: the synthetic tasks, the shipped sunspot series, text, and the CSV loader."""

import numpy as np
import pytest

from rnnlab.data import (
    ADDING_BASELINE_MSE,
    CharVocab,
    adding_problem,
    char_batches,
    copy_task,
    load_csv_series,
    load_pydoc_text,
    load_sunspots,
    make_windows,
    sine_windows,
    split_series,
)


def test_sine_windows_targets_are_the_next_value():
    x, y = sine_windows(4, 30, seed=0)
    assert x.shape == y.shape == (4, 30, 1)  # samples first
    np.testing.assert_allclose(x[:, 1:], y[:, :-1])  # noise-free: input at t+1 = target at t
    # sin(a + 0.1) + sin(a - 0.1) = 2 cos(0.1) sin(a): the samples are sin(0.1 t).
    np.testing.assert_allclose(x[:, 2:] + x[:, :-2], 2 * np.cos(0.1) * x[:, 1:-1], atol=1e-12)
    assert len({float(w[0, 0]) for w in x}) == 4  # each window has its own phase


def test_adding_problem_marks_two_steps_and_sums_them():
    x, y = adding_problem(50, 12, seed=1)
    assert x.shape == (50, 12, 2)
    assert y.shape == (50, 1)
    markers = x[..., 1]  # (N, T)
    np.testing.assert_array_equal(markers.sum(axis=1), 2.0)
    # One marker in each half, so the first value must be carried at least T/2 steps on average.
    assert (markers[:, :6].sum(axis=1) == 1).all()
    assert (markers[:, 6:].sum(axis=1) == 1).all()
    np.testing.assert_allclose(y[:, 0], (x[..., 0] * markers).sum(axis=1))


def test_adding_problem_baseline_mse_is_one_sixth():
    _, y = adding_problem(20000, 4, seed=2)
    assert abs(np.mean((y - 1.0) ** 2) - ADDING_BASELINE_MSE) < 0.01


def test_adding_problem_same_seed_same_data_and_bad_length():
    a, b = adding_problem(3, 5, seed=7), adding_problem(3, 5, seed=7)
    np.testing.assert_array_equal(a[0], b[0])
    with pytest.raises(ValueError, match="seq_len"):
        adding_problem(3, 1, seed=0)


def test_copy_task_label_is_the_first_symbol_with_flag():
    x, labels = copy_task(40, 9, num_symbols=4, seed=3)
    assert x.shape == (40, 9, 5)
    assert labels.shape == (40,)
    np.testing.assert_array_equal(x[:, 0, :4].argmax(axis=1), labels)
    np.testing.assert_array_equal(x[:, :, :4].sum(axis=2), 1.0)  # one symbol a step
    np.testing.assert_array_equal(x[:, 0, 4], 1.0)
    np.testing.assert_array_equal(x[:, 1:, 4], 0.0)


def test_sunspots_are_the_yearly_series():
    years, values = load_sunspots()
    assert years[0] == 1700
    assert years[-1] == 2008
    assert values.size == 309
    np.testing.assert_array_equal(np.diff(years), 1)
    assert values[0] == 5.0
    assert values[-1] == 2.9
    assert values.min() >= 0


def test_make_windows_and_split():
    series = np.arange(10.0)
    x, y = make_windows(series, 3)
    assert x.shape == (7, 3, 1)  # samples first
    assert y.shape == (7, 1)
    np.testing.assert_array_equal(x[2, :, 0], [2, 3, 4])
    assert y[2, 0] == 5
    with pytest.raises(ValueError, match="too short for window 10"):
        make_windows(series, 10)
    train, test = split_series(series, 0.8)
    assert train.size == 8
    assert test[0] == 8


def _write(tmp_path, text, name="s.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_loader_reads_named_indexed_and_last_columns(tmp_path):
    path = _write(tmp_path, "day,temp,rain\n1,20.5,0\n2,21.0,3\n\n3,19.5,1\n")
    np.testing.assert_array_equal(load_csv_series(path, "temp"), [20.5, 21.0, 19.5])
    np.testing.assert_array_equal(load_csv_series(path, 0), [1, 2, 3])
    np.testing.assert_array_equal(load_csv_series(path), [0, 3, 1])


def test_csv_loader_errors_name_file_row_and_column(tmp_path):
    path = _write(tmp_path, "t,value\n1,2.0\n2,abc\n")
    with pytest.raises(ValueError, match=r"s\.csv: row 3, column 'value': expected a number"):
        load_csv_series(path, "value")
    path = _write(tmp_path, "t,value\n1,2.0\n2,\n")
    with pytest.raises(ValueError, match=r"row 3, column 'value': the cell is empty"):
        load_csv_series(path)
    path = _write(tmp_path, "t,value\n1,nan\n")
    with pytest.raises(ValueError, match="row 2, column 'value': expected a finite number"):
        load_csv_series(path)
    with pytest.raises(ValueError, match=r"no column named 'temp'; the header \(row 1\)"):
        load_csv_series(path, "temp")
    with pytest.raises(ValueError, match="column index 5 is out of range"):
        load_csv_series(path, 5)
    with pytest.raises(FileNotFoundError, match=r"missing\.csv: no such file"):
        load_csv_series(tmp_path / "missing.csv")
    path = _write(tmp_path, "t,value\n1,2\n2,3\n")
    with pytest.raises(ValueError, match="has 2 values, too short: at least 5"):
        load_csv_series(path, min_length=5)
    with pytest.raises(ValueError, match="the file is empty"):
        load_csv_series(_write(tmp_path, "\n\n", "empty.csv"))


def test_text_vocab_round_trip_and_batches():
    text = load_pydoc_text()
    assert len(text) > 100_000
    assert "assert" in text
    vocab = CharVocab.from_text(text[:5000])
    ids = vocab.encode(text[:5000])
    assert vocab.decode(ids) == text[:5000]
    with pytest.raises(ValueError, match="not in the vocabulary"):
        CharVocab.from_text("abc").encode("abz")
    inputs, targets = char_batches(ids, 20, 8, seed=0)
    assert inputs.shape == targets.shape == (8, 20)  # samples first
    np.testing.assert_array_equal(inputs[:, 1:], targets[:, :-1])
    for row in inputs:  # each row is a contiguous window of the text
        assert vocab.decode(row) in text[:5000]


@pytest.mark.parametrize(
    "make",
    [
        lambda: sine_windows(6, 9, seed=0),
        lambda: adding_problem(6, 9, seed=0),
        lambda: copy_task(6, 9, seed=0),
        lambda: make_windows(np.sin(np.arange(15.0)), 9),
    ],
)
def test_every_data_set_goes_straight_into_fit(make):
    """Samples-first data trains as returned, whatever the model's batch_first."""
    from rnnlab import LSTMLayer, fit, optim

    X, Y = make()
    assert len(X) == len(Y) == 6
    assert X.shape[1] == 9
    classes = Y.dtype.kind == "i"
    out = int(Y.max()) + 1 if classes else Y.shape[-1]
    for batch_first in (False, True):
        model = LSTMLayer(X.shape[-1], 4, out, seed=0, batch_first=batch_first, dtype=np.float64)
        h = fit(model, X, Y, loss="cross_entropy" if classes else "mse", epochs=2, batch_size=3,
                seed=0, optimizer=optim.SGD(model, lr=0.1), progress=False)  # fmt: skip
        assert len(h.loss) == 2


def test_a_time_major_data_set_is_refused_with_the_reason():
    from rnnlab import GRULayer, fit

    X, Y = adding_problem(6, 9, seed=0)
    with pytest.raises(ValueError, match=r"is X time-major \(T, N, \.\.\.\)\? Swap its first two"):
        fit(GRULayer(2, 3, 1, seed=0), np.swapaxes(X, 0, 1), Y, progress=False)


def test_same_seed_gives_the_same_numbers_as_the_time_major_generators_did():
    """The layout changed, not the data: a seed still draws the same values."""
    x, _ = adding_problem(3, 5, seed=7)
    rng = np.random.default_rng(7)
    values = rng.uniform(0.0, 1.0, size=(5, 3))  # drawn (T, B), as always
    np.testing.assert_array_equal(x[..., 0], values.T)
