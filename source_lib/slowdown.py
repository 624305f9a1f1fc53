"""The learning slowdown of one sigmoid neuron (lecture: "MSE" and "Cross Entropy").

Nielsen's experiment (NNDL ch. 3): one neuron with one input, a = sigma(w x + b),
trained by plain gradient descent on a single example x = 1, y = 0 with
learning rate eta = 0.15. With the quadratic cost C = (y - a)^2 / 2 the
gradient is dC/dw = (a - y) sigma'(z) x, so a neuron that starts badly wrong
and saturated (w = b = 2, a ≈ 0.98) learns very slowly at first: a plateau.
With the cross-entropy the sigma'(z) cancels, dC/dw = (a - y) x, and the
badly wrong neuron learns fastest.

:func:`train_single_neuron` runs the experiment through TensorFlow autodiff
on the losses of :mod:`source_lib.losses` (no hand-written gradient), in one
compiled ``tf.while_loop``, and returns every epoch's a, C, w and b.

Reference:
    - M. Nielsen, "Neural Networks and Deep Learning", ch. 3, "The
      cross-entropy cost function" (2015),
      http://neuralnetworksanddeeplearning.com/chap3.html
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from source_lib import losses as _losses

__all__ = ["SlowdownRecord", "train_single_neuron", "NIELSEN_RUNS"]

NIELSEN_RUNS = {
    "quadratic, w=0.6, b=0.9": dict(w=0.6, b=0.9, loss="half_mse"),
    "quadratic, w=2, b=2": dict(w=2.0, b=2.0, loss="half_mse"),
    "cross-entropy, w=0.6, b=0.9": dict(w=0.6, b=0.9, loss="binary_cross_entropy"),
    "cross-entropy, w=2, b=2": dict(w=2.0, b=2.0, loss="binary_cross_entropy"),
}
"""Nielsen's four runs (ch. 3): keyword arguments for :func:`train_single_neuron`."""


@dataclass(frozen=True)
class SlowdownRecord:
    """What :func:`train_single_neuron` recorded.

    Each array has ``epochs + 1`` entries: index 0 is the starting point,
    index k the state after k gradient steps.

    Attributes:
        epoch: 0, 1, ..., epochs.
        a: the neuron's output sigma(w x + b).
        C: the loss C(y, a).
        w, b: the weight and the bias.
        loss: the loss's name; lr, x, y: the settings of the run.
    """

    epoch: np.ndarray
    a: np.ndarray
    C: np.ndarray
    w: np.ndarray
    b: np.ndarray
    loss: str
    lr: float
    x: float
    y: float

    @property
    def label(self) -> str:
        """A legend label: the loss and the starting (w, b)."""
        return f"{self.loss}, w={self.w[0]:g}, b={self.b[0]:g}"

    def drop(self, epochs: int) -> float:
        """How far the output has moved in the first ``epochs`` steps: |a[epochs] - a[0]|."""
        return float(abs(self.a[epochs] - self.a[0]))


_TRAINER_CACHE_SIZE = 16
"""How many compiled trainers (one per loss object) :func:`_trainer` keeps: a notebook that
passes a fresh lambda on every call does not keep every traced graph alive."""


@lru_cache(maxsize=_TRAINER_CACHE_SIZE)
def _cached_trainer(loss_fn):
    return _build_trainer(loss_fn)


def _trainer(loss_fn):
    """A compiled trainer for one loss (cached, so a second run does not retrace)."""
    try:
        hash(loss_fn)
    except TypeError:  # an unhashable callable: build a trainer, do not cache it
        return _build_trainer(loss_fn)
    return _cached_trainer(loss_fn)


def _build_trainer(loss_fn):
    """Trace-on-first-call ``tf.function`` that runs the whole descent for ``loss_fn``."""
    import tensorflow as tf

    from source_lib import activations

    sigmoid = activations.sigmoid

    def cost(w, b, x, y):
        # the sigmoid is applied to z already shaped (1, 1) and its output goes to the
        # loss as it is: a reshape after the sigmoid would drop the logits Keras caches
        # on it, and the cross-entropies would fall back to a clipped a (no gradient
        # once a rounds to within 1e-7 of 1)
        a = sigmoid(tf.reshape(w * x + b, (1, 1)))
        # a per-sample loss gives shape (1,), a keras.losses.Loss a reduced scalar:
        # either way the one sample's loss is the single element
        c = loss_fn(tf.reshape(y, (1, 1)), a)
        a = tf.reshape(a, ())
        return a, tf.cast(tf.reshape(c, (-1,))[0], a.dtype)

    @tf.function(reduce_retracing=True)
    def run(w0, b0, lr, x, y, epochs):
        a_rec = tf.TensorArray(w0.dtype, size=epochs + 1)
        c_rec = tf.TensorArray(w0.dtype, size=epochs + 1)
        w_rec = tf.TensorArray(w0.dtype, size=epochs + 1)
        b_rec = tf.TensorArray(w0.dtype, size=epochs + 1)

        def body(i, w, b, a_rec, c_rec, w_rec, b_rec):
            with tf.GradientTape() as tape:
                tape.watch([w, b])
                a, c = cost(w, b, x, y)
            dw, db = tape.gradient(c, [w, b])
            a_rec, c_rec = a_rec.write(i, a), c_rec.write(i, c)
            w_rec, b_rec = w_rec.write(i, w), b_rec.write(i, b)
            return i + 1, w - lr * dw, b - lr * db, a_rec, c_rec, w_rec, b_rec

        i, w, b, a_rec, c_rec, w_rec, b_rec = tf.while_loop(
            lambda i, *_: i < epochs,
            body,
            (tf.constant(0), w0, b0, a_rec, c_rec, w_rec, b_rec),
        )
        a, c = cost(w, b, x, y)  # the state after the last step
        a_rec, c_rec = a_rec.write(epochs, a), c_rec.write(epochs, c)
        w_rec, b_rec = w_rec.write(epochs, w), b_rec.write(epochs, b)
        return a_rec.stack(), c_rec.stack(), w_rec.stack(), b_rec.stack()

    return run


def train_single_neuron(w, b, loss, lr=0.15, epochs=300, x=1.0, y=0.0, dtype="float64") -> SlowdownRecord:
    """Train one sigmoid neuron a = sigma(w x + b) on one example by gradient descent.

    Each epoch is one step w <- w - lr dC/dw, b <- b - lr dC/db, where C is
    ``loss(y, a)`` for the single example and the derivatives come from
    TensorFlow autodiff (``tf.GradientTape``) through the sigmoid and the loss.
    The defaults are Nielsen's: x = 1, y = 0, lr = 0.15, 300 epochs.

    The loss receives the sigmoid's output tensor itself, which carries its
    logit z (Keras's ``_keras_logits``). ``"binary_cross_entropy"`` therefore
    computes C = -[y ln a + (1 - y) ln(1 - a)] from z, and its gradient is
    Nielsen's dC/dz = a - y at any z: a neuron started deep in saturation
    (w = b = 10, a = 1 - 2e-9, or z up to 1e4 where a rounds to 1) still
    learns at the full rate. A ``keras.losses.Loss`` whose ``dtype`` differs
    from the run's casts a first, which drops z: it then sees a clipped into
    [1e-7, 1 - 1e-7] and gets no gradient beyond the clip.

    Args:
        w, b: the starting weight and bias (Nielsen: 0.6, 0.9 and 2, 2).
        loss: a name from :data:`source_lib.losses.LOSSES` (``"half_mse"``,
            ``"binary_cross_entropy"``, ...), a callable ``(y_true, y_pred)``
            returning the per-sample loss, or a ``keras.losses.Loss`` object
            (``keras.losses.MeanSquaredError()``, ``losses.BinaryCrossEntropy()``);
            it gets y_true and y_pred = a of shape ``(1, 1)`` and must return
            one value (shape ``()``, ``(1,)`` or ``(1, 1)``). The loss sees the
            sigmoid output a, so a loss with ``from_logits=True`` is refused.
            A ``keras.losses.Loss`` computes in its own ``dtype`` (float32
            unless it was built with ``dtype="float64"``).
        lr: the learning rate eta.
        epochs: the number of gradient steps (a non-negative int).
        x, y: the input and the desired output.
        dtype: ``"float64"`` (default) or ``"float32"``.

    Returns:
        A :class:`SlowdownRecord` with ``epochs + 1`` entries per quantity.

    Raises:
        ValueError: a negative or non-integer ``epochs``, a non-positive ``lr``,
            an unknown loss name, a loss with ``from_logits=True``, or a loss
            that returns more than one value for the one sample.

    Reference:
        - [Nielsen, NNDL ch. 3, "The cross-entropy cost function"](
            http://neuralnetworksanddeeplearning.com/chap3.html): the
          experiment (x = 1, y = 0, eta = 0.15, starts (0.6, 0.9) and (2, 2))
          and the gradients (a - y) sigma'(z) x (quadratic) and (a - y) x
          (cross-entropy).
    """
    import tensorflow as tf

    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative int; got {epochs!r}.")
    if not lr > 0:
        raise ValueError(f"lr must be positive; got {lr!r}.")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64'; got {dtype!r}.")
    loss_fn = _losses.get(loss)
    if getattr(loss_fn, "from_logits", False):
        raise ValueError(
            f"loss: {_losses._loss_name(loss_fn)} has from_logits=True, but train_single_neuron feeds "
            "the loss the neuron's sigmoid output a, not its logit z; use from_logits=False."
        )
    probe = loss_fn(tf.fill((1, 1), tf.constant(y, dtype)), tf.fill((1, 1), tf.constant(0.5, dtype)))
    if int(tf.size(probe)) != 1:
        raise ValueError(
            f"loss must return one value for the one sample (shape (), (1,) or (1, 1)); "
            f"{_losses._loss_name(loss_fn)} returned shape {tuple(probe.shape)}."
        )
    run = _trainer(loss_fn)
    args = [tf.constant(v, dtype=dtype) for v in (w, b, lr, x, y)]
    a, c, ws, bs = (t.numpy() for t in run(*args, tf.constant(int(epochs))))
    return SlowdownRecord(
        epoch=np.arange(int(epochs) + 1),
        a=a,
        C=c,
        w=ws,
        b=bs,
        loss=_losses._loss_name(loss_fn),
        lr=float(lr),
        x=float(x),
        y=float(y),
    )
