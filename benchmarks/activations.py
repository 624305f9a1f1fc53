"""Train-step speed of each source_lib activation against its Keras twin.

A jit-compiled train step (forward + backward + SGD update) of an MLP
784-256-256-10 with batch 256 is timed for our activation and for the Keras
built-in, paired in the same run (``timing.paired``: rounds back to back,
alternating which goes first). The table prints the median of the per-round
ratios ours / built-in (wall, and CPU beside it) and each side's fastest
round in wall and CPU milliseconds per step. The target is <= 1.05 for each, worst case.

Run: .venv/bin/python benchmarks/activations.py [--rounds 15] [--steps 50]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from source_lib import activations as A  # noqa: E402
from source_lib import device  # noqa: E402
from timing import paired  # noqa: E402  (benchmarks/timing.py, beside this file)

TARGET = 1.05
TWINS = A.KERAS_TWINS


def make_step(activation, seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((784,)),
        keras.layers.Dense(256, activation=activation),
        keras.layers.Dense(256, activation=activation),
        keras.layers.Dense(10),
    ])
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function(jit_compile=True)
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        for v, g in zip(model.trainable_variables, grads):
            v.assign_sub(0.01 * g)
        return loss

    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()

    report = device.describe(print_report=False)
    print(f"device: {report['accelerator']} ({', '.join(report['gpus']) or 'no GPU'}), "
          f"TF {report['tensorflow']}, Keras {report['keras']}")
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(256, 784)).astype("float32"))
    y = tf.constant(rng.integers(0, 10, size=256))

    print(f"{'activation':<11} {'ours ms':>9} {'cpu ms':>8} {'keras ms':>9} {'cpu ms':>8} {'ratio':>7} {'cpu':>6}  "
          f"(ms per step: fastest round, wall and CPU; ratio: median of {args.rounds} paired rounds, wall, then CPU; "
          f"target <= {TARGET:.2f})")
    worst = 0.0
    for name, ours in A.ACTIVATIONS.items():
        result = paired(make_step(ours), make_step(TWINS[name]), (x, y), args.rounds, args.steps)
        worst = max(worst, result.ratio)
        flag = "" if result.ratio <= TARGET else "  <-- over target"
        print(f"{name:<11} {1e3 * result.ours.wall:>9.3f} {1e3 * result.ours.cpu:>8.3f} "
              f"{1e3 * result.twin.wall:>9.3f} {1e3 * result.twin.cpu:>8.3f} {result.ratio:>7.3f} {result.cpu_ratio:>6.3f}{flag}", flush=True)
    print(f"worst ratio: {worst:.3f}")


if __name__ == "__main__":
    main()
