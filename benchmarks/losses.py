"""Forward + backward speed of each source_lib loss against its Keras twin.

For every loss, a ``tf.function`` computes the batch mean of the per-sample
loss and its gradient with respect to ``y_pred`` (the part of a train step a
loss owns) on a batch of 4096 x 10, for our function and for the Keras
built-in, interleaved in the same run. Each round times both back to back
(alternating which goes first), so a round's ratio ours / Keras sees the same
machine load; the table prints the median of the per-round ratios and each
side's fastest round. Both a plain graph (``jit_compile=False``) and an XLA
one (``jit_compile=True``) are measured. The target is <= 1.10 for each.

Run: .venv/bin/python benchmarks/losses.py [--rounds 11] [--steps 100] [--batch 4096]
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

from source_lib import device  # noqa: E402
from source_lib import losses as L  # noqa: E402

K = keras.losses


def cases(batch, n, rng):
    """name -> (ours, keras twin, y_true, y_pred)."""
    f32 = lambda a: tf.constant(np.asarray(a, dtype="float32"))  # noqa: E731
    normal = lambda: f32(rng.normal(size=(batch, n)))  # noqa: E731
    probs = lambda: f32(rng.uniform(0.01, 0.99, size=(batch, n)))  # noqa: E731
    positive = lambda: f32(rng.uniform(0.1, 5.0, size=(batch, n)))  # noqa: E731
    bits = f32(rng.random((batch, n)) > 0.5)
    labels = tf.constant(rng.integers(0, n, size=batch))
    one_hot = tf.one_hot(labels, n)
    z = normal()
    softmax = tf.nn.softmax(z)
    return {
        "half_mse": (L.half_mse, K.mean_squared_error, normal(), normal()),
        "binary_cross_entropy": (L.binary_cross_entropy, K.binary_crossentropy, bits, probs()),
        "binary_cross_entropy logits": (
            lambda y, p: L.binary_cross_entropy(y, p, from_logits=True),
            lambda y, p: K.binary_crossentropy(y, p, from_logits=True),
            bits,
            normal(),
        ),
        "log_likelihood one-hot": (L.log_likelihood, K.categorical_crossentropy, one_hot, softmax),
        "log_likelihood int": (L.log_likelihood, K.sparse_categorical_crossentropy, labels, softmax),
        "log_likelihood one-hot logits": (
            lambda y, p: L.log_likelihood(y, p, from_logits=True),
            lambda y, p: K.categorical_crossentropy(y, p, from_logits=True),
            one_hot,
            z,
        ),
        "log_likelihood int logits": (
            lambda y, p: L.log_likelihood(y, p, from_logits=True),
            lambda y, p: K.sparse_categorical_crossentropy(y, p, from_logits=True),
            labels,
            z,
        ),
        "msle": (L.msle, K.mean_squared_logarithmic_error, positive(), positive()),
        "mae": (L.mae, K.mean_absolute_error, normal(), normal()),
        "mape": (L.mape, K.mean_absolute_percentage_error, positive(), positive()),
        "kl_divergence": (L.kl_divergence, K.kl_divergence, softmax, tf.nn.softmax(normal())),
        "hinge": (L.hinge, K.hinge, f32(np.where(rng.random((batch, n)) > 0.5, 1.0, -1.0)), normal()),
    }


def make_step(loss_fn, jit):
    @tf.function(jit_compile=jit)
    def step(y, p):
        with tf.GradientTape() as tape:
            tape.watch(p)
            value = tf.reduce_mean(loss_fn(y, p))
        return value, tape.gradient(value, p)

    return step


def time_steps(step, y, p, steps):
    t0 = time.perf_counter()
    for _ in range(steps):
        value, grad = step(y, p)
    float(value), float(grad[0, 0])  # wait for the last step
    return (time.perf_counter() - t0) / steps


def paired(step_ours, step_twin, y, p, rounds, steps):
    for s in (step_ours, step_twin):
        time_steps(s, y, p, 5)  # trace, compile and warm up
    ratios, t_ours, t_twin = [], [], []
    for r in range(rounds):
        order = (step_twin, step_ours) if r % 2 else (step_ours, step_twin)
        times = {id(s): time_steps(s, y, p, steps) for s in order}
        a, b = times[id(step_ours)], times[id(step_twin)]
        t_ours.append(a)
        t_twin.append(b)
        ratios.append(a / b)
    return statistics.median(ratios), min(t_ours), min(t_twin)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--outputs", type=int, default=10)
    parser.add_argument("--only", default=None, help="run only the cases whose name contains this text")
    args = parser.parse_args()

    report = device.describe(print_report=False)
    print(f"device: {report['accelerator']} ({', '.join(report['gpus']) or 'no GPU'}), "
          f"TF {report['tensorflow']}, Keras {report['keras']}; batch {args.batch} x {args.outputs}, float32")
    print(f"{'loss':<30} {'mode':<5} {'ours us':>9} {'keras us':>9} {'ratio':>7}  "
          "(us: fastest round; ratio: median of paired rounds; target <= 1.10)")
    rng = np.random.default_rng(0)
    worst = 0.0
    for name, (ours, twin, y, p) in cases(args.batch, args.outputs, rng).items():
        if args.only and args.only not in name:
            continue
        for jit in (False, True):
            ratio, a, b = paired(make_step(ours, jit), make_step(twin, jit), y, p, args.rounds, args.steps)
            worst = max(worst, ratio)
            flag = "" if ratio <= 1.10 else "  <-- over target"
            mode = "xla" if jit else "graph"
            print(f"{name:<30} {mode:<5} {1e6 * a:>9.1f} {1e6 * b:>9.1f} {ratio:>7.3f}{flag}", flush=True)
    print(f"worst ratio: {worst:.3f}")


if __name__ == "__main__":
    main()
