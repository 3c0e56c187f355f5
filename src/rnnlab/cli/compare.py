"""``rnnlab compare``: measure every claim of the guide and write a report."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ._common import check_output_dir, comma_list, non_negative_int, positive_int

if TYPE_CHECKING:
    from ._common import Subparsers

DEFAULT_OUT = "rnnlab-report"


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser(
        "compare",
        help="measure every claim of the guide; write report.md, figures and results.json",
        description="Measure the guide's claims (parameters, time, memory, long-term memory, "
        "gradient flow, CPU/GPU, example applications, limited data, complex dependencies) and "
        "write DIR/report.md, PNG figures and DIR/results.json. The default run takes about 3 "
        "minutes on 2 cores.",
    )
    size = p.add_mutually_exclusive_group()
    size.add_argument(
        "--quick",
        action="store_true",
        help="tiny budgets, well under a minute: a smoke test whose trained and timed verdicts "
        "are all 'inconclusive at this budget'",
    )
    size.add_argument(
        "--full",
        action="store_true",
        help="longer sweeps (lengths to 500, 3 seeds, 1500 updates)",
    )
    p.add_argument(
        "--cells", type=comma_list(str), help="subset of rnn,lstm,gru (default: all three)"
    )
    p.add_argument("--tasks", type=comma_list(str), help="subset of adding,copy (default: both)")
    p.add_argument(
        "--seq-lens",
        type=comma_list(positive_int),
        help="sequence lengths (default: 5,10,20,50,100; --quick 5,20; --full to 200)",
    )
    p.add_argument(
        "--seeds",
        type=positive_int,
        help="seeds per (task, cell, length) (default: 2; --full 3)",
    )
    p.add_argument(
        "--steps",
        type=positive_int,
        help="training updates per sweep model (default: 300; --quick 30; --full 1500)",
    )
    p.add_argument(
        "--hidden",
        type=positive_int,
        help="hidden size of the sweep models (default: 32; --quick 16)",
    )
    p.add_argument(
        "--equal-params",
        action="store_true",
        help="give every cell the LSTM's parameter budget (not the same hidden size)",
    )
    p.add_argument("--jobs", type=positive_int, help="local worker processes (default: all cores)")
    p.add_argument(
        "--scheduler",
        help="Dask scheduler address, e.g. tcp://host:8786 (default: none, run locally)",
    )
    p.add_argument(
        "--seed",
        type=non_negative_int,
        default=0,
        help="base seed of every random choice (default: 0)",
    )
    p.add_argument("--out", default=DEFAULT_OUT, help=f"output directory (default: {DEFAULT_OUT})")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def _check_scheduler(address: str) -> None:
    """Refuse an address with no host or port, or one nothing answers at, before the run."""
    import importlib.util
    import socket
    from urllib.parse import urlsplit

    if importlib.util.find_spec("distributed") is None:
        raise ImportError(
            "--scheduler: running on a Dask cluster needs dask.distributed; install it with "
            "pip install 'rnnlab[cluster]'"
        )
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:  # a port that is not a number
        host, port = None, None
    if parts.scheme != "tcp" or not host or port is None:
        raise ValueError(f"--scheduler: expected an address like tcp://host:8786, got {address!r}")
    try:
        socket.create_connection((host, port), timeout=10).close()
    except OSError as exc:
        raise ValueError(
            f"--scheduler: nothing answers at {address} ({exc.strerror or exc}); is the Dask "
            "scheduler running?"
        ) from None


def run(args: argparse.Namespace) -> int:
    """Check the output place and the scheduler, run the comparison, print the verdicts."""
    from rnnlab.compare import make_config, run_compare
    from rnnlab.compare.figures import FIGURES
    from rnnlab.compare.runner import REPORT_FILE, RESULTS_FILE

    preset = "quick" if args.quick else "full" if args.full else "default"
    config = make_config(
        preset,
        cells=args.cells,
        tasks=args.tasks,
        seq_lens=args.seq_lens,
        seeds=args.seeds,
        steps=args.steps,
        hidden_size=args.hidden,
        equal_params=args.equal_params or None,
        jobs=args.jobs,
        scheduler=args.scheduler,
        seed=args.seed,
        progress=not args.no_progress,
    )
    files = (REPORT_FILE, RESULTS_FILE, *(f"{name}.png" for name in FIGURES))
    check_output_dir(args.out, "--out", files=files)
    if args.scheduler is not None:
        _check_scheduler(args.scheduler)
    results = run_compare(config, args.out)
    print(
        f"\nwrote {args.out}/report.md, results.json and {len(results['figures'])} figures "
        f"in {results['meta']['wall_seconds']:.0f} s ({results['meta']['cpu_seconds']:.0f} s CPU)"
    )
    width = max(len(v["verdict"]) for v in results["verdicts"])
    for v in results["verdicts"]:
        print(f"  {v['verdict']:<{width}}  {v['claim']}")
    return 0
