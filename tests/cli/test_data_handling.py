"""Issue 12.6 and 11: the CLI's CSV files, the training column, --checkpoint DIR, recommend."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnlab.apps import load_outputs
from rnnlab.compare.recommend import LIMITED_DATA, decide
from rnnlab.data import load_csv_series, read_csv_column

from .helpers import run_rnnlab

WAVE = [round(float(np.sin(0.3 * i)) * 10 + 50, 4) for i in range(60)]


def _csv(path, header, rows):
    lines = ([",".join(header)] if header else []) + [",".join(map(str, r)) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ----------------------------------------------------------------- the reader
def test_a_utf8_bom_csv_from_excel_reads_by_column_name(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffdate,price\r\n".encode() + b"".join(b"d,%d\r\n" % i for i in range(5)))
    found = read_csv_column(path, "price")
    assert found.name == "price"
    assert found.has_header
    np.testing.assert_array_equal(found.values, np.arange(5.0))
    with pytest.raises(ValueError, match="row 2, column 'date': expected a number"):
        read_csv_column(path, "date")  # the first header is "date", not "\ufeffdate"


def test_a_csv_without_header_keeps_its_first_row(tmp_path):
    path = _csv(tmp_path / "plain.csv", None, [(i, 2 * i + 1) for i in range(6)])
    found = read_csv_column(path)
    assert not found.has_header
    np.testing.assert_array_equal(found.values, [1.0, 3.0, 5.0, 7.0, 9.0, 11.0])
    assert (found.name, found.index) == ("column 1", 1)
    np.testing.assert_array_equal(load_csv_series(path, 0), np.arange(6.0))
    with pytest.raises(ValueError, match=r"no header row .* give the column's 0-based index"):
        read_csv_column(path, "value")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"v\n1\n" + b"9" * 140_000 + b"\n", r"bad\.csv: line 3 is not a readable CSV row"),
        (bytes(range(256)) * 4, r"bad\.csv: looks like a binary file"),
        (
            "v\n1.0\ncaf\xe9\n".encode("latin-1"),
            r"bad\.csv: not UTF-8 text \(byte 0xe9 on line 3\)",
        ),
        (b"", r"bad\.csv: the file is empty"),
        (b"\n\n  \n", r"bad\.csv: the file is empty"),
        (b"v\n", r"bad\.csv: column 'v' has 0 values, too short"),
        (b"a,b\nx,y\nz,w\n", r"bad\.csv: row 2, column 'b': expected a number, got 'y'"),
        (b"a,b\n1,2\n3\n", r"bad\.csv: row 3, column 'b': the cell is empty"),
        (b"a,b\n1,nan\n", r"bad\.csv: row 2, column 'b': expected a finite number, got 'nan'"),
        (b"a,b\n1,2\n", r"bad\.csv: column index 5 is out of range; the file has 2 columns"),
    ],
)
def test_bad_files_are_value_errors_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    column = 5 if "out of range" in message else None
    with pytest.raises(ValueError, match=message):
        read_csv_column(path, column)


def test_a_directory_or_a_missing_file_is_named(tmp_path):
    with pytest.raises(ValueError, match="is a directory, expected a CSV file"):
        read_csv_column(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"nope\.csv: no such file"):
        read_csv_column(tmp_path / "nope.csv")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"v\n1\n" + b"9" * 140_000 + b"\n", "bad.csv: line 3 is not a readable CSV row"),
        ("v\n1.0\ncaf\xe9\n".encode("latin-1"), "bad.csv: not UTF-8 text"),
        (bytes(range(256)) * 4, "bad.csv: looks like a binary file"),
        (b"a,b\nx,y\nz,w\n", "bad.csv: row 2, column 'b': expected a number, got 'y'"),
    ],
)
def test_bad_csv_files_through_the_console_script(tmp_path, content, message):
    (tmp_path / "bad.csv").write_bytes(content)
    done = run_rnnlab("train", "--task", "csv:bad.csv", "--no-progress", cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"rnnlab train: error: {message}")
    assert not (tmp_path / "rnnlab-train").exists()  # refused before any output was made


# ----------------------------------------------------------------- train -> predict
def _train(cli, csv, *extra):
    result = cli(
        "train", "--task", f"csv:{csv}", "--steps", "2", "--hidden", "4", "--window", "5",
        "--no-progress", "--out", "m", *extra,
    )  # fmt: skip
    assert result.code == 0, result
    return result


def test_train_says_which_column_and_predict_reuses_it_and_its_scaling(cli, tmp_path):
    rows = [(i, w, 1000 + 7 * i) for i, w in enumerate(WAVE)]
    _csv(tmp_path / "data.csv", ("t", "wave", "other"), rows)
    result = _train(cli, "data.csv", "--column", "wave")
    assert "data.csv: column 'wave', 60 values" in result.out
    _, info = load_outputs(tmp_path / "m" / "model.safetensors")
    assert info["column"] == "wave"
    train_part = np.asarray(WAVE[:48])
    assert info["mean"] == pytest.approx(train_part.mean())
    assert info["std"] == pytest.approx(train_part.std())
    # predict --csv, no --column: the training column ("wave"), not the last one ("other")
    (tmp_path / "new.csv").write_text(
        "t,wave,other\n" + "".join(f"{i},{w},{9e9}\n" for i, w in enumerate(WAVE[:10]))
    )
    by_default = cli("predict", "--checkpoint", "m", "--csv", "new.csv", "--steps", "2")
    assert by_default.code == 0, by_default
    assert "# new.csv: column 'wave', 10 values" in by_default.out
    named = cli("predict", "--checkpoint", "m", "--csv", "new.csv", "--column", "wave")
    forecasts = [ln for ln in by_default.out.splitlines() if ln.startswith("t+")]
    assert forecasts == [ln for ln in named.out.splitlines() if ln.startswith("t+")][:2]
    values = [float(ln.split("\t")[1]) for ln in forecasts]
    assert all(30 < v < 70 for v in values)  # in the wave's units: the scaling was applied
    other = cli("predict", "--checkpoint", "m", "--csv", "new.csv", "--column", "other")
    assert [ln for ln in other.out.splitlines() if ln.startswith("t+")][:2] != forecasts


def test_train_without_column_names_the_last_one(cli, tmp_path):
    _csv(tmp_path / "data.csv", ("t", "wave"), list(enumerate(WAVE)))
    result = _train(cli, "data.csv")
    assert "data.csv: column 'wave' (the last; choose another with --column), 60 values" in (
        result.out
    )
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert metrics["column"] == "wave"


def test_train_on_a_headerless_csv_uses_every_row(cli, tmp_path):
    _csv(tmp_path / "plain.csv", None, [(w,) for w in WAVE])
    result = _train(cli, "plain.csv")
    assert "column 0 (0-based)" in result.out
    assert "60 values; row 1 is numbers: no header row, read as data" in result.out
    _, info = load_outputs(tmp_path / "m" / "model.safetensors")
    assert info["column"] == 0
    assert info["mean"] == pytest.approx(np.mean(WAVE[:48]))  # row 1 counted: 48 = 0.8 * 60


def test_column_with_a_task_that_has_no_csv_is_refused(cli):
    result = cli("train", "--task", "sine", "--column", "wave", "--steps", "1")
    assert result.code == 1
    assert "--column: applies to --task csv:PATH only" in result.err


def test_predict_accepts_the_directory_train_wrote(cli, tmp_path):
    _csv(tmp_path / "data.csv", ("t", "wave"), list(enumerate(WAVE)))
    _train(cli, "data.csv")
    from_dir = cli("predict", "--checkpoint", "m", "--steps", "3")
    from_file = cli("predict", "--checkpoint", "m/model.safetensors", "--steps", "3")
    assert from_dir.code == 0, from_dir
    assert from_dir.out == from_file.out
    assert len(from_dir.out.splitlines()) == 3


# ----------------------------------------------------------------- recommend
def _report(tmp_path, lengths):
    rows = [{"seq_len": n, "mean": 0.5} for n in lengths]
    table = {"adding": {c: rows for c in ("rnn", "lstm", "gru")}}
    (tmp_path / "rep").mkdir()
    (tmp_path / "rep" / "results.json").write_text(json.dumps({"longmem": {"table": table}}))
    return "rep"


def test_recommend_says_when_the_nearest_length_is_far(cli, tmp_path):
    report = _report(tmp_path, (5, 20))
    far = cli("recommend", "--seq-len", "500", "--report", report)
    assert far.code == 0
    assert "note: the nearest measured length, 20, is far from 500" in far.out
    near = cli("recommend", "--seq-len", "25", "--report", report)
    assert "Measured in" in near.out
    assert "far from" not in near.out


@pytest.mark.parametrize("seq_len", [3, 9, 10, 30, 50, 51, 80, 100, 101, 500])
@pytest.mark.parametrize("need_speed", [False, True])
def test_data_size_changes_the_answer_at_every_length(seq_len, need_speed):
    unknown = decide(seq_len, None, need_speed)
    limited = decide(seq_len, LIMITED_DATA - 1, need_speed)
    plenty = decide(seq_len, LIMITED_DATA, need_speed)
    assert limited != unknown
    assert limited[0] == "gru"  # the guide: limited data -> GRU
    assert "limited data" in limited[1]
    assert plenty[0] == unknown[0]
    assert f"{LIMITED_DATA} sequences is not limited data" in plenty[1]


def test_recommend_limited_data_through_the_cli(cli):
    assert cli("recommend", "--seq-len", "5").out.startswith("RNN")
    limited = cli("recommend", "--seq-len", "5", "--data-size", "200")
    assert limited.out.startswith("GRU  (limited data (200 < 1000 sequences): GRU rather than")
