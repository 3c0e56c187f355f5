"""Machine translation in miniature: the RNN Encoder–Decoder of Cho et al. (2014) learns to
rewrite dates as people write them ("3rd of March 1998", "03/03/98", "March 3, 1998") as ISO
dates ("1998-03-03"), one character at a time.

The encoder GRU reads the characters; its final state is the context that starts the decoder
GRU (and is read at every decoder step); training uses teacher forcing, testing greedy
decoding on days never seen in training. Seq2Seq's backward sends the context's gradient into
the encoder, so plain ``rnnlab.fit`` trains it.

    python examples/translate_dates.py               # 1000 updates: exact match >= 0.95
    python examples/translate_dates.py --steps 100   # a quick look
"""

from __future__ import annotations

import argparse

import numpy as np

import rnnlab
from rnnlab.apps import dates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1000, help="updates of 64 fresh pairs")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    model = dates.make_model(hidden=args.hidden, seed=rng)  # GRU encoder -> GRU decoder
    rnnlab.fit(
        model,
        dates.DateBatches(batch_size=64),  # source(rng) -> (X, Y): fresh pairs every update
        updates=args.steps,
        loss="cross_entropy",
        optimizer=rnnlab.optim.Adam(model, lr=5e-3),
        targets="steps",
        seed=rng,
        progress=not args.no_progress,
    )
    source, written, iso = dates.held_out_set(1000)
    score, guesses = dates.exact_match(model, source, iso)
    for text, guess, truth in zip(written[:6], guesses, iso, strict=False):
        print(f"{text:>24} -> {guess}   {'ok' if guess == truth else 'want ' + truth}")
    print(f"exact match on 1000 held-out dates: {score:.3f}")


if __name__ == "__main__":
    main()
