"""Music: Bach chorales as piano rolls, next beat predicted key by key (music21's corpus).

Trains a tanh RNN, a GRU and an LSTM of about 20k parameters each (as Chung et al. 2014 did on
JSB Chorales), prints their test negative log-likelihood per beat beside the paper's, and
writes a chorale continued by the GRU to chorale.mid. The first run parses the 433 chorales
(minutes) and caches the rolls. Needs ``pip install 'rnnlab[apps]'``.

    python examples/music_chorales.py
    python examples/music_chorales.py --steps 100 --limit 40   # a quick look
"""

from __future__ import annotations

import argparse

from rnnlab.apps import chorales
from rnnlab.apps._common import one_blas_thread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000, help="updates per model")
    parser.add_argument("--limit", type=int, default=None, help="parse only this many files")
    parser.add_argument("--midi", default="chorale.mid")
    args = parser.parse_args()

    with one_blas_thread():
        model, info = chorales.train_chorales(steps=args.steps, limit=args.limit)
    print(f"{info['train_chorales']} training, {info['test_chorales']} test chorales")
    print("cell  parameters  test NLL/beat  Chung et al. 2014 (JSB)")
    for cell, row in info["cells"].items():
        print(
            f"{cell:>4}  {row['parameters']:>10}  {row['nll']:>13.2f}  {row['paper_test_nll']:.2f}"
        )
    print(f"baseline (each key at its training frequency): {info['baseline_nll']:.2f}")
    path = chorales.generate_chorale(model, info, args.midi, beats=56, seed=1)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
