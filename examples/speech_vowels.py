"""Speech: which of nine speakers said /ae/? Japanese Vowels (UCI / UEA archive, via sktime).

Each utterance is 7–29 frames of 12 LPC cepstrum coefficients; a GRU reads the padded frames
(``lengths=`` tells it where each utterance ends) and classifies the speaker from its state at
the last frame. Needs ``pip install 'rnnlab[apps]'``.

    python examples/speech_vowels.py              # about 700 updates: test accuracy >= 0.97
    python examples/speech_vowels.py --steps 100
"""

from __future__ import annotations

import argparse

import numpy as np

import rnnlab
from rnnlab.apps import vowels
from rnnlab.apps._classify import accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=700)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()

    train, test = vowels.load_vowels()  # X (N, 29, 12) zero-padded, y (N,), lengths (N,)
    print(f"{len(train.X)} training and {len(test.X)} test utterances, "
          f"{train.lengths.min()}-{train.lengths.max()} frames")  # fmt: skip
    rng = np.random.default_rng(0)
    model = rnnlab.GRULayer(12, args.hidden, 9, seed=rng)
    rnnlab.fit(
        model,
        train.X,
        train.y,
        lengths=train.lengths,  # many-to-one: each sequence is read at its own last frame
        loss="cross_entropy",
        optimizer=rnnlab.optim.Adam(model, lr=1e-2),
        epochs=max(1, args.steps // 17),  # 270 utterances in batches of 16: 17 updates/epoch
        batch_size=16,
        seed=rng,
        progress=not args.no_progress,
    )
    print(f"test accuracy {accuracy(model, test):.3f} (goal 0.97; UEA bake-off best 0.97-0.99, "
          "DTW about 0.95)")  # fmt: skip


if __name__ == "__main__":
    main()
