"""``rnnlab generate``: sample text from a character model (``rnnlab train --task text``)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ._common import (
    checkpoint_path,
    non_negative_int,
    positive_float,
    positive_int,
    require_info,
)

if TYPE_CHECKING:
    from ._common import Subparsers


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser(
        "generate",
        help="sample text from a character model checkpoint",
        description="Feed PRIME to a character model and sample LENGTH more characters.",
    )
    p.add_argument(
        "--checkpoint",
        required=True,
        help="model.safetensors from rnnlab train --task text, or the directory train wrote",
    )
    p.add_argument("--prime", default="def ", help="text to start from (default: 'def ')")
    p.add_argument(
        "--length", type=positive_int, default=300, help="characters to sample (default: 300)"
    )
    p.add_argument(
        "--temperature",
        type=positive_float,
        default=0.8,
        help="sampling temperature > 0; lower is more conservative (default: 0.8)",
    )
    p.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed of the sampling (default: 0)"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Load a text model and print PRIME followed by the sampled characters."""
    from rnnlab.compare import checkpoint
    from rnnlab.compare.apps import generate
    from rnnlab.data import CharVocab

    path = checkpoint_path(args.checkpoint)
    layer, info = checkpoint.load(path)
    if info.get("kind") != "text":
        raise ValueError(
            f"checkpoint: {path} is a {info.get('kind')} model, not a text model; "
            "train one with rnnlab train --task text"
        )
    require_info(path, info, "vocab")
    vocab = CharVocab(info["vocab"])
    print(
        generate(
            layer, vocab, args.prime, args.length, temperature=args.temperature, seed=args.seed
        )
    )
    return 0
