"""Issue 11, "Clear errors, not tracebacks": every user mistake is one line and an exit code.

Exit codes: 2 for usage errors (argparse, refused at parse time), 1 for bad input found later
(always before the work starts where the input is known up front), 130 on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import pytest

from .helpers import environment, rnnlab_command, run_rnnlab

# ----------------------------------------------------------------- refused at parse time (2)
PARSE_ERRORS = [
    (("train", "--task", "sine", "--seed", "-1"), "argument --seed: expected an integer >= 0"),
    (("train", "--task", "sine", "--lr", "nan"), "argument --lr: expected a finite number > 0"),
    (("train", "--task", "sine", "--lr", "inf"), "argument --lr: expected a finite number > 0"),
    (("train", "--task", "sine", "--lr", "0"), "argument --lr: expected a finite number > 0"),
    (("train", "--task", "sine", "--lr", "fast"), "argument --lr: expected a number, got 'fast'"),
    (("train", "--task", "sine", "--steps", "0"), "argument --steps: expected an integer >= 1"),
    (("train", "--task", "sine", "--hidden", "-4"), "argument --hidden: expected an integer >= 1"),
    (("train", "--task", "sine", "--window", "0"), "argument --window: expected an integer >= 1"),
    (("train", "--task", "adding", "--seq-len", "x"), "argument --seq-len: expected an integer"),
    (("train", "--task", "sine", "--cell", "tcn"), "argument --cell: invalid choice"),
    (("train",), "the following arguments are required: --task"),
    (("generate", "--checkpoint", "m", "--temperature", "nan"), "argument --temperature"),
    (("generate", "--checkpoint", "m", "--temperature", "-1"), "argument --temperature"),
    (("generate", "--checkpoint", "m", "--temperature", "0"), "argument --temperature"),
    (("generate", "--checkpoint", "m", "--length", "0"), "argument --length"),
    (("generate", "--checkpoint", "m", "--seed", "-1"), "argument --seed"),
    (("predict", "--checkpoint", "m", "--steps", "-3"), "argument --steps"),
    (("compare", "--seed", "-1"), "argument --seed: expected an integer >= 0"),
    (("compare", "--seq-lens", "5,-1"), "argument --seq-lens: expected an integer >= 1"),
    (("compare", "--seq-lens", "5,x"), "argument --seq-lens: expected an integer, got 'x'"),
    (("compare", "--cells", ","), "argument --cells: expected a comma-separated list"),
    (("compare", "--jobs", "0"), "argument --jobs"),
    (("compare", "--seeds", "0"), "argument --seeds"),
    (("compare", "--steps", "-1"), "argument --steps"),
    (("compare", "--quick", "--full"), "not allowed with argument"),
    (("recommend", "--seq-len", "0"), "argument --seq-len: expected an integer >= 1"),
    (("recommend", "--seq-len", "10", "--data-size", "0"), "argument --data-size"),
    (("recommend",), "the following arguments are required: --seq-len"),
    (("gradflow", "--seq-len", "1"), "argument --seq-len: expected at least 2 steps"),
    (("gradflow", "--train-steps", "-1"), "argument --train-steps: expected an integer >= 0"),
    (("gradflow", "--seed", "-2"), "argument --seed"),
    (("gradflow", "--hidden", "0"), "argument --hidden"),
    (("bench", "--sizes", "1,2,3"), "argument --sizes: expected T,B,I,H: four positive integers"),
    (("bench", "--sizes", "10,1,1,0"), "argument --sizes: expected T,B,I,H"),
    (("bench", "--threads", "0"), "argument --threads: expected an integer >= 1"),
    (("demo", "--steps", "0"), "argument --steps: expected an integer >= 1"),
    (("demo", "--seed", "-1"), "argument --seed: expected an integer >= 0"),
    (("frobnicate",), "invalid choice"),
]


@pytest.mark.parametrize(("argv", "message"), PARSE_ERRORS)
def test_bad_arguments_are_usage_errors_at_parse_time(cli, argv, message):
    result = cli(*argv)
    assert result.code == 2, result
    assert message in result.err


def test_a_usage_error_prints_a_message_not_a_traceback_from_the_console_script(tmp_path):
    # bench --sizes 1,2,3 once printed a traceback around a good message.
    done = run_rnnlab("bench", "--sizes", "1,2,3", cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "rnnlab bench: error: argument --sizes: expected T,B,I,H: four positive integers, "
        "got '1,2,3'"
    )


# ----------------------------------------------------------------- output places (1, early)
def _unwritable_dir(tmp_path):
    """A place no one can create a directory in: a read-only directory, or /proc for root."""
    if os.geteuid() == 0:  # root writes through permission bits; /proc refuses everyone
        return "/proc/rnnlab-test-output"
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    return str(locked / "out")


@pytest.mark.parametrize("command", ["train", "compare"])
def test_out_that_is_a_file_is_refused_before_the_work(cli, tmp_path, command):
    (tmp_path / "taken").write_text("my notes\n")
    argv = ("train", "--task", "sine") if command == "train" else ("compare", "--quick")
    start = time.perf_counter()
    result = cli(*argv, "--steps", "100000", "--out", "taken")
    assert result.code == 1, result
    assert f"rnnlab {command}: error: --out: taken exists and is not a directory" in result.err
    assert (tmp_path / "taken").read_text() == "my notes\n"
    # 100000 training steps would take minutes: the check came before the work.
    assert time.perf_counter() - start < 30


@pytest.mark.parametrize("command", ["train", "compare"])
def test_out_in_a_read_only_place_is_refused_before_the_work(cli, tmp_path, command):
    out = _unwritable_dir(tmp_path)
    argv = ("train", "--task", "sine") if command == "train" else ("compare", "--quick")
    result = cli(*argv, "--steps", "100000", "--out", out)
    assert result.code == 1, result
    assert f"--out: cannot create the directory {out}" in result.err


def test_compare_report_md_that_is_a_directory_is_refused_before_the_run(cli, tmp_path):
    (tmp_path / "rep" / "report.md").mkdir(parents=True)
    result = cli("compare", "--quick", "--steps", "100000", "--out", "rep")
    assert result.code == 1, result
    assert "--out: rep/report.md exists and is not a regular file" in result.err
    assert sorted(p.name for p in (tmp_path / "rep").iterdir()) == ["report.md"]  # no .tmp


def test_train_checkpoint_place_that_is_a_directory_is_refused(cli, tmp_path):
    (tmp_path / "m" / "model.safetensors").mkdir(parents=True)
    result = cli("train", "--task", "sine", "--steps", "100000", "--out", "m")
    assert result.code == 1, result
    assert "--out: m/model.safetensors exists and is not a regular file" in result.err


def test_gradflow_out_that_is_a_directory_is_refused(cli, tmp_path):
    (tmp_path / "g.png").mkdir()
    result = cli("gradflow", "--out", "g.png", "--seq-len", "3000")
    assert result.code == 1, result
    assert "--out: g.png exists and is not a regular file" in result.err


# ----------------------------------------------------------------- checkpoints (1)
@pytest.fixture(scope="module")
def series_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("series") / "m"
    done = run_rnnlab(
        "train", "--task", "sine", "--steps", "3", "--hidden", "4", "--window", "5",
        "--no-progress", "--out", str(out), cwd=out.parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


def _rewrite_header(src, dst, change):
    """Copy a checkpoint with its rnnlab header changed by hand (as a damaged file would be)."""
    import json

    from safetensors.numpy import load_file, save_file

    from rnnlab import io

    tensors = load_file(str(src))
    with open(src, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        meta = json.loads(f.read(n))["__metadata__"]
    header = json.loads(meta[io.FORMAT])
    change(header)
    save_file(tensors, str(dst), metadata={io.FORMAT: json.dumps(header)})


def test_checkpoint_errors_are_one_line(cli, tmp_path, series_model):
    (tmp_path / "notes.csv").write_text("a,b\n1,2\n")
    (tmp_path / "empty").mkdir()
    cases = [
        (("predict", "--checkpoint", "nowhere.safetensors"), "nowhere.safetensors does not exist"),
        (("predict", "--checkpoint", "notes.csv"), "notes.csv: "),
        (("predict", "--checkpoint", "empty"), "empty is a directory with no model.safetensors"),
        (("generate", "--checkpoint", str(series_model)), "is a series model, not a text model"),
        (("predict", "--checkpoint", str(series_model), "--column", "v"), "applies to --csv"),
    ]
    for argv, message in cases:
        result = cli(*argv)
        assert result.code == 1, (argv, result)
        assert message in result.err, (argv, result)
        assert result.err.count("\n") == 1  # one line


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        ("window", "has no 'window' in its task description"),
        ("context", "has no 'context' in its task description"),
        ("mean", "has no 'mean' in its task description"),
        (None, "holds a model but no task description"),
    ],
)
def test_predict_with_a_checkpoint_missing_a_key_is_one_line(
    cli, tmp_path, series_model, drop, message
):
    """A valid file (checksum and all) whose task description lacks what predict needs."""
    from rnnlab import io

    loaded = io.load_checkpoint(series_model / "model.safetensors")
    extra = None if drop is None else {k: v for k, v in loaded.extra.items() if k != drop}
    io.save_checkpoint(tmp_path / "model.safetensors", loaded.model, extra=extra)
    result = cli("predict", "--checkpoint", "model.safetensors")
    assert result.code == 1, result
    assert message in result.err
    assert result.err.startswith("rnnlab predict: error: ")


@pytest.mark.parametrize(
    "change",
    [
        lambda h: h.pop("model"),
        lambda h: h.update(format_version=99),
        lambda h: h.update(model=[1]),
    ],
)
def test_predict_with_a_damaged_header_is_one_line(cli, tmp_path, series_model, change):
    _rewrite_header(series_model / "model.safetensors", tmp_path / "model.safetensors", change)
    result = cli("predict", "--checkpoint", "model.safetensors")
    assert result.code == 1, result
    assert result.err.startswith("rnnlab predict: error: model.safetensors: ")


# ----------------------------------------------------------------- other subcommands (1)
def test_recommend_report_that_is_a_file_is_refused(cli, tmp_path):
    (tmp_path / "rep").write_text("x")
    result = cli("recommend", "--seq-len", "30", "--report", "rep")
    assert result.code == 1, result
    assert "--report: rep is not a directory" in result.err


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("foo", "--scheduler: expected an address like tcp://host:8786, got 'foo'"),
        ("tcp://127.0.0.1:port", "--scheduler: expected an address like tcp://host:8786"),
        ("udp://127.0.0.1:8786", "--scheduler: expected an address like tcp://host:8786"),
        (None, "--scheduler: nothing answers at tcp://127.0.0.1:"),
    ],
)
def test_compare_scheduler_is_checked_before_the_run(cli, address, message):
    address = address or f"tcp://127.0.0.1:{_closed_port()}"
    start = time.perf_counter()
    result = cli("compare", "--quick", "--steps", "100000", "--scheduler", address)
    assert result.code == 1, result
    assert message in result.err
    assert time.perf_counter() - start < 30  # before the sections, not after them


def test_generate_with_unknown_prime_characters_is_one_line(cli, tmp_path):
    done = cli(
        "train", "--task", "text", "--steps", "1", "--hidden", "4", "--no-progress", "--out", "t"
    )
    assert done.code == 0, done
    result = cli("generate", "--checkpoint", "t", "--prime", "\u2603")
    assert result.code == 1, result
    assert "characters not in the vocabulary" in result.err


def test_sizes_too_large_for_memory_are_one_line(cli):
    result = cli("train", "--task", "sine", "--hidden", "5000000", "--steps", "1", "--out", "m")
    assert result.code == 1, result
    assert "rnnlab train: error: out of memory" in result.err


# ----------------------------------------------------------------- process level
def test_broken_pipe_ends_quietly(tmp_path):
    """``rnnlab recommend ... | head``: the reader goes away before the output is written."""
    proc = subprocess.Popen(
        rnnlab_command("recommend", "--seq-len", "30", "--report", str(tmp_path)),
        cwd=tmp_path,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # before the interpreter has even started: every write fails
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert err == ""  # no BrokenPipeError, no "Exception ignored"


def test_ctrl_c_exits_130_without_a_traceback(tmp_path):
    log = tmp_path / "stderr.log"
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            rnnlab_command("demo", "--steps", "10000000"),
            cwd=tmp_path,
            env=environment(),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 120
        while "training steps" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "training steps" in log.read_text()  # demo's progress: it is working
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = log.read_text()
    # Exactly 130, and no traceback even when Ctrl-C lands while the kernels compile (a fresh
    # machine): the entry point leaves without the interpreter's shutdown, where llvmlite's
    # destructors used to print "Exception ignored ... Traceback" (seen in a fresh-clone CI run).
    assert code == 130, err
    assert "Traceback" not in err
    assert err.rstrip().endswith("rnnlab: interrupted")


def test_ctrl_c_in_any_subcommand_returns_130(cli, monkeypatch):
    from rnnlab.cli import recommend

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(recommend, "run", interrupted)
    result = cli("recommend", "--seq-len", "5")
    assert result.code == 130
    assert result.err == "\nrnnlab: interrupted\n"


def test_a_bug_keeps_its_traceback(monkeypatch):
    """Only the user's mistakes are turned into one line; rnnlab's own bugs stay visible."""
    from rnnlab.cli import recommend
    from rnnlab.cli.main import main

    def buggy(args):
        return {}["missing"]

    monkeypatch.setattr(recommend, "run", buggy)
    with pytest.raises(KeyError, match="missing"):
        main(["recommend", "--seq-len", "5"])


def test_rnnlab_traceback_shows_the_traceback_when_asked(tmp_path):
    env = environment() | {"RNNLAB_TRACEBACK": "1"}
    done = subprocess.run(
        rnnlab_command("predict", "--checkpoint", "nowhere"),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "Traceback" in done.stderr
    assert "FileNotFoundError: checkpoint: nowhere does not exist" in done.stderr


@pytest.mark.parametrize(
    "content",
    [
        '{"longmem": {"table": {}}}',
        '{"longmem": {"table": {"adding": {}}}}',
        '{"longmem": {"table": []}}',
        '{"longmem": {"table": {"adding": {"rnn": [{"mean": 1}]}}}}',
        '{"longmem": 3}',
        "[1, 2]",
        "not json",
    ],
)
def test_recommend_with_a_malformed_results_json_is_one_line(cli, tmp_path, content):
    (tmp_path / "rep").mkdir()
    (tmp_path / "rep" / "results.json").write_text(content)
    result = cli("recommend", "--seq-len", "30", "--report", "rep")
    assert result.code == 1, result
    assert "results.json: not a results.json written by rnnlab compare" in result.err


def test_a_fifo_is_refused_not_read(cli, tmp_path):
    os.mkfifo(tmp_path / "pipe")  # opening it to read would block until a writer comes
    result = cli("train", "--task", "csv:pipe", "--steps", "1")
    assert result.code == 1, result
    assert "pipe: not a regular file, expected a CSV file" in result.err
    result = cli("predict", "--checkpoint", "pipe")
    assert result.code == 1, result
    assert "--checkpoint: pipe is not a regular file" in result.err


def test_a_refused_run_creates_nothing(cli, tmp_path):
    (tmp_path / "short.csv").write_text("v\n1\n2\n3\n")
    result = cli("train", "--task", "csv:short.csv", "--window", "5", "--out", "new/m")
    assert result.code == 1, result
    assert "has 3 values, too short" in result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["short.csv"]
