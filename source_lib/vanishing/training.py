"""Speeds of learning while training: Nielsen's full-batch run and the callback that records it.

``GradientNormHistory`` records ``layer_speeds`` during ``model.fit``;
``full_batch_dataset`` makes every epoch one full-batch gradient step;
``train_with_speeds`` is Nielsen's ``generate_gradient.py`` run.

Reference:
    - [Nielsen, NNDL ch. 5](http://neuralnetworksanddeeplearning.com/chap5.html)
"""

from __future__ import annotations

from numbers import Real

import keras
import numpy as np
import tensorflow as tf

from source_lib.vanishing.speeds import _get_loss, _n_outputs, layer_speeds

__all__ = ["GradientNormHistory", "full_batch_dataset", "train_with_speeds"]


class GradientNormHistory(keras.callbacks.Callback):
    """Record the per-layer speeds of learning during ``model.fit``.

    At each record it stores, for every hidden layer l,

        speed_l = || dC/db_l ||,    C = (1/n) sum_x C_x over the fixed batch,

    that is ``layer_speeds(model, x, y, loss)``, before training (epoch 0)
    and after every ``every``-th epoch, on a fixed set of examples (for
    Nielsen's training plot: the same 1000 images the model trains on with
    full-batch gradient descent). It reuses the compiled pass that
    ``layer_speeds`` caches, so it adds milliseconds per epoch. The
    gradients are those of the unregularised cost ``loss`` evaluated with
    ``training=False``, whatever the model was compiled with.

    Args:
        x: inputs of the fixed measurement batch.
        y: labels or targets of that batch.
        loss: cost used for the gradients, as in ``layer_speeds``.
        every: record every ``every`` epochs (the last epoch is always kept).
        layers: layer names, as in ``layer_speeds``.

    Attributes:
        epochs: list of epoch numbers (0 = before training).
        speeds: float64 array ``(len(epochs), L)`` of the speeds, hidden
            layer 1 first.
        costs: list of the cost C on the fixed batch at each record.

    Raises:
        ValueError: if ``every`` is not a positive int.

    Reference:
        - [Nielsen, NNDL ch. 5, the speeds of learning during training](
            http://neuralnetworksanddeeplearning.com/chap5.html)
    """

    def __init__(self, x, y, loss="cross_entropy", every: int = 1, layers=None):
        super().__init__()
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"`every` must be a positive int, got {every!r}")
        self.x = np.asarray(x, dtype=np.float32)
        self.y = y
        self.loss = loss
        self.every = every
        self.layers = layers
        self.epochs = []
        self._speeds = []
        self.costs = []

    @property
    def speeds(self) -> np.ndarray:
        """float64 array ``(records, L)``: one row per entry of ``epochs``."""
        return np.asarray(self._speeds, dtype=np.float64)

    def _record(self, epoch):
        s, c = layer_speeds(self.model, self.x, self.y, loss=self.loss, layers=self.layers, return_cost=True)
        self.epochs.append(epoch)
        self._speeds.append(s)
        self.costs.append(c)

    def on_train_begin(self, logs=None):
        self.epochs, self._speeds, self.costs = [], [], []
        self._record(0)

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        last = self.params.get("epochs") if self.params else None
        if done % self.every == 0 or done == last:
            self._record(done)


def full_batch_dataset(x, y, num_classes=None):
    """A cached one-element ``tf.data.Dataset`` holding the whole ``(x, y)`` batch.

    Each epoch is then one step of full-batch gradient descent on
    C = (1/n) sum_x C_x, as in Nielsen's training plot.
    ``model.fit(full_batch_dataset(x, y), epochs=500)`` runs at a few
    milliseconds per epoch; passing NumPy arrays with ``batch_size=len(x)``
    gives the same updates but makes Keras rebuild its input pipeline every
    epoch (about 5x slower on a CPU).

    Args:
        x: inputs ``(n, features)``.
        y: integer labels ``(n,)`` (one-hot encoded with ``num_classes``,
            default 10) or targets ``(n, k)``.
        num_classes: classes for the one-hot encoding of integer labels.

    Returns:
        A ``tf.data.Dataset`` with one element ``(x, y)``: float32 arrays
        ``(n, features)`` and ``(n, k)``.

    Raises:
        ValueError: if ``x`` and ``y`` hold different numbers of examples,
            or a label is outside ``0..num_classes-1``.

    Reference:
        - [Nielsen, NNDL ch. 5](http://neuralnetworksanddeeplearning.com/chap5.html)
    """
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y)
    if y.ndim == 1:
        from source_lib.data import one_hot

        y = one_hot(y, num_classes or 10)
    if len(x) != len(y):
        raise ValueError(f"`x` and `y` have different numbers of examples: {len(x)} vs {len(y)}")
    return tf.data.Dataset.from_tensors((x, y.astype(np.float32))).cache()


def train_with_speeds(model, x, y, epochs=500, learning_rate=0.1, lmbda=5.0, loss="cross_entropy", every=1,
                      verbose=0):
    """Nielsen's training run: full-batch gradient descent, recording speeds.

    Nielsen's ``generate_gradient.py`` trains with
    ``net.SGD(td, 1, 1000, 0.1, lmbda=5.0)`` once per epoch on the first 1000
    images: full-batch gradient descent, eta = 0.1, and L2 regularisation of
    the weights (not the biases), each step doing

        w <- (1 - eta lmbda / n) w - eta dC/dw,    b <- b - eta dC/db.

    Here that is ``keras.optimizers.SGD(learning_rate, weight_decay=lmbda/n)``
    with the biases excluded from the decay. ``model`` is compiled with that
    optimizer and ``loss`` (``"cross_entropy"``: ``nielsen_cross_entropy``)
    and trained on the whole ``(x, y)`` as one batch for ``epochs`` epochs.
    The recorded speeds are ||dC/db_l|| of the unregularised cost (the decay
    does not touch biases).

    Without the decay (``lmbda=0``) a 4-hidden-layer net soon sits on the
    plateau where every output is about 0.1, and all four speeds shrink to the
    same ~2e-5; with it, the first layer stays about 100x slower than the last
    for all 500 epochs, as in Nielsen's plot.

    Args:
        model: a model from ``build_mlp``.
        x, y: the training images and labels (or one-hot targets).
        epochs: epochs of full-batch training (Nielsen: 500).
        learning_rate: eta (Nielsen: 0.1).
        lmbda: L2 regularisation parameter lambda (Nielsen: 5.0); 0 for none.
        loss: cost, as in ``layer_speeds``.
        every: record the speeds every ``every`` epochs.
        verbose: passed to ``fit``.

    Returns:
        The ``GradientNormHistory`` callback (``.epochs``, ``.speeds``,
        ``.costs``).

    Reference:
        - [Nielsen, NNDL ch. 5](http://neuralnetworksanddeeplearning.com/chap5.html)
    """
    if isinstance(lmbda, bool) or not isinstance(lmbda, Real) or lmbda < 0:
        raise ValueError(f"`lmbda` must be a number >= 0, got {lmbda!r}")
    history = GradientNormHistory(x, y, loss=loss, every=every)
    decay = float(lmbda) / len(x) if lmbda else None
    optimizer = keras.optimizers.SGD(learning_rate=learning_rate, weight_decay=decay)
    if decay:
        optimizer.exclude_from_weight_decay(var_names=["bias"])
    model.compile(optimizer=optimizer, loss=_get_loss(loss))
    model.fit(full_batch_dataset(x, y, num_classes=_n_outputs(model)), epochs=epochs, verbose=verbose,
              callbacks=[history], shuffle=False)
    return history
