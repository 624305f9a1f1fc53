"""Train-step speed of each source_lib activation against its Keras twin, with an A/A control.

A jit-compiled train step (forward + backward + SGD update) of an MLP
784-256-256-10 with batch 256 is timed for our activation, for the Keras
built-in, and for a second, independently built copy of the built-in (the
A/A control), interleaved in one run (``timing.paired``: short blocks in
mirrored order, O T C C T O, rotating which goes first). Each row prints

- each side's fastest round, wall and CPU milliseconds per step;
- ``ratio``: ours / Keras, the median of the per-round ratios, wall, with its
  95% bootstrap interval, then the same for CPU seconds;
- ``A/A``: Keras's copy / Keras, the same estimate for two steps that are
  equal by construction: the run's own noise and position bias;
- ``program``: whether the two optimised XLA programs are the same ("same
  HLO": the row can differ only by noise), else their kernel and instruction
  counts, ours/Keras;
- the verdict: ``ok`` when the wall ratio is <= 1.05 (the target, worst case,
  on the median alone), ``over`` otherwise; ``(CI has 1.00)`` is added where
  the row's interval contains 1.00, i.e. this run cannot tell the row from the
  A/A case. That note never turns ``over`` into a pass.

The last lines give the worst ratio against the target and the A/A range.

Our sigmoid and tanh are ``ops.sigmoid`` and ``ops.tanh``, Keras's own; the
others are written so that the derivative at the kink is the lecture's
(``relu``, ``leaky_relu``: 1 at 0) or overflow-free (``elu``, ``softplus``).
XLA fuses all but two into as many kernels as the built-ins, with a few more
elementwise instructions inside the fusions, which cost nothing measurable
beside the matrix products. ``softplus`` and ``mish`` (through our softplus,
exact derivative 0.5 at 0) keep one more kernel a layer: the ``exp(-|x|)``
that the backward pass reuses, where TensorFlow's ``Softplus`` recomputes.

Run: .venv/bin/python benchmarks/activations.py [--rounds 120] [--steps 2] [--only NAME]
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
from timing import paired, same_program  # noqa: E402  (benchmarks/timing.py, beside this file)

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
    parser.add_argument("--rounds", type=int, default=120)
    parser.add_argument("--steps", type=int, default=2, help="calls per block (each side runs 2 blocks a round)")
    parser.add_argument("--only", default=None, help="run only the activations whose name contains this text")
    args = parser.parse_args()

    report = device.describe(print_report=False)
    print(f"device: {report['accelerator']} ({', '.join(report['gpus']) or 'no GPU'}), "
          f"TF {report['tensorflow']}, Keras {report['keras']}")
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(256, 784)).astype("float32"))
    y = tf.constant(rng.integers(0, 10, size=256))

    print(f"ms per step: each side's fastest round, wall and CPU; ratio: median of {args.rounds} rounds of "
          f"ours / keras [95% bootstrap interval], wall then CPU; A/A: keras copy / keras, likewise; "
          f"target: wall ratio <= {TARGET:.2f}")
    print(f"{'activation':<11} {'ours ms':>7} {'cpu':>6} {'keras':>7} {'cpu':>6}  {'ratio wall':<21} {'ratio cpu':<21} "
          f"{'A/A wall':<21} {'A/A cpu':<21} {'program':<24} verdict")
    worst, aa = 0.0, []
    for name, ours in A.ACTIVATIONS.items():
        if args.only and args.only not in name:
            continue
        step_ours, step_twin, step_copy = make_step(ours), make_step(TWINS[name]), make_step(TWINS[name])
        program = same_program(step_ours, step_twin, (x, y), jit=True)
        r = paired(step_ours, step_twin, (x, y), args.rounds, args.steps, control=step_copy)
        worst = max(worst, r.ratio)
        aa.append(r.control.median)
        verdict = ("ok" if r.ratio <= TARGET else "over") + (" (CI has 1.00)" if r.wall.contains(1.0) else "")
        print(f"{name:<11} {1e3 * r.ours.wall:>7.3f} {1e3 * r.ours.cpu:>6.3f} {1e3 * r.twin.wall:>7.3f} "
              f"{1e3 * r.twin.cpu:>6.3f}  {r.wall:<21} {r.cpu:<21} {r.control:<21} {r.control_cpu:<21} "
              f"{program:<24} {verdict}", flush=True)
    print(f"worst ratio: {worst:.3f} (target <= {TARGET:.2f}: {'met' if worst <= TARGET else 'NOT met'}); "
          f"A/A ratios {min(aa):.3f}..{max(aa):.3f}")


if __name__ == "__main__":
    main()
