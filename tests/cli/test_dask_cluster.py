"""``rnnlab compare --scheduler`` on a real Dask cluster: a scheduler and two worker processes.

Not a LocalCluster: the scheduler and the workers are separate processes started as a user would
(``python -m distributed.cli.dask_scheduler`` / ``dask_worker``), bound to 127.0.0.1 only. One
worker is killed (SIGKILL) while the sweep runs; the run must still complete, and every measured
number (all but wall-clock timings) must equal a local run's with the same configuration.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dask.distributed import Client  # the test extra installs dask[distributed]

from rnnlab.compare import make_config, run_compare
from rnnlab.compare.runner import strip_timings

from .helpers import environment

#: The smallest run that still has a sweep to interrupt: --quick, two cells, one task.
ARGS = ("--quick", "--cells", "rnn,gru", "--tasks", "adding", "--seed", "3")
START_TIMEOUT_S = 60
RUN_TIMEOUT_S = 240


class Processes:
    """Subprocesses in their own sessions, every one killed at the end, even on failure."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[subprocess.Popen] = []

    def start(self, name: str, *argv: str) -> subprocess.Popen:
        log = (self.log_dir / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, *argv],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment(),
            start_new_session=True,
        )
        log.close()
        self.started.append(proc)
        return proc

    def kill_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.log_dir.glob("*.log"))
        )


@pytest.fixture
def processes(tmp_path):
    procs = Processes(tmp_path)
    yield procs
    procs.kill_all()


def _wait_for(predicate, timeout: float, what: str, procs: Processes):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{procs.logs()}")


def _address_in(scheduler_file: Path) -> str | None:
    # The scheduler writes the file in place: it may exist before it holds JSON.
    try:
        return json.loads(scheduler_file.read_text(encoding="utf-8"))["address"]
    except (OSError, ValueError, KeyError):
        return None


def _sweep_state():
    """A function for the scheduler: finished tasks, and each worker's running ones."""

    # Nested, so that cloudpickle ships it by value: the tests are not importable there.
    def state(dask_scheduler) -> dict:
        return {
            "done": sum(ts.state == "memory" for ts in dask_scheduler.tasks.values()),
            "processing": {
                ws.address: len(ws.processing) for ws in dask_scheduler.workers.values()
            },
        }

    return state


def _start_cluster(processes: Processes, tmp_path: Path) -> tuple[str, dict]:
    """A scheduler on 127.0.0.1 (a free port it picks) and two single-thread workers."""
    scheduler_file = tmp_path / "scheduler.json"
    processes.start(
        "scheduler",
        *("-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0"),
        *("--no-dashboard", "--scheduler-file", str(scheduler_file)),
    )
    address = _wait_for(
        lambda: _address_in(scheduler_file), START_TIMEOUT_S, "the scheduler file", processes
    )
    assert address.startswith("tcp://127.0.0.1:")
    # No nanny: the worker is the process itself, so SIGKILL ends it for good (a nanny
    # would restart it).
    workers = {
        name: processes.start(
            name,
            *("-m", "distributed.cli.dask_worker", address, "--host", "127.0.0.1"),
            *("--nthreads", "1", "--no-nanny", "--no-dashboard", "--name", name),
            *("--death-timeout", "60", "--local-directory", str(tmp_path / name)),
        )
        for name in ("victim", "survivor")
    }
    return address, workers


def test_compare_survives_a_killed_worker_and_matches_a_local_run(tmp_path, processes):
    # The local reference first: it also fills the kernels' compile cache for the workers.
    run_compare(
        make_config("quick", cells=("rnn", "gru"), tasks=("adding",), seed=3, jobs=1,
                    progress=False),
        tmp_path / "local",
        write_figures=False,
    )  # fmt: skip

    address, workers = _start_cluster(processes, tmp_path)
    with Client(address, timeout=START_TIMEOUT_S) as client:
        client.wait_for_workers(2, timeout=START_TIMEOUT_S)
        victim = next(
            addr for addr, w in client.scheduler_info()["workers"].items() if w["name"] == "victim"
        )
        out = tmp_path / "cluster"
        compare = processes.start(
            "compare",
            *("-m", "rnnlab.cli.main", "compare", *ARGS, "--no-progress"),
            *("--scheduler", address, "--out", str(out)),
        )

        def victim_mid_sweep() -> bool:
            # A job finished and the victim runs another one.
            state = client.run_on_scheduler(_sweep_state())
            return state["done"] >= 1 and state["processing"].get(victim, 0) >= 1

        _wait_for(victim_mid_sweep, RUN_TIMEOUT_S, "the sweep to reach the victim", processes)
        os.kill(workers["victim"].pid, signal.SIGKILL)
        workers["victim"].wait(timeout=30)
        try:
            code = compare.wait(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"compare did not finish\n{processes.logs()}") from None
        assert code == 0, processes.logs()
        assert victim not in client.scheduler_info()["workers"]  # it really died mid-run

    remote = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert remote["config"]["scheduler"] == address
    local = json.loads((tmp_path / "local" / "results.json").read_text(encoding="utf-8"))
    a, b = strip_timings(local), strip_timings(remote)
    for key in ("figures", "config"):
        a.pop(key), b.pop(key)
    assert a["sweep"] == b["sweep"]
    assert a == b
