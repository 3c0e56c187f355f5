"""Real-time sensor data: activity recognition on BasicMotions (UEA archive, via sktime).

A smartwatch's accelerometer and gyroscope (6 channels, 100 steps) while standing, walking,
running or playing badminton; 40 recordings to train on, 40 to test. A small sweep finds the
smallest GRU whose mean test accuracy over three seeds reaches 0.95. Needs
``pip install 'rnnlab[apps]'``.

    python examples/sensor_motions.py
    python examples/sensor_motions.py --sizes 4,8 --steps 100
"""

from __future__ import annotations

import argparse

from rnnlab.apps import motions
from rnnlab.apps._common import one_blas_thread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="4,8,16,32", help="hidden sizes to try")
    parser.add_argument("--steps", type=int, default=500, help="updates per model")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()

    sizes = [int(s) for s in args.sizes.split(",")]
    with one_blas_thread():
        rows = motions.sweep_hidden(sizes, seeds=args.seeds, steps=args.steps)
    print("hidden  parameters  test accuracy per seed    mean")
    for row in rows:
        accs = "  ".join(f"{a:.3f}" for a in row["accuracies"])
        print(f"{row['hidden']:>6}  {row['parameters']:>10}  {accs:<24}  {row['mean']:.3f}")
    reached = [row for row in rows if row["mean"] >= motions.GOAL]
    if reached:
        print(f"smallest GRU reaching {motions.GOAL}: hidden {reached[0]['hidden']} "
              f"({reached[0]['parameters']} parameters)")  # fmt: skip
    else:
        print(f"no size reached a mean of {motions.GOAL} at this budget")


if __name__ == "__main__":
    main()
