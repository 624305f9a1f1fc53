"""Speed of the vanishing-gradient toolkit (``source_lib.vanishing``), on CPU or GPU.

Three measurements; the first two have a baseline timed in the same run, the
third has none (only the issue's target):

1. ``layer_speeds`` on Nielsen's [784, 30, 30, 30, 30, 10] net over 1000
   images, after warm-up (median of ``--repeats`` calls). Baseline: the same
   norms computed with an eager ``tf.GradientTape`` (no ``tf.function``), i.e.
   what the cache of compiled passes saves. Target: under 1 s on a 2-core CPU.
2. Nielsen's training plot: 500 epochs of full-batch gradient descent with the
   speed callback (``train_with_speeds``: eta 0.1, lmbda 5, as Nielsen's
   ``generate_gradient.py``). Baseline: ``model.fit`` on NumPy arrays with
   ``batch_size=1000``, plain SGD (no weight decay) and no callback. It is not
   the same work (no speed recording, no decay): the ratio says what
   recording the speeds costs over plain training, net of what the cached
   full-batch dataset saves, not a speed-up of one identical computation.
3. A depth sweep, 2..20 hidden layers of 30 units, for sigmoid, tanh, relu,
   swish, mish and residual (sigmoid + identity skips): build the net and
   measure its initial speeds once (each net is new, so every call traces).
   No baseline: it is timed against the target only, under 60 s in total on
   a CPU. The table prints the last/first speed ratio.

Run: .venv/bin/python benchmarks/vanishing.py [--repeats 20] [--epochs 500]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from source_lib import device  # noqa: E402
from source_lib import vanishing as V  # noqa: E402
from source_lib.data import load_mnist, one_hot  # noqa: E402
from timing import median_call  # noqa: E402  (benchmarks/timing.py, beside this file)

KINDS = ("sigmoid", "tanh", "relu", "swish", "mish", "residual")


def eager_speeds(model, x, y):
    """Baseline: the same norms of the mean bias gradient, eagerly."""
    biases = [layer.bias for layer in V.hidden_layers(model)]
    with tf.GradientTape() as tape:
        cost = tf.reduce_mean(V.nielsen_cross_entropy(y, model(x, training=False)))
    return [float(tf.norm(g)) for g in tape.gradient(cost, biases)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=500)
    ap.add_argument("--max-depth", type=int, default=20)
    args = ap.parse_args()

    report = device.describe()
    print()
    (x, y), _ = load_mnist(n_train=1000, n_test=0, source="offline")
    yh = one_hot(y)
    xt, yt = tf.constant(x), tf.constant(yh)

    # 1. layer_speeds after warm-up
    model = V.build_mlp([784, 30, 30, 30, 30, 10], seed=0)
    t = time.perf_counter()
    speeds = V.layer_speeds(model, x, y)
    first = time.perf_counter() - t
    warm = median_call(lambda: V.layer_speeds(model, x, y), args.repeats)
    eager_speeds(model, xt, yt)
    eager = median_call(lambda: eager_speeds(model, xt, yt), args.repeats)
    print(f"1. layer_speeds, [784,30,30,30,30,10], 1000 images  ({report['accelerator']})")
    print(f"   speeds            : {np.array2string(speeds, precision=4)}")
    print(f"   first call (trace): {first * 1e3:8.1f} ms")
    print(f"   warm (median)     : {warm.wall * 1e3:8.2f} ms (CPU {warm.cpu * 1e3:.2f} ms)   "
          f"target < 1000 ms: {'OK' if warm.wall < 1 else 'MISSED'}")
    print(f"   baseline, same norms by an eager GradientTape (no tf.function): {eager.wall * 1e3:8.2f} ms "
          f"(CPU {eager.cpu * 1e3:.2f} ms)   ratio warm/eager = {warm.wall / eager.wall:.2f}")

    # 2. Nielsen's training plot
    m1 = V.build_mlp([784, 30, 30, 30, 30, 10], seed=0)
    t = time.perf_counter()
    hist = V.train_with_speeds(m1, x, y, epochs=args.epochs, learning_rate=0.1)
    ours = time.perf_counter() - t
    m2 = V.build_mlp([784, 30, 30, 30, 30, 10], seed=0)
    m2.compile(optimizer=keras.optimizers.SGD(0.1), loss=V.nielsen_cross_entropy)
    t = time.perf_counter()
    m2.fit(x, yh, batch_size=1000, epochs=args.epochs, verbose=0, shuffle=False)
    base = time.perf_counter() - t
    print(f"\n2. Nielsen's training plot: {args.epochs} epochs, full batch 1000, eta 0.1, lmbda 5")
    print(f"   train_with_speeds (cached dataset + speed callback + weight decay): {ours:6.2f} s")
    print(f"   baseline fit(NumPy, batch_size=1000), plain SGD, no decay, no callback: {base:6.2f} s   "
          f"ratio = {ours / base:.2f} (not identical work)")
    rows = [0, 1, 10, 100, args.epochs]
    for e in [r for r in rows if r <= args.epochs]:
        i = hist.epochs.index(e)
        print(f"   epoch {e:4d}: speeds {np.array2string(hist.speeds[i], precision=6)}  cost {hist.costs[i]:.4f}")

    # 3. depth sweep
    depths = range(2, args.max_depth + 1)
    print(f"\n3. depth sweep {depths.start}..{depths.stop - 1}, width 30, Nielsen init, 1000 images "
          "(no baseline: timed against the target only)")
    total = 0.0
    shown = [d for d in (2, 4, 8, 12, 16, 20) if d in depths]
    print(f"   {'':<9} {'':>7}   last/first speed ratio at depth")
    print(f"   {'kind':<9} {'time s':>7}   " + " ".join(f"{d:>8d}" for d in shown))
    for kind in KINDS:
        t = time.perf_counter()
        res = V.depth_sweep(x, y, depths=depths, kinds=(kind,))
        dt = time.perf_counter() - t
        total += dt
        ratios = " ".join(f"{res[kind][d][-1] / res[kind][d][0]:8.2g}" for d in shown)
        print(f"   {kind:<9} {dt:7.2f}   {ratios}")
    print(f"   total {total:.1f} s for {len(KINDS) * len(depths)} networks   target < 60 s: "
          f"{'OK' if total < 60 else 'MISSED'}")


if __name__ == "__main__":
    main()
