"""Nielsen's speed of learning of each hidden layer, speed_l = ||dC/db_l|| (Затухающий градиент).

``layer_speeds`` takes the norm of the mean bias gradient of every hidden layer
by autodiff in one compiled pass per model; ``NIELSEN_SPEEDS`` are the book's
published initial speeds. The costs are :mod:`source_lib.losses`' own:
``nielsen_cross_entropy`` is ``losses.binary_cross_entropy`` (summed over the
sigmoid outputs, Nielsen's C_x) and ``half_squared_error`` is ``losses.half_mse``.

Reference:
    - [Nielsen, NNDL ch. 5, "The vanishing gradient problem"](
        http://neuralnetworksanddeeplearning.com/chap5.html)
"""

from __future__ import annotations

import logging
import weakref

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from source_lib.losses import binary_cross_entropy, half_mse
from source_lib.vanishing.models import aux_loss_weights, hidden_layers

__all__ = ["NIELSEN_SPEEDS", "nielsen_cross_entropy", "half_squared_error", "layer_speeds"]

#: Nielsen's published initial speeds of learning (NNDL ch. 5), keyed by the
#: number of hidden layers of [784, 30, ..., 30, 10].
NIELSEN_SPEEDS = {
    2: (0.07, 0.31),
    3: (0.012, 0.060, 0.283),
    4: (0.003, 0.017, 0.070, 0.285),
}


#: Nielsen's cost per example, C_x = -sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)] over the
#: sigmoid outputs: :func:`source_lib.losses.binary_cross_entropy` (it registers this old name too).
nielsen_cross_entropy = binary_cross_entropy

#: Nielsen's quadratic cost per example, C_x = 1/2 ||y - a||^2: :func:`source_lib.losses.half_mse`.
half_squared_error = half_mse

_NAMED_LOSSES = {
    "cross_entropy": binary_cross_entropy,
    "nielsen_cross_entropy": binary_cross_entropy,
    "quadratic": half_mse,
    "half_squared_error": half_mse,
    "categorical_crossentropy": keras.losses.categorical_crossentropy,
}


def _get_loss(loss):
    if callable(loss):
        return loss
    if isinstance(loss, str) and loss in _NAMED_LOSSES:
        return _NAMED_LOSSES[loss]
    raise ValueError(f"`loss` must be a callable or one of {sorted(_NAMED_LOSSES)}, got {loss!r}")



# compiled speed functions, one per (model, loss, weights, layers), dropped with the model
_SPEED_FNS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class _OwnTracingIsExpected(logging.Filter):
    """``layer_speeds`` compiles one function per model on purpose (a depth sweep builds about a
    hundred models), and TensorFlow then warns "N out of the last M calls to <function
    _speed_fn.<locals>.speeds> triggered tf.function retracing". Only those warnings are dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("triggered tf.function retracing" in message and "_speed_fn.<locals>" in message)


if not any(isinstance(f, _OwnTracingIsExpected) for f in tf.get_logger().filters):
    tf.get_logger().addFilter(_OwnTracingIsExpected())


def _n_outputs(model) -> int:
    """Width of the main output (the layer named ``output``, else the first output)."""
    names = [layer.name for layer in model.layers]
    if "output" in names:
        return int(model.get_layer("output").output.shape[-1])
    return int(keras.tree.flatten(model.outputs)[0].shape[-1])


def _targets(model, y):
    """``y`` as float32 targets ``(n, k)``: integer labels are one-hot encoded (and checked) by ``one_hot``."""
    from source_lib.data import one_hot

    y = np.asarray(y)
    k = _n_outputs(model)
    if y.ndim == 1:
        return one_hot(y, k)
    if y.ndim != 2 or y.shape[1] != k:
        raise ValueError(f"`y` must be labels (n,) or one-hot (n, {k}), got shape {y.shape}")
    return y.astype(np.float32)


def _speed_fn(model, loss, loss_weights, layers):
    key = (id(loss), tuple(sorted((loss_weights or {}).items())), tuple(layers) if layers else None)
    per_model = _SPEED_FNS.setdefault(model, {})
    if key in per_model:
        return per_model[key]
    loss_fn = _get_loss(loss)
    chosen = [model.get_layer(n) for n in layers] if layers else hidden_layers(model)
    for layer in chosen:
        if getattr(layer, "bias", None) is None:
            raise ValueError(f"layer {layer.name!r} has no bias; the speed of learning is ||dC/db||")
    biases = [layer.bias for layer in chosen]
    weights = (loss_weights or aux_loss_weights(model)) if isinstance(model.output, dict) else None
    # the compiled function refers to the model weakly, so that the cache entry
    # (a value of a WeakKeyDictionary keyed by the model) does not keep it alive
    model_ref = weakref.ref(model)

    def total_cost(y, outputs):
        if isinstance(outputs, dict):
            return sum(weights.get(n, 0.0) * ops.mean(loss_fn(y, o)) for n, o in outputs.items())
        return ops.mean(loss_fn(y, outputs))

    @tf.function(reduce_retracing=True)
    def speeds(x, y):
        with tf.GradientTape() as tape:
            cost = total_cost(y, model_ref()(x, training=False))
        grads = tape.gradient(cost, biases)
        return ops.stack([ops.sqrt(ops.sum(ops.square(g))) for g in grads]), cost

    per_model[key] = speeds
    return speeds


def layer_speeds(model, x, y, loss="cross_entropy", loss_weights=None, layers=None, return_cost=False):
    """Nielsen's speed of learning of every hidden layer.

    For hidden layer l, with cost C = (1/n) sum_x C_x over the n examples,

        speed_l = || dC/db_l || = || (1/n) sum_x dC_x/db_l ||,

    the Euclidean norm of the mean over examples of the bias gradient, taken by
    autodiff in one ``tf.GradientTape`` pass. The pass is compiled with
    ``tf.function`` once per model (later calls reuse it, and it runs wherever
    TensorFlow puts it, CPU or GPU).

    Nielsen's setup (reproduced by ``build_mlp([784, 30, ..., 30, 10])`` with
    the defaults and ``loss="cross_entropy"`` on the first 1000 training
    images) gives speeds that grow towards the output; see ``NIELSEN_SPEEDS``.

    Args:
        model: a model from ``build_mlp`` (hidden layers ``hidden_l``), or any
            model if ``layers`` names its layers.
        x: inputs, shape ``(n, n_in)``.
        y: integer labels ``(n,)`` in ``0..k-1`` (one-hot encoded by
            ``source_lib.data.one_hot``, whose ``ValueError`` names ``y``
            when a label is out of range) or targets ``(n, k)``.
        loss: ``"cross_entropy"`` (summed over the outputs, Nielsen's cost),
            ``"quadratic"`` (1/2 ||y - a||^2), ``"categorical_crossentropy"``,
            or a callable ``loss(y_true, y_pred)`` returning per-example costs.
        loss_weights: for models with auxiliary outputs, ``{output_name:
            weight}``; default ``aux_loss_weights(model)``.
        layers: names of the layers to measure; default every ``hidden_l``.
        return_cost: also return the cost C.

    Returns:
        float64 array of shape ``(L,)``, speed of hidden layers 1..L (and the
        cost as a float if ``return_cost``).

    Reference:
        - [Nielsen, NNDL ch. 5, "The vanishing gradient problem"](
            http://neuralnetworksanddeeplearning.com/chap5.html)
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"`x` must have shape (n, features), got {x.shape}")
    y = _targets(model, y)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"`x` and `y` have different numbers of examples: {x.shape[0]} vs {y.shape[0]}")
    speeds, cost = _speed_fn(model, loss, loss_weights, layers)(tf.constant(x), tf.constant(y))
    speeds = np.asarray(speeds, dtype=np.float64)
    return (speeds, float(cost)) if return_cost else speeds
