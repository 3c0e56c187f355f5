"""``rnnlab recommend``: the guide's decision tree, with measured evidence when a report exists."""

from __future__ import annotations

from pathlib import Path

from ._common import positive_int, reports_errors

NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def add_parser(sub):
    p = sub.add_parser(
        "recommend",
        help="which cell the guide's decision tree picks, with measured evidence",
        description="Apply the guide's decision tree. When a report from `rnnlab compare` "
        "exists (--report), show the measured scores at the nearest sequence length.",
    )
    p.add_argument("--seq-len", type=positive_int, required=True, help="sequence length (steps)")
    p.add_argument("--data-size", type=positive_int, help="number of training sequences")
    p.add_argument("--need-speed", action="store_true", help="speed matters most")
    p.add_argument(
        "--report",
        default="rnnlab-report",
        help="directory of a compare report (default rnnlab-report)",
    )
    p.set_defaults(run=run)


@reports_errors("recommend")
def run(args) -> int:
    from rnnlab.compare.longmem import FAILED
    from rnnlab.compare.recommend import decide, evidence

    cell, reason = decide(args.seq_len, args.data_size, args.need_speed)
    print(f"{NAMES[cell]}  ({reason})")
    found = evidence(Path(args.report) / "results.json", args.seq_len)
    if found is None:
        print(f"\nNo measurements found in {args.report}/; run `rnnlab compare` for evidence.")
        return 0
    print(
        f"\nMeasured in {found['path']} at length {found['seq_len']} "
        "(score: 0 = baseline, 1 = perfect):"
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
