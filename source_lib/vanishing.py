"""The vanishing gradient (Затухающий градиент), measured and repaired.

This module backs the lecture's sections "Затухающий градиент" (the vanishing
gradient), "Добавление «шума» в значение градиента" (gradient noise),
"Глубина НС" (network depth) and "«Восстановление» затухающего градиента"
(repairing the vanishing gradient):

- ``build_mlp``: a deep fully connected Keras model with named hidden layers
  (``hidden_1`` ... ``hidden_L``), a choice of activation and initialisation,
  optional ResNet-style identity skips and GoogLeNet-style auxiliary heads.
- ``layer_speeds``: Nielsen's "speed of learning" of each hidden layer, the
  norm of the mean over examples of dC/db (every derivative by autodiff).
- ``GradientNormHistory``: a Keras callback that records those speeds during
  ``fit``.
- ``AnnealedGradientNoise``: wraps any Keras optimizer and adds
  N(0, sigma_t^2) noise to the gradients, sigma_t^2 = eta / (1 + t)^gamma.
- ``single_neuron_chain``: the lecture's chain of 4 one-neuron layers, with
  the factors of its product formula for dC/db_1.
- ``run_noise_experiment``: a scaled-down version of Neelakantan et al.'s
  20-layer MNIST experiment, with and without gradient noise.
- ``depth_sweep``: layer speeds against depth for several activations.

References:
    - [Nielsen, Neural Networks and Deep Learning, ch. 5](
        http://neuralnetworksanddeeplearning.com/chap5.html)
    - [Neelakantan et al., 2015, Adding Gradient Noise Improves Learning for
        Very Deep Networks](https://arxiv.org/abs/1511.06807)
    - [He et al., 2016, Deep Residual Learning](https://arxiv.org/abs/1512.03385)
    - [Szegedy et al., 2015, Going Deeper with Convolutions (GoogLeNet)](
        https://arxiv.org/abs/1409.4842)
"""

from __future__ import annotations

import logging
import math
import re
import weakref
from numbers import Real

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from source_lib import activations as _activations
from source_lib.losses import _activation_logits

__all__ = [
    "build_mlp",
    "hidden_layers",
    "aux_loss_weights",
    "nielsen_cross_entropy",
    "half_squared_error",
    "layer_speeds",
    "GradientNormHistory",
    "full_batch_dataset",
    "train_with_speeds",
    "AnnealedGradientNoise",
    "single_neuron_chain",
    "biases_for_zero_z",
    "run_noise_experiment",
    "depth_sweep",
    "NIELSEN_SPEEDS",
]

#: Nielsen's published initial speeds of learning (NNDL ch. 5), keyed by the
#: number of hidden layers of [784, 30, ..., 30, 10].
NIELSEN_SPEEDS = {
    2: (0.07, 0.31),
    3: (0.012, 0.060, 0.283),
    4: (0.003, 0.017, 0.070, 0.285),
}

_HIDDEN = re.compile(r"^hidden_(\d+)$")


# --------------------------------------------------------------------------- #
# Losses used by the speed measurements
# --------------------------------------------------------------------------- #


@keras.saving.register_keras_serializable(package="source_lib")
def nielsen_cross_entropy(y_true, y_pred):
    """Cross-entropy summed over sigmoid outputs, Nielsen's cost per example.

    C_x = -sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)],    a_j = sigma(z_j)

    Keras then takes the mean over the batch, so the total cost is Nielsen's
    C = (1/n) sum_x C_x. Unlike ``keras.losses.binary_crossentropy``, which
    takes the *mean* over the k outputs, this is the *sum*: the gradients are
    k = 10 times larger, as in the book.

    How it is computed depends on what ``y_pred`` is:

    - the output of a Keras sigmoid (``build_mlp``'s output layer, or
      ``keras.activations.sigmoid``) on the TensorFlow backend carries its
      logits z (the tensor attribute ``_keras_logits``, which Keras's own
      cross-entropies use too). The cost is then computed from z in the
      stable form C_x = sum_j [max(z_j, 0) - y_j z_j + ln(1 + e^{-|z_j|})],
      with no clipping: a saturated output still gives the exact cost and the
      gradient a - y. This is the case in ``layer_speeds`` and ``fit``.
      Keras's softmax caches its logits under the same attribute, so they
      are used only when ``y_pred`` really is a sigmoid output (the op that
      made it in a graph, its values when eager; see
      ``source_lib.losses._activation_logits``).
    - any other ``y_pred`` (a softmax output, NumPy probabilities, another
      backend) is clipped to [eps, 1 - eps] with Keras's epsilon
      (``keras.config.epsilon()``, 1e-7), so ln never sees 0 and each term is
      at most -ln(eps) = 16.1. The formula above is then applied to those
      probabilities as they are (for a softmax output the (1 - y_j) ln(1 - a_j)
      terms count too).

    Args:
        y_true: targets in [0, 1], shape ``(batch, k)``.
        y_pred: sigmoid outputs a in (0, 1), shape ``(batch, k)``.

    Returns:
        Per-example cost, shape ``(batch,)``.

    Reference:
        - [Nielsen, NNDL ch. 3, the cross-entropy cost](
            http://neuralnetworksanddeeplearning.com/chap3.html)
    """
    z = _activation_logits(y_pred, "sigmoid")  # None for a softmax output, whose logits Keras caches too
    if z is not None:
        y_true = ops.cast(y_true, z.dtype)
        # tf.nn.sigmoid_cross_entropy_with_logits's form: with `where` (not relu/abs) the
        # derivative at z = 0 is the exact sigma(0) - y
        positive = z >= 0
        relu_z = ops.where(positive, z, ops.zeros_like(z))
        neg_abs_z = ops.where(positive, -z, z)
        return ops.sum(relu_z - z * y_true + ops.log1p(ops.exp(neg_abs_z)), axis=-1)
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    eps = keras.config.epsilon()
    a = ops.clip(y_pred, eps, 1.0 - eps)
    return -ops.sum(y_true * ops.log(a) + (1.0 - y_true) * ops.log(1.0 - a), axis=-1)


@keras.saving.register_keras_serializable(package="source_lib")
def half_squared_error(y_true, y_pred):
    """Nielsen's quadratic cost per example.

    C_x = 1/2 ||y - a||^2 = 1/2 sum_j (y_j - a_j)^2

    Keras takes the mean over the batch, so the total cost is the lecture's
    C = 1/(2n) sum_x ||y(x) - a(x)||^2 and dC_x/da = a - y. This is k/2 times
    ``keras.losses.mean_squared_error``, which averages over the k outputs.

    Args:
        y_true: targets, shape ``(batch, k)``.
        y_pred: outputs, shape ``(batch, k)``.

    Returns:
        Per-example cost, shape ``(batch,)``.

    Reference:
        - [Nielsen, NNDL ch. 1, the quadratic cost](
            http://neuralnetworksanddeeplearning.com/chap1.html)
    """
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    return 0.5 * ops.sum(ops.square(y_true - y_pred), axis=-1)


_NAMED_LOSSES = {
    "cross_entropy": nielsen_cross_entropy,
    "nielsen_cross_entropy": nielsen_cross_entropy,
    "quadratic": half_squared_error,
    "half_squared_error": half_squared_error,
    "categorical_crossentropy": keras.losses.categorical_crossentropy,
}


def _get_loss(loss):
    if callable(loss):
        return loss
    if isinstance(loss, str) and loss in _NAMED_LOSSES:
        return _NAMED_LOSSES[loss]
    raise ValueError(f"`loss` must be a callable or one of {sorted(_NAMED_LOSSES)}, got {loss!r}")


# --------------------------------------------------------------------------- #
# Building the deep MLP
# --------------------------------------------------------------------------- #


def _layer_seed(seed, index, which):
    """Seed of hidden layer ``index`` (the output layer is L + 1): kernel ``which=0``, bias 1.

    seed * 1000 + 2 * index + which. The notebooks' printed numbers depend on
    these seeds: do not change them.
    """
    return None if seed is None else int(seed) * 1000 + 2 * index + which


#: Tag of the auxiliary heads' seed stream (any constant; it only has to differ from other streams).
_AUX_STREAM = 0x617578  # "aux"


def _aux_seed(seed, index, which):
    """Seed of auxiliary head ``aux_<index>``: a stream of its own.

    ``_layer_seed`` covers almost every int as (seed, layer) varies, so an offset
    would make a head share the seed (and so the first values) of a hidden
    layer of the model built with another seed. The heads' seeds are hashed
    instead, from (seed, stream tag, index, which), by NumPy's SeedSequence,
    into 31 bits: a clash with the small ints of ``_layer_seed`` is as unlikely
    as one random 31-bit draw hitting them.
    """
    if seed is None:
        return None
    entropy = [int(seed) % 2**64, _AUX_STREAM, int(index), int(which)]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0] & 0x7FFFFFFF)


def _initializers(init, init_std, n_in, seed, index, seed_fn=_layer_seed):
    """(kernel_initializer, bias_initializer) for layer ``index`` with ``n_in`` inputs.

    ``seed_fn(seed, index, which)`` derives the two seeds (``_layer_seed`` for
    hidden and output layers, ``_aux_seed`` for auxiliary heads).
    """
    ks, bs = seed_fn(seed, index, 0), seed_fn(seed, index, 1)
    if isinstance(init, (tuple, list)):
        if len(init) != 2 or init[0] != "normal" or not isinstance(init[1], Real) or init[1] <= 0:
            raise ValueError(f"`init` as a tuple must be ('normal', std > 0), got {init!r}")
        init, init_std = "normal", float(init[1])
    if init == "nielsen":
        return (
            keras.initializers.RandomNormal(0.0, 1.0 / math.sqrt(n_in), seed=ks),
            keras.initializers.RandomNormal(0.0, 1.0, seed=bs),
        )
    if init == "glorot_uniform":
        return keras.initializers.GlorotUniform(seed=ks), keras.initializers.Zeros()
    if init == "he_normal":
        return keras.initializers.HeNormal(seed=ks), keras.initializers.Zeros()
    if init == "normal":
        if init_std is None or not isinstance(init_std, Real) or init_std <= 0:
            raise ValueError(f"init='normal' needs `init_std` > 0, got init_std={init_std!r}")
        return keras.initializers.RandomNormal(0.0, float(init_std), seed=ks), keras.initializers.Zeros()
    raise ValueError(
        "`init` must be 'nielsen', 'glorot_uniform', 'he_normal', 'normal' (with init_std) "
        f"or ('normal', std), got {init!r}"
    )


def build_mlp(
    sizes,
    activation="sigmoid",
    init="nielsen",
    residual=False,
    aux_outputs=False,
    seed=None,
    output_activation="sigmoid",
    init_std=None,
    name=None,
):
    """Build a deep fully connected network with named hidden layers.

    For ``sizes = [n_0, n_1, ..., n_L, n_out]`` the hidden layers compute

        h_l = g(W_l h_{l-1} + b_l),                 l = 1..L, h_0 = x,

    or, with ``residual=True`` and ``n_l == n_{l-1}`` (ResNet's identity skip),

        h_l = h_{l-1} + g(W_l h_{l-1} + b_l),

    so that the backward pass has a path that is not multiplied by g'. The
    output is ``a = f(W_out h_L + b_out)`` with ``f = output_activation``.

    Initialisations (W is ``n_out x n_in`` in the book's notation):

    - ``"nielsen"``: W ~ N(0, 1/n_in), b ~ N(0, 1) (NNDL ch. 3 and 5);
    - ``"glorot_uniform"``: W ~ U(-r, r), r = sqrt(6 / (n_in + n_out)), b = 0;
    - ``"he_normal"``: W ~ truncated N(0, 2/n_in), b = 0;
    - ``"normal"`` with ``init_std=s``, or ``("normal", s)``: W ~ N(0, s^2),
      b = 0 (Neelakantan et al.'s "simple init" is s = 0.1).

    Args:
        sizes: layer widths ``[inputs, hidden..., outputs]``, at least 3 ints.
        activation: hidden activation, a name known to
            ``source_lib.activations.get`` or a callable.
        init: initialisation scheme, see above.
        residual: add identity skips between consecutive equal-width hidden
            layers (the Add layers are named ``residual_l``).
        aux_outputs: GoogLeNet-style auxiliary classifier heads ``aux_l`` (one
            Dense layer with ``output_activation`` on h_l). ``True`` puts one
            on every hidden layer but the last (so it needs at least 2 hidden
            layers); a list of hidden-layer numbers (ints, 1-based) chooses
            them. The model then returns a dict of outputs,
            ``{"output": ..., "aux_l": ...}``; get loss weights from
            ``aux_loss_weights``.
        seed: int for reproducible weights, or ``None``. Each hidden layer
            and the output layer get their own derived seed; the auxiliary
            heads draw theirs from a separate stream, so adding heads leaves
            the other layers' weights as without them, and no head repeats
            a layer of a model built with another seed.
        output_activation: activation of the output layer (``"sigmoid"`` for
            Nielsen's setup, ``"softmax"`` for a softmax classifier).
        init_std: standard deviation for ``init="normal"``.
        name: model name.

    Returns:
        A ``keras.Model``. Hidden Dense layers are named ``hidden_1`` ...
        ``hidden_L``; the output layer is named ``output``.

    Raises:
        ValueError: for bad ``sizes``, ``init``/``init_std``, ``activation``,
            ``residual`` without equal-width layers, or ``aux_outputs``
            numbers outside 1..L (or ``True`` with L = 1).
        TypeError: for a non-int ``seed`` or ``aux_outputs`` entry.

    References:
        - [Nielsen, NNDL ch. 3, "Weight initialization"](
            http://neuralnetworksanddeeplearning.com/chap3.html): the
          ``"nielsen"`` initialisation, and ch. 5 for the networks it studies.
        - [Glorot & Bengio, 2010, Understanding the difficulty of training
            deep feedforward neural networks](
            https://proceedings.mlr.press/v9/glorot10a.html): ``"glorot_uniform"``.
        - [He et al., 2015, Delving Deep into Rectifiers](
            https://arxiv.org/abs/1502.01852): ``"he_normal"``.
        - [He et al., 2016, Deep Residual Learning for Image Recognition](
            https://arxiv.org/abs/1512.03385): ``residual`` identity skips.
        - [Szegedy et al., 2015, Going Deeper with Convolutions (GoogLeNet)](
            https://arxiv.org/abs/1409.4842): ``aux_outputs`` heads.
        - [Neelakantan et al., 2015, Adding Gradient Noise Improves Learning
            for Very Deep Networks](https://arxiv.org/abs/1511.06807): the
          "simple init" ``("normal", 0.1)``.
    """
    if not isinstance(sizes, (list, tuple)) or len(sizes) < 3:
        raise ValueError(f"`sizes` must list at least [inputs, hidden, outputs], got {sizes!r}")
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1:
            raise ValueError(f"`sizes` must hold positive ints, got {sizes!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise TypeError(f"`seed` must be an int or None, got {seed!r}")
    sizes = [int(s) for s in sizes]
    n_hidden = len(sizes) - 2
    act = _activations.get(activation)
    out_act = _output_activation(output_activation)
    if residual and not any(sizes[l] == sizes[l - 1] for l in range(2, n_hidden + 1)):
        raise ValueError(
            f"`residual=True` needs two consecutive hidden layers of equal width; sizes={sizes}"
        )

    aux_at = _aux_layers(aux_outputs, n_hidden)

    inputs = keras.Input(shape=(sizes[0],), name="inputs")
    h = inputs
    aux = {}
    for l in range(1, n_hidden + 1):
        k_init, b_init = _initializers(init, init_std, sizes[l - 1], seed, l)
        z = keras.layers.Dense(
            sizes[l], activation=act, kernel_initializer=k_init, bias_initializer=b_init, name=f"hidden_{l}"
        )(h)
        if residual and l >= 2 and sizes[l] == sizes[l - 1]:
            h = keras.layers.Add(name=f"residual_{l}")([h, z])
        else:
            h = z
        if l in aux_at:
            ak, ab = _initializers(init, init_std, sizes[l], seed, l, seed_fn=_aux_seed)
            aux[f"aux_{l}"] = keras.layers.Dense(
                sizes[-1], activation=out_act, kernel_initializer=ak, bias_initializer=ab, name=f"aux_{l}"
            )(h)
    k_init, b_init = _initializers(init, init_std, sizes[-2], seed, n_hidden + 1)
    out = keras.layers.Dense(
        sizes[-1], activation=out_act, kernel_initializer=k_init, bias_initializer=b_init, name="output"
    )(h)
    outputs = {"output": out, **aux} if aux else out
    return keras.Model(inputs, outputs, name=name or f"mlp_{n_hidden}x{activation if isinstance(activation, str) else 'f'}")


def _aux_layers(aux_outputs, n_hidden):
    """The sorted hidden-layer numbers that get an auxiliary head."""
    if aux_outputs is True:
        if n_hidden < 2:
            raise ValueError(
                "`aux_outputs=True` puts a head on every hidden layer but the last, and this network has "
                f"only {n_hidden} hidden layer: use aux_outputs=False, or a list such as [1]"
            )
        return list(range(1, n_hidden))
    if aux_outputs is False or aux_outputs is None:
        return []
    if isinstance(aux_outputs, (str, bytes)) or not isinstance(aux_outputs, (list, tuple, range, np.ndarray)):
        raise TypeError(
            f"`aux_outputs` must be True, False or a list of hidden-layer numbers, got {aux_outputs!r}"
        )
    for i in aux_outputs:
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"`aux_outputs` must hold int hidden-layer numbers, got {aux_outputs!r}")
        if not 1 <= i <= n_hidden:
            raise ValueError(f"`aux_outputs` must be hidden-layer numbers in 1..{n_hidden}, got {aux_outputs!r}")
    return sorted(set(int(i) for i in aux_outputs))


def _output_activation(name):
    """``source_lib.activations.get``, plus Keras's own names (e.g. ``"softmax"``)."""
    try:
        return _activations.get(name)
    except ValueError:
        return keras.activations.get(name)


def hidden_layers(model):
    """The model's hidden Dense layers ``hidden_1 ... hidden_L``, in order of l.

    The layers are found by name (``hidden_<l>``, as ``build_mlp`` names
    them) and sorted by the number l, not by their order in ``model.layers``.

    Args:
        model: a Keras model, usually from ``build_mlp``.

    Returns:
        A list of the L layers, ``hidden_1`` first.

    Raises:
        ValueError: if no layer is named ``hidden_<l>``.
    """
    found = []
    for layer in model.layers:
        m = _HIDDEN.match(layer.name)
        if m:
            found.append((int(m.group(1)), layer))
    if not found:
        raise ValueError(
            f"model {model.name!r} has no layers named 'hidden_<l>'; build it with build_mlp "
            "or pass `layers=` (a list of layer names)"
        )
    return [layer for _, layer in sorted(found, key=lambda t: t[0])]


def aux_loss_weights(model, aux_weight: float = 0.3) -> dict:
    """Loss weights for a model built with ``aux_outputs``.

    The training cost is C = C_output + aux_weight * sum_l C_aux_l: weight 1
    for ``output`` and ``aux_weight`` for each ``aux_l`` head (GoogLeNet used
    0.3 and dropped the heads after training). Use as
    ``model.compile(loss={n: loss for n in model.output_names},
    loss_weights=aux_loss_weights(model))`` (Keras wants one loss per output).

    Args:
        model: a model from ``build_mlp`` (with or without auxiliary heads).
        aux_weight: weight of each auxiliary head's cost.

    Returns:
        ``{output_name: weight}`` for every output of the model (just
        ``{"output": 1.0}`` without heads).

    Reference:
        - [Szegedy et al., 2015, Going Deeper with Convolutions, section 5](
            https://arxiv.org/abs/1409.4842)
    """
    names = list(model.output_names)
    return {n: (1.0 if n == "output" else float(aux_weight)) for n in names}


# --------------------------------------------------------------------------- #
# Speeds of learning
# --------------------------------------------------------------------------- #

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


# --------------------------------------------------------------------------- #
# Annealed gradient noise
# --------------------------------------------------------------------------- #


@keras.saving.register_keras_serializable(package="source_lib")
class AnnealedGradientNoise(keras.optimizers.Optimizer):
    """Add annealed Gaussian noise to the gradients of any Keras optimizer.

    At optimizer step t = 0, 1, 2, ... every gradient component gets
    independent noise before the wrapped optimizer uses it:

        g_t <- g_t + N(0, sigma_t^2),    sigma_t^2 = eta / (1 + t)^gamma.

    t is the wrapped optimizer's ``iterations`` (the number of updates already
    applied), so the first update uses sigma_0^2 = eta. Neelakantan et al.
    use eta in {0.01, 0.3, 1.0} and gamma = 0.55; the lecture shows eta = 1.

    The wrapper follows ``keras.optimizers.LossScaleOptimizer``: it holds the
    inner optimizer, forwards ``learning_rate`` and ``iterations`` to it, and
    saves both optimizers' variables, so a compiled model saves to ``.keras``
    and loads back (with ``source_lib`` imported).

    Args:
        inner_optimizer: the optimizer to wrap (an instance or an identifier
            such as ``"sgd"``).
        eta: noise scale eta > 0 (variance at t = 0).
        gamma: decay exponent gamma >= 0.
        seed: int seed of the noise, or ``None``.
        name: optimizer name.

    Reference:
        - [Neelakantan et al., 2015, Adding Gradient Noise Improves Learning
            for Very Deep Networks](https://arxiv.org/abs/1511.06807)
    """

    def __init__(self, inner_optimizer, eta=0.01, gamma=0.55, seed=None, name=None, **kwargs):
        if kwargs:
            raise ValueError(
                f"AnnealedGradientNoise does not take {sorted(kwargs)}; set them on `inner_optimizer`."
            )
        for arg, value, low_ok in (("eta", eta, False), ("gamma", gamma, True)):
            if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
                raise TypeError(f"`{arg}` must be a finite number, got {value!r}")
            if value < 0 or (value == 0 and not low_ok):
                raise ValueError(f"`{arg}` must be {'>= 0' if low_ok else '> 0'}, got {value!r}")
        super().__init__(learning_rate=0.0, name=name)
        self.inner_optimizer = keras.optimizers.get(inner_optimizer)
        self.eta = float(eta)
        self.gamma = float(gamma)
        self.seed = seed
        self._seed_generator = keras.random.SeedGenerator(seed, name="gradient_noise_seed")

    def noise_std(self, t) -> float:
        """sigma_t = sqrt(eta / (1 + t)^gamma) at step ``t`` (a Python float)."""
        return math.sqrt(self.eta / (1.0 + float(t)) ** self.gamma)

    def build(self, var_list):
        self.inner_optimizer.build(var_list)
        super().build(var_list)

    @property
    def variables(self):
        return self._variables + self.inner_optimizer.variables

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        self.inner_optimizer.learning_rate = learning_rate

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    def apply(self, grads, trainable_variables=None):
        if not self.built:
            if trainable_variables is None:
                raise ValueError("Call `optimizer.build(trainable_variables)` first, or pass the variables.")
            with keras.name_scope(self.name, caller=self):
                self.build(list(trainable_variables))
        t = ops.cast(self.inner_optimizer.iterations, "float32")
        variance = self.eta / ops.power(1.0 + t, self.gamma)
        std = ops.sqrt(variance)
        noisy = []
        for g in grads:
            if g is None:
                noisy.append(None)
                continue
            noise = keras.random.normal(ops.shape(g), dtype="float32", seed=self._seed_generator)
            noisy.append(g + ops.cast(std * noise, g.dtype))
        self.inner_optimizer.apply(noisy, trainable_variables)

    def finalize_variable_values(self, var_list):
        self.inner_optimizer.finalize_variable_values(var_list)

    def get_config(self):
        return {
            "name": self.name,
            "inner_optimizer": keras.saving.serialize_keras_object(self.inner_optimizer),
            "eta": self.eta,
            "gamma": self.gamma,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        inner = keras.saving.deserialize_keras_object(config.pop("inner_optimizer"), custom_objects=custom_objects)
        return cls(inner, **config)


# --------------------------------------------------------------------------- #
# The lecture's chain of one-neuron layers
# --------------------------------------------------------------------------- #


def _as_chain(name, value, n):
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"`{name}` must be a number or a sequence of {n} numbers, got {value!r}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must be finite, got {value!r}")
    return arr


def biases_for_zero_z(w, x=1.0, n_layers: int = 4) -> np.ndarray:
    """Biases that make every weighted input z_l = w_l a_{l-1} + b_l equal 0.

    b_1 = -w_1 x, and for l > 1, b_l = -w_l sigma(0) = -w_l / 2 (every a_l is
    then sigma(0) = 1/2). With w = 100 this is Nielsen's exploding-gradient
    example: every factor w sigma'(0) of the product formula is
    100 * 0.25 = 25.

    Args:
        w: the weights w_1..w_L, or one number for every layer.
        x: the input a_0.
        n_layers: the chain length L when ``w`` is a number.

    Returns:
        float64 array ``(L,)`` of the biases b_1..b_L.

    Reference:
        - [Nielsen, NNDL ch. 5, "The exploding gradient problem"](
            http://neuralnetworksanddeeplearning.com/chap5.html)
    """
    w = _as_chain("w", w, n_layers if np.ndim(w) == 0 else len(w))
    b = -w * 0.5
    b[0] = -w[0] * float(x)
    return b


def single_neuron_chain(w, b, x=1.0, y=0.0, loss="quadratic"):
    """A chain of one-neuron sigmoid layers: the lecture's has 4 (L = 4).

    z_l = w_l a_{l-1} + b_l, a_l = sigma(z_l), a_0 = x, and the cost
    C = 1/2 (a_L - y)^2 (``loss="quadratic"``) or
    C = -[y ln a_L + (1 - y) ln(1 - a_L)] (``loss="cross_entropy"``).
    Backpropagation gives the lecture's product formula (L = 4)

        dC/db_1 = sigma'(z_1) w_2 sigma'(z_2) w_3 sigma'(z_3) w_4 sigma'(z_4) dC/da_4,

    and in general dC/db_l = sigma'(z_l) * prod_{k>l} (w_k sigma'(z_k)) * dC/da_L.
    Everything here is float64 and comes from TensorFlow autodiff: the
    gradients dC/db_l, the derivatives sigma'(z_l) and dC/da_L. The product of
    the factors is returned next to the autodiff gradient so they can be
    compared.

    The chain length L is 4 when ``w`` and ``b`` are both numbers; otherwise
    it is the length of the one that is a sequence (both sequences must have
    the same length).

    Args:
        w: the weights w_1..w_L (a number is used for every layer).
        b: the biases b_1..b_L (a number is used for every layer).
        x: the input a_0.
        y: the target.
        loss: ``"quadratic"`` or ``"cross_entropy"``.

    Returns:
        A dict of float64 NumPy arrays: ``z``, ``a``, ``w``, ``b`` (per layer),
        ``sigma_prime`` (sigma'(z_l)), ``factors`` (w_k sigma'(z_k) for
        k = 2..L), ``dC_da4`` (dC/da_L, a scalar; the key keeps the lecture's
        name), ``cost`` (scalar), ``grad_b`` (dC/db_l by autodiff) and
        ``grad_b_product`` (the product formula).

    Reference:
        - [Nielsen, NNDL ch. 5, "What's causing the vanishing gradient problem?"](
            http://neuralnetworksanddeeplearning.com/chap5.html)
    """
    if np.ndim(w) > 0:
        n = len(w)
    elif np.ndim(b) > 0:
        n = len(b)
    else:
        n = 4  # the lecture's chain
    w = _as_chain("w", w, n)
    b = _as_chain("b", b, n)
    if loss not in ("quadratic", "cross_entropy"):
        raise ValueError(f"`loss` must be 'quadratic' or 'cross_entropy', got {loss!r}")
    x = tf.constant(float(x), tf.float64)
    y = tf.constant(float(y), tf.float64)
    b_vars = [tf.Variable(v, dtype=tf.float64) for v in b]

    with tf.GradientTape(persistent=True) as tape:
        a = x
        zs, acts = [], []
        for w_l, b_l in zip(w, b_vars):
            z = w_l * a + b_l
            a = tf.sigmoid(z)
            zs.append(z)
            acts.append(a)
        a4 = acts[-1]  # computed from the watched b_vars, so the tape already tracks it
        if loss == "quadratic":
            cost = 0.5 * tf.square(a4 - y)
        else:
            cost = -(y * tf.math.log(a4) + (1.0 - y) * tf.math.log1p(-a4))
    grad_b = np.array([float(g) for g in tape.gradient(cost, b_vars)])
    dC_da4 = float(tape.gradient(cost, a4))
    del tape

    z_np = np.array([float(z) for z in zs])
    z_t = tf.constant(z_np)
    with tf.GradientTape() as t2:
        t2.watch(z_t)
        s = tf.sigmoid(z_t)
    sigma_prime = t2.gradient(s, z_t).numpy()

    factors = w[1:] * sigma_prime[1:]
    product = np.array([sigma_prime[l] * np.prod(factors[l:]) * dC_da4 for l in range(n)])
    return {
        "z": z_np,
        "a": np.array([float(v) for v in acts]),
        "w": w,
        "b": b,
        "sigma_prime": sigma_prime,
        "factors": factors,
        "dC_da4": dC_da4,
        "cost": float(cost),
        "grad_b": grad_b,
        "grad_b_product": product,
    }


# --------------------------------------------------------------------------- #
# Experiments
# --------------------------------------------------------------------------- #


def run_noise_experiment(
    depth: int = 20,
    width: int = 50,
    activation="relu",
    init_std: float = 0.1,
    eta: float = 0.01,
    gamma: float = 0.55,
    learning_rate: float = 0.1,
    epochs: int = 60,
    batch_size: int = 32,
    n_train=None,
    n_test=None,
    seed: int = 0,
    source: str = "offline",
    data=None,
):
    """Neelakantan et al.'s deep-MLP experiment, scaled down: with and without noise.

    A [784, width x depth, 10] network of ``activation`` units, "simple init"
    W ~ N(0, init_std^2), b = 0, and a softmax output is trained with plain
    SGD on MNIST twice from the *same* initial weights: once as is, once with
    ``AnnealedGradientNoise(eta, gamma)``. The paper's full run uses 20 layers
    of 50 ReLU units on the full MNIST; here it runs on ``load_mnist``'s data
    (the offline subset by default) in seconds to minutes on a CPU.

    Args:
        depth, width: number and width of hidden layers.
        activation: hidden activation.
        init_std: std of the "simple init".
        eta, gamma: the noise schedule sigma_t^2 = eta / (1 + t)^gamma.
        learning_rate: SGD learning rate.
        epochs, batch_size: training length and minibatch size.
        n_train, n_test: numbers of samples passed to ``load_mnist``.
        seed: seed of the weights, the shuffles and the noise.
        source: ``load_mnist`` source.
        data: optional ``((x_train, y_train), (x_test, y_test))`` to use
            instead of calling ``load_mnist``.

    Returns:
        ``{"epochs": [1..epochs], "no_noise": curves, "noise": curves,
        "config": {...}}`` where each ``curves`` dict holds lists ``loss``,
        ``accuracy`` (training) and ``test_loss``, ``test_accuracy``.

    Reference:
        - [Neelakantan et al., 2015, section 4.1](https://arxiv.org/abs/1511.06807)
    """
    if data is None:
        from source_lib.data import load_mnist

        data = load_mnist(n_train=n_train, n_test=n_test, seed=seed, source=source)
    (x_tr, y_tr), (x_te, y_te) = data
    sizes = [int(np.shape(x_tr)[1])] + [int(width)] * int(depth) + [10]
    config = dict(
        depth=depth, width=width, activation=activation, init_std=init_std, eta=eta, gamma=gamma,
        learning_rate=learning_rate, epochs=epochs, batch_size=batch_size, n_train=len(y_tr),
        n_test=len(y_te), seed=seed,
    )
    result = {"epochs": list(range(1, epochs + 1)), "config": config}
    for label, noisy in (("no_noise", False), ("noise", True)):
        keras.utils.set_random_seed(seed)  # same shuffles for both runs
        model = build_mlp(sizes, activation=activation, init="normal", init_std=init_std, seed=seed,
                          output_activation="softmax")
        opt = keras.optimizers.SGD(learning_rate=learning_rate)
        if noisy:
            opt = AnnealedGradientNoise(opt, eta=eta, gamma=gamma, seed=seed)
        model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      jit_compile=False)
        hist = model.fit(x_tr, y_tr, validation_data=(x_te, y_te), epochs=epochs, batch_size=batch_size,
                         verbose=0, shuffle=True)
        h = hist.history
        result[label] = {
            "loss": [float(v) for v in h["loss"]],
            "accuracy": [float(v) for v in h["accuracy"]],
            "test_loss": [float(v) for v in h["val_loss"]],
            "test_accuracy": [float(v) for v in h["val_accuracy"]],
        }
    return result


def depth_sweep(x, y, depths=range(2, 21), kinds=("sigmoid", "tanh", "relu", "swish", "mish", "residual"),
                width: int = 30, init="nielsen", seed: int = 0, loss="cross_entropy"):
    """Initial layer speeds of [n_in, width x L, n_out] networks for each depth L.

    For every kind and depth it builds a fresh network with ``build_mlp`` and
    records speed_l = ||dC/db_l|| (``layer_speeds``) before any training. With
    sigmoid layers the first layer's speed falls several times per extra
    layer (sigma' <= 1/4; Nielsen's first-layer speeds are 0.07, 0.012, 0.003
    at 2, 3, 4 hidden layers); ReLU, tanh and the residual skips keep the
    speeds far closer together.

    Args:
        x: inputs ``(n, n_in)`` (e.g. 1000 MNIST images).
        y: integer labels ``(n,)`` (10 classes) or targets ``(n, n_out)``.
        depths: numbers of hidden layers L.
        kinds: activation names (see ``source_lib.activations``);
            ``"residual"`` means sigmoid with ResNet-style identity skips.
        width: units per hidden layer.
        init: initialisation, as in ``build_mlp``.
        seed: seed of the weights (the same for every network).
        loss: cost, as in ``layer_speeds``. Every network has sigmoid outputs.

    Returns:
        ``{kind: {L: float64 array (L,)}}``, the speeds of hidden layers 1..L.

    Reference:
        - [Nielsen, NNDL ch. 5](http://neuralnetworksanddeeplearning.com/chap5.html)
        - [He et al., 2016, Deep Residual Learning](https://arxiv.org/abs/1512.03385)
    """
    out = {}
    n_in = int(np.shape(x)[1])
    n_out = 10 if np.ndim(y) == 1 else int(np.shape(y)[1])
    for kind in kinds:
        out[kind] = {}
        for depth in depths:
            act, res = ("sigmoid", True) if kind == "residual" else (kind, False)
            model = build_mlp([n_in] + [width] * int(depth) + [n_out], activation=act, init=init, residual=res,
                              seed=seed)
            out[kind][int(depth)] = layer_speeds(model, x, y, loss=loss)
    return out
