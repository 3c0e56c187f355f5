"""``rnnlab gradflow``: plot how ∂L/∂h(t) fades with distance from the loss, against 0.5^k."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._common import BadArgument, check_output_file, non_negative_int, positive_int

if TYPE_CHECKING:
    from ._common import Subparsers

CELLS = ("rnn", "lstm", "gru")


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser(
        "gradflow",
        help="plot the gradient norm against distance from the loss (vanishing gradients)",
        description="Exact ‖∂L/∂h(T-k)‖ / ‖∂L/∂h(T)‖ for a loss on the last output, at "
        "initialisation (and after --train-steps updates), on a log scale against the "
        "guide's 0.5^k.",
    )
    p.add_argument(
        "--cell", choices=(*CELLS, "all"), default="all", help="the cell(s) (default: all)"
    )
    p.add_argument(
        "--seq-len", type=_at_least_2, default=100, help="sequence length (default: 100)"
    )
    p.add_argument("--hidden", type=positive_int, default=32, help="hidden size (default: 32)")
    p.add_argument(
        "--task",
        choices=("adding", "copy"),
        default="adding",
        help="the task whose inputs feed the network (default: adding)",
    )
    p.add_argument(
        "--train-steps",
        type=non_negative_int,
        default=0,
        help="also show the profile after N training updates (default: 0, only at init)",
    )
    p.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed of the model (default: 0)"
    )
    p.add_argument(
        "--out", default="gradflow.png", help="PNG file to write (default: gradflow.png)"
    )
    p.set_defaults(run=run)


def _at_least_2(text: str) -> int:
    value = positive_int(text)
    if value < 2:
        raise BadArgument(f"expected at least 2 steps, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    """Measure the gradient-norm profiles, write the figure, print the table."""
    from rnnlab.compare import figures
    from rnnlab.compare.gradflow import profile_for

    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise ValueError(f"--out: expected a .png file name, got {args.out!r}")
    check_output_file(out, "--out")
    cells = CELLS if args.cell == "all" else (args.cell,)
    # "trained" is None only when train_steps is 0, and then it is not among the panels.
    profiles: dict[str, dict[str, Any]] = {
        c: profile_for(
            c,
            args.seq_len,
            task=args.task,
            hidden=args.hidden,
            train_steps=args.train_steps,
            seed=args.seed,
        )
        for c in cells
    }
    plt = figures._pyplot()
    panels = ["init"] + (["trained"] if args.train_steps > 0 else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        title = "at initialisation" if panel == "init" else f"after {args.train_steps} updates"
        figures.plot_gradflow(
            ax,
            {c: p[panel] for c, p in profiles.items()},
            f"{title} ({args.task}, T={args.seq_len})",
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    figures._save(fig, out.parent, out.name)
    ks = [k for k in (1, 5, 10, 20, 50, 100, 200) if k < args.seq_len]
    print(f"{'k':<14}" + "".join(f"{k:>10}" for k in ks))
    for cell, p in profiles.items():
        for panel in panels:
            label = f"{cell}/{panel}"
            print(f"{label:<14}" + "".join(f"{p[panel][k]:>10.2e}" for k in ks))
    print(f"{'0.5^k':<14}" + "".join(f"{0.5**k:>10.2e}" for k in ks))
    print(f"wrote {out}")
    return 0
