"""``rnnlab generate``: sample text from a character model (``rnnlab train --task text``), or
a chorale as a MIDI file from a music model (``rnnlab train --task chorales``)."""

from __future__ import annotations

from ._common import positive_int, reports_errors


def add_parser(sub):
    p = sub.add_parser(
        "generate",
        help="sample text (or a MIDI chorale) from a trained checkpoint",
        description="Feed PRIME to a character model and sample LENGTH more characters; or, "
        "with a chorales checkpoint, sample LENGTH beats after a test chorale's first 8 and "
        "write them to --midi.",
    )
    p.add_argument("--checkpoint", required=True, help="model.safetensors from rnnlab train")
    p.add_argument("--prime", default="def ", help="text to start from")
    p.add_argument(
        "--length", type=positive_int, default=300, help="characters (chorales: beats) to sample"
    )
    p.add_argument("--temperature", type=float, default=0.8, help="> 0; lower is more conservative")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--midi", default="chorale.mid", help="output file (chorales models)")
    p.set_defaults(run=run)


@reports_errors("generate")
def run(args) -> int:
    from rnnlab.apps import load_outputs
    from rnnlab.apps.chars import generate
    from rnnlab.data import CharVocab

    layer, info = load_outputs(args.checkpoint)
    if info.get("kind") == "music":
        from rnnlab.apps.chorales import generate_chorale

        path = generate_chorale(layer, info, args.midi, beats=args.length, seed=args.seed)
        print(f"wrote {path}")
        return 0
    if info.get("kind") != "text":
        raise ValueError(
            f"checkpoint: {args.checkpoint} is a {info.get('kind')} model, not a text model; "
            "train one with rnnlab train --task text (or --task chorales for music)"
        )
    vocab = CharVocab(info["vocab"])
    print(
        generate(
            layer, vocab, args.prime, args.length, temperature=args.temperature, seed=args.seed
        )
    )
    return 0
