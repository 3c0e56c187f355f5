"""``rnnlab bench``: time rnnlab's layers against PyTorch's (see :mod:`rnnlab.bench`)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from ._common import BadArgument, positive_float, positive_int

if TYPE_CHECKING:
    from ._common import Subparsers


def _size(text: str) -> tuple[int, int, int, int]:
    """argparse type for ``T,B,I,H``: four positive integers."""
    parts = text.split(",")
    if len(parts) != 4 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise BadArgument(f"expected T,B,I,H: four positive integers, got {text!r}")
    t, b, i, h = (int(p) for p in parts)
    return t, b, i, h


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser("bench", help="time RNN/LSTM/GRU against PyTorch (ratios, GEMM peak)")
    p.add_argument(
        "--sizes",
        nargs="+",
        type=_size,
        metavar="T,B,I,H",
        help="sizes to time (default: the six of BENCHMARKS.md)",
    )
    p.add_argument(
        "--cells", nargs="+", choices=["rnn", "lstm", "gru"], help="cells to time (default: all)"
    )
    p.add_argument("--quick", action="store_true", help="first three sizes, short budget")
    p.add_argument(
        "--budget",
        type=positive_float,
        metavar="SECONDS",
        help="clock time per (cell, size), split among the repetitions; more gives steadier "
        "medians on a noisy machine (default: 1.0, 0.3 with --quick)",
    )
    p.add_argument(
        "--backend",
        default="auto",
        choices=["auto", "reference", "numba"],
        help="rnnlab's kernels (default: auto, Numba when installed)",
    )
    p.add_argument(
        "--threads", type=positive_int, help="BLAS and Numba threads (default: all cores)"
    )
    p.add_argument("--no-torch", action="store_true", help="time rnnlab alone")
    p.add_argument("--no-compile", action="store_true", help="skip compile/cached-load timing")
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.add_argument(
        "--fit",
        action="store_true",
        help="also time rnnlab.fit against the PyTorch training loop (one epoch, LSTM and GRU)",
    )
    p.add_argument(
        "--device",
        default="cpu",
        choices=["cpu", "cuda"],
        help="cuda: rnnlab on the GPU against PyTorch's cuDNN layers (needs a GPU; docs/gpu.md) "
        "(default: cpu)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Check parity, time, print the table (or JSON)."""
    from rnnlab import bench

    sizes = list(args.sizes) if args.sizes else bench.SIZES
    if args.quick and not args.sizes:
        sizes = sizes[:3]
    cells = tuple(args.cells) if args.cells else bench.CELLS
    if args.device == "cuda":
        return _run_cuda(args, sizes, cells)
    report = bench.run(
        sizes,
        cells,
        backend=args.backend,
        threads=args.threads,
        use_torch=not args.no_torch,
        budget=args.budget or (0.3 if args.quick else None),
    )
    if not (args.quick or args.no_compile) and report["backend"] == "numba":
        report["compile"] = bench.compile_times(cells)
    if args.fit:
        from rnnlab import bench_fit

        # --quick: an eighth of the samples and one repetition (a smoke test, not a figure)
        quick: dict[str, Any] = (
            {"sizes": bench_fit.quick_sizes(), "repeats": 1} if args.quick else {}
        )
        report["fit"] = bench_fit.run_fit(use_torch=not args.no_torch, **quick)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(bench.format_table(report))
        if args.fit:
            print()
            print(bench_fit.format_fit(report["fit"]))
    return 0


def _run_cuda(args: argparse.Namespace, sizes: list, cells: tuple) -> int:
    """The GPU bench; without a GPU it prints why nothing was measured and returns 1."""
    from rnnlab import bench_gpu as gpu_bench

    status, text = gpu_bench.report(cells, sizes, repeats=5 if args.quick else 20)
    print(text)
    return status
