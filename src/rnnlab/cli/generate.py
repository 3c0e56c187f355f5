"""``rnnlab generate``: sample text from a character model (``rnnlab train --task text``)."""

from __future__ import annotations

from ._common import positive_int, reports_errors


def add_parser(sub):
    p = sub.add_parser(
        "generate",
        help="sample text from a character model checkpoint",
        description="Feed PRIME to a character model and sample LENGTH more characters.",
    )
    p.add_argument("--checkpoint", required=True, help="model.safetensors from rnnlab train")
    p.add_argument("--prime", default="def ", help="text to start from")
    p.add_argument("--length", type=positive_int, default=300, help="characters to sample")
    p.add_argument("--temperature", type=float, default=0.8, help="> 0; lower is more conservative")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=run)


@reports_errors("generate")
def run(args) -> int:
    from rnnlab.compare import checkpoint
    from rnnlab.compare.apps import generate
    from rnnlab.data import CharVocab

    layer, info = checkpoint.load(args.checkpoint)
    if info.get("kind") != "text":
        raise ValueError(
            f"checkpoint: {args.checkpoint} is a {info.get('kind')} model, not a text model; "
            "train one with rnnlab train --task text"
        )
    vocab = CharVocab(info["vocab"])
    print(
        generate(
            layer, vocab, args.prime, args.length, temperature=args.temperature, seed=args.seed
        )
    )
    return 0
