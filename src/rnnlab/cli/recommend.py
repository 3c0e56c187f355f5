"""``rnnlab recommend``: the guide's decision tree, with measured evidence when a report exists."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ._common import positive_int

if TYPE_CHECKING:
    from ._common import Subparsers

NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
DEFAULT_REPORT = "rnnlab-report"
#: The nearest measured length is "far" from the asked one outside [1/FAR, FAR] times it.
FAR = 2.0


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser(
        "recommend",
        help="which cell the guide's decision tree picks, with measured evidence",
        description="Apply the guide's decision tree. When a report from `rnnlab compare` "
        "exists (--report), show the measured scores at the nearest sequence length.",
    )
    p.add_argument("--seq-len", type=positive_int, required=True, help="sequence length (steps)")
    p.add_argument(
        "--data-size",
        type=positive_int,
        help="number of training sequences (default: not known; the limited-data rule is off)",
    )
    p.add_argument("--need-speed", action="store_true", help="speed matters most")
    p.add_argument(
        "--report",
        default=DEFAULT_REPORT,
        help=f"directory of a compare report (default: {DEFAULT_REPORT})",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the guide's answer, then the report's measurements nearest the asked length."""
    from rnnlab.compare.longmem import FAILED
    from rnnlab.compare.recommend import decide, evidence

    report = Path(args.report)
    if report.exists() and not report.is_dir():
        raise ValueError(
            f"--report: {report} is not a directory (give the directory compare wrote)"
        )
    cell, reason = decide(args.seq_len, args.data_size, args.need_speed)
    print(f"{NAMES[cell]}  ({reason})")
    found = evidence(report / "results.json", args.seq_len)
    if found is None:
        print(f"\nNo measurements found in {args.report}/; run `rnnlab compare` for evidence.")
        return 0
    print(
        f"\nMeasured in {found['path']} at length {found['seq_len']} "
        "(score: 0 = baseline, 1 = perfect):"
    )
    if not 1 / FAR <= found["seq_len"] / args.seq_len <= FAR:
        print(
            f"  note: the nearest measured length, {found['seq_len']}, is far from "
            f"{args.seq_len}; these scores may not hold at your length (measure it with "
            f"rnnlab compare --seq-lens {args.seq_len})"
        )
    for task, scores in found["scores"].items():
        best = max(scores, key=scores.get)
        shown = ", ".join(f"{NAMES[c]} {s:.2f}" for c, s in scores.items())
        verdict = f"best: {NAMES[best]}" if scores[best] >= FAILED else "none learned it"
        print(f"  {task:<7} {shown}   {verdict}")
    for name, ratios in found["timing"].items():
        shown = ", ".join(f"{NAMES[c]} {r:.2f}x" for c, r in ratios.items())
        print(f"  training time ({name} config): {shown}")
    return 0
