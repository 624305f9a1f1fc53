"""Forward + backward speed of each source_lib loss against its Keras twin.

For every loss, a ``tf.function`` computes the batch mean of the per-sample
loss and its gradient with respect to ``y_pred`` (the part of a train step a
loss owns) on a batch of 4096 x 10, for our function and for the Keras
built-in, paired in the same run (``timing.paired``: rounds back to back,
alternating which goes first). The table prints the median of the per-round
ratios ours / Keras (wall, and CPU beside it) and each side's fastest round, wall and CPU microseconds
per step, for a plain graph (``jit_compile=False``) and XLA
(``jit_compile=True``). The target is <= 1.05 for each, worst case.

The log-likelihood from logits is one case where the twins do not compute the
same thing: Keras's ``categorical_crossentropy(from_logits=True)`` is
TensorFlow's fused softmax kernel, whose gradient is softmax(z) - y, right only
for label rows summing to 1; ours is exact for any row, (sum_j y_j) softmax(z)
- y. Its rows print, beside the ratio, each side's largest gradient error on
label rows that do not sum to 1, against a NumPy float64 reference.

Run: .venv/bin/python benchmarks/losses.py [--rounds 11] [--steps 100] [--batch 4096] [--only TEXT]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from source_lib import device  # noqa: E402
from source_lib import losses as L  # noqa: E402
from timing import paired  # noqa: E402  (benchmarks/timing.py, beside this file)

K = keras.losses
TARGET = 1.05


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


def unnormalised_gradient_errors(ours, twin, n, rng):
    """Largest |dC/dz - reference| of each side on label rows that do not sum to 1.

    The rows are 2 * one-hot and soft rows summing to 0.5..2; the reference is
    NumPy float64's gradient of sum_j y_j (logsumexp(z) - z_j), (sum_j y_j) softmax(z) - y.
    """
    z = rng.normal(size=(256, n))
    y = np.concatenate([2.0 * np.eye(n)[rng.integers(0, n, 128)],
                        rng.dirichlet(np.ones(n), 128) * rng.uniform(0.5, 2.0, (128, 1))])
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    reference = y.sum(axis=-1, keepdims=True) * e / e.sum(axis=-1, keepdims=True) - y
    errors = []
    for fn in (ours, twin):
        zt = tf.constant(z, tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(zt)
            value = tf.reduce_sum(fn(tf.constant(y, tf.float32), zt))
        errors.append(float(np.max(np.abs(tape.gradient(value, zt).numpy() - reference))))
    return errors


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
    print(f"{'loss':<30} {'mode':<5} {'ours us':>9} {'cpu us':>8} {'keras us':>9} {'cpu us':>8} {'ratio':>7} {'cpu':>6}  "
          f"(us per step: fastest round, wall and CPU; ratio: median of {args.rounds} paired rounds, wall, then CPU; "
          f"target <= {TARGET:.2f})")
    rng = np.random.default_rng(0)
    worst = 0.0
    for name, (ours, twin, y, p) in cases(args.batch, args.outputs, rng).items():
        if args.only and args.only not in name:
            continue
        exactness = ""
        if name == "log_likelihood one-hot logits":
            mine, theirs = unnormalised_gradient_errors(ours, twin, args.outputs, rng)
            exactness = f"  grad error, rows not summing to 1: ours {mine:.1e}, keras {theirs:.1e}"
        for jit in (False, True):
            r = paired(make_step(ours, jit), make_step(twin, jit), (y, p), args.rounds, args.steps)
            worst = max(worst, r.ratio)
            flag = "" if r.ratio <= TARGET else "  <-- over target"
            mode = "xla" if jit else "graph"
            print(f"{name:<30} {mode:<5} {1e6 * r.ours.wall:>9.1f} {1e6 * r.ours.cpu:>8.1f} "
                  f"{1e6 * r.twin.wall:>9.1f} {1e6 * r.twin.cpu:>8.1f} {r.ratio:>7.3f} {r.cpu_ratio:>6.3f}{flag}{exactness}", flush=True)
    print(f"worst ratio: {worst:.3f}")


if __name__ == "__main__":
    main()
