"""Train-step speed of each source_lib activation against its Keras twin.

A jit-compiled train step (forward + backward + SGD update) of an MLP
784-256-256-10 with batch 256 is timed for our activation and for the Keras
built-in, interleaved in the same run. Each round times both back to back (alternating which goes
first), so a round's ratio ours / built-in sees the same machine load; the
table prints the median of the per-round ratios (a paired comparison that a
noisy, shared machine disturbs least) and each side's fastest round. The
target is <= 1.10 for each.

Run: .venv/bin/python benchmarks/activations.py [--rounds 7] [--steps 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from source_lib import activations as A  # noqa: E402
from source_lib import device  # noqa: E402

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


def time_steps(step, x, y, steps):
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step(x, y)
    float(loss)  # wait for the last step
    return (time.perf_counter() - t0) / steps


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

    print(f"{'activation':<11} {'ours ms':>9} {'keras ms':>9} {'ratio':>7}  (ms: fastest round; ratio: median "
          "of paired rounds; target <= 1.10)")
    worst = 0.0
    for name, ours in A.ACTIVATIONS.items():
        step_ours, step_twin = make_step(ours), make_step(TWINS[name])
        for s in (step_ours, step_twin):
            time_steps(s, x, y, 5)  # compile and warm up
        ratios, t_ours, t_twin = [], [], []
        for r in range(args.rounds):
            if r % 2:
                b = time_steps(step_twin, x, y, args.steps)
                a = time_steps(step_ours, x, y, args.steps)
            else:
                a = time_steps(step_ours, x, y, args.steps)
                b = time_steps(step_twin, x, y, args.steps)
            t_ours.append(a)
            t_twin.append(b)
            ratios.append(a / b)
        ratio = statistics.median(ratios)
        worst = max(worst, ratio)
        flag = "" if ratio <= 1.10 else "  <-- over target"
        print(f"{name:<11} {1e3 * min(t_ours):>9.3f} {1e3 * min(t_twin):>9.3f} {ratio:>7.3f}{flag}")
    print(f"worst ratio: {worst:.3f}")


if __name__ == "__main__":
    main()
