"""``rnnlab generate``: sample text from a character model (``rnnlab train --task text``), or
a chorale as a MIDI file from a music model (``rnnlab train --task chorales``)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ._common import (
    check_output_file,
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
        help="sample text (or a MIDI chorale) from a trained checkpoint",
        description="Feed PRIME to a character model and sample LENGTH more characters; or, "
        "with a chorales checkpoint, sample LENGTH beats after a test chorale's first 8 and "
        "write them to --midi.",
    )
    p.add_argument(
        "--checkpoint",
        required=True,
        help="model.safetensors from rnnlab train (text or chorales), or the directory it wrote",
    )
    p.add_argument("--prime", default="def ", help="text to start from (default: 'def ')")
    p.add_argument(
        "--length",
        type=positive_int,
        default=300,
        help="characters (chorales: beats) to sample (default: 300)",
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
    p.add_argument(
        "--midi",
        default="chorale.mid",
        help="output MIDI file, chorales models only (default: chorale.mid)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print PRIME and the sampled characters, or write a sampled chorale to --midi."""
    from rnnlab.apps import load_outputs
    from rnnlab.apps.chars import generate
    from rnnlab.data import CharVocab

    path = checkpoint_path(args.checkpoint)
    layer, info = load_outputs(path)
    if info.get("kind") == "music":
        from rnnlab.apps.chorales import generate_chorale

        midi = check_output_file(args.midi, "--midi")
        written = generate_chorale(layer, info, midi, beats=args.length, seed=args.seed)
        print(f"wrote {written}")
        return 0
    if info.get("kind") != "text":
        raise ValueError(
            f"checkpoint: {path} is a {info.get('kind')} model, not a text model; "
            "train one with rnnlab train --task text (or --task chorales for music)"
        )
    require_info(path, info, "vocab")
    vocab = CharVocab(info["vocab"])
    print(
        generate(
            layer, vocab, args.prime, args.length, temperature=args.temperature, seed=args.seed
        )
    )
    return 0
