"""``rnnlab gradflow``: plot how ∂L/∂h(t) fades with distance from the loss, against 0.5^k."""

from __future__ import annotations

import argparse

from ._common import positive_int, reports_errors

CELLS = ("rnn", "lstm", "gru")


def add_parser(sub):
    p = sub.add_parser(
        "gradflow",
        help="plot the gradient norm against distance from the loss (vanishing gradients)",
        description="Exact ‖∂L/∂h(T-k)‖ / ‖∂L/∂h(T)‖ for a loss on the last output, at "
        "initialisation (and after --train-steps updates), on a log scale against the "
        "guide's 0.5^k.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--cell", choices=(*CELLS, "all"), default="all")
    p.add_argument("--seq-len", type=positive_int, default=100)
    p.add_argument("--hidden", type=positive_int, default=32)
    p.add_argument("--task", choices=("adding", "copy"), default="adding")
    p.add_argument("--train-steps", type=int, default=0, help="also show after N updates")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="gradflow.png", help="PNG file to write")
    p.set_defaults(run=run)


@reports_errors("gradflow")
def run(args) -> int:
    from pathlib import Path

    from rnnlab.compare import figures
    from rnnlab.compare.gradflow import profile_for

    if args.seq_len < 2:
        raise ValueError(f"--seq-len: expected at least 2 steps, got {args.seq_len}")
    if args.train_steps < 0:
        raise ValueError(f"--train-steps: expected 0 or more, got {args.train_steps}")
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise ValueError(f"--out: expected a .png file name, got {args.out!r}")
    cells = CELLS if args.cell == "all" else (args.cell,)
    profiles = {
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
