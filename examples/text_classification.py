"""Sentiment analysis: Embedding -> GRU -> Dense on a labelled CSV (text and label columns).

Without a file it writes and uses a small generated corpus of reviews in which a negation
flips the label ("the plot was not good" is negative), which a bag of words cannot read.

    python examples/text_classification.py                  # generated corpus
    python examples/text_classification.py --csv reviews.csv
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from rnnlab.apps import textclass
from rnnlab.apps._common import one_blas_thread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", help="a CSV file with a header row, text and label columns")
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        path = args.csv or textclass.make_corpus(Path(folder) / "reviews.csv", 600)
        with one_blas_thread():
            model, info = textclass.train_textclass(path, steps=args.steps)
    print(f"{info['train_sequences']} training and {info['test_sequences']} test texts, "
          f"labels {info['classes']}, {len(info['vocabulary'])} words")  # fmt: skip
    print(f"test accuracy {info['accuracy']:.3f} (most frequent label: "
          f"{info['baseline_accuracy']:.3f})")  # fmt: skip
    if not args.csv:
        reviews = ["i think the music was not bad", "overall the ending was dull"]
        for text, label in zip(reviews, textclass.classify(model, info, reviews), strict=True):
            print(f"{text!r}: {label}")


if __name__ == "__main__":
    main()
