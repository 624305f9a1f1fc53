"""Activation functions of lecture 1 ("Функция активации"), written with `keras.ops`.

Every function is registered for Keras serialization (package ``"source_lib"``),
so ``keras.layers.Dense(64, activation=source_lib.activations.swish)`` saves to
``.keras`` and loads back in any process that has imported ``source_lib``.

The numbers follow the lecture. Where Keras's built-in twin differs, the
docstring says how:

| here | Keras twin | difference |
| --- | --- | --- |
| ``leaky_relu(x, alpha=0.2)`` | ``keras.activations.leaky_relu(x, negative_slope=0.2)`` | argument name |
| ``swish(x, beta=1.0)`` | ``keras.activations.silu(x)`` | Keras has no ``beta`` (``beta=1``) |
| the others | same name | none |

The derivatives that the assignments ask for are NOT written here: the library
takes them from TensorFlow's autodiff (``gradient_profile``, ``derivative_range``).
"""

from __future__ import annotations

import math
from typing import Callable

import keras
import numpy as np
from keras import ops

__all__ = [
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "elu",
    "selu",
    "relu6",
    "swish",
    "mish",
    "softplus",
    "linear",
    "SELU_ALPHA",
    "SELU_SCALE",
    "ACTIVATIONS",
    "KERAS_TWINS",
    "FORMULAS",
    "get",
    "Swish",
    "Maxout",
    "RBF",
    "LowRankDense",
    "PReLU",
    "gradient_profile",
    "derivative_range",
    "value_range",
    "activation_table",
    "format_activation_table",
]

_register = keras.saving.register_keras_serializable(package="source_lib")

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


# --- functions ----------------------------------------------------------------


@_register
def sigmoid(x):
    """Logistic sigmoid, `sigmoid(x) = 1 / (1 + exp(-x))`.

    Saturates on both sides: its derivative `sigmoid(x) * (1 - sigmoid(x))`
    is at most 0.25 (at x = 0), the root of the vanishing gradient.

    On the TensorFlow backend the output carries its input as Keras's
    `_keras_logits`, so `source_lib.losses.binary_cross_entropy` (and Keras's
    cross-entropies) compute from the logits, without clipping.

    Args:
        x: Input tensor.

    Reference:
        - [Nielsen, NNDL ch. 1, "Sigmoid neurons"](
            http://neuralnetworksanddeeplearning.com/chap1.html)
        - [LeCun, Bottou, Orr & Müller, 1998, Efficient BackProp](
            http://yann.lecun.com/exdb/publis/pdf/lecun-98b.pdf)
    """
    return ops.sigmoid(x)


@_register
def tanh(x):
    """Hyperbolic tangent, `tanh(x) = (exp(x) - exp(-x)) / (exp(x) + exp(-x))`.

    Zero-centred; its derivative `1 - tanh(x)**2` is at most 1 (at x = 0).
    LeCun et al. prefer it to the logistic sigmoid for hidden layers: its
    outputs are centred near 0, which conditions the next layer's inputs
    better, and such symmetric sigmoids often converge faster.

    Args:
        x: Input tensor.

    Reference:
        - [LeCun, Bottou, Orr & Müller, 1998, Efficient BackProp](
            http://yann.lecun.com/exdb/publis/pdf/lecun-98b.pdf)
        - [Nielsen, NNDL ch. 3, "Other models of artificial neuron"](
            http://neuralnetworksanddeeplearning.com/chap3.html)
    """
    return ops.tanh(x)


@_register
def relu(x):
    """Rectified linear unit, `relu(x) = max(0, x)`.

    The derivative is 0 for x < 0 and 1 for x >= 0, as in the lecture's table
    (Keras's `relu` gives 0 at the single point x = 0).

    Args:
        x: Input tensor.

    Reference:
        - [Nair & Hinton, 2010](https://www.cs.toronto.edu/~hinton/absps/reluICML.pdf)
    """
    return ops.maximum(x, ops.zeros_like(x))


@_register
def leaky_relu(x, alpha=0.2):
    """Leaky ReLU, `leaky_relu(x) = max(0, x) + alpha * min(0, x)`.

    For 0 <= alpha <= 1 this equals the lecture's `max(alpha * x, x)`. The
    lecture's alpha is 0.2, which is also Keras's default `negative_slope`.
    The derivative is alpha for x < 0 and 1 for x >= 0 (the lecture's table;
    Keras gives alpha at the single point x = 0).

    Args:
        x: Input tensor.
        alpha: Slope for x < 0 (Keras calls it `negative_slope`).

    Reference:
        - [Maas et al., 2013](https://ai.stanford.edu/~amaas/papers/relu_hybrid_icml2013_final.pdf)
    """
    return ops.where(x >= 0, x, alpha * x)


@_register
def elu(x, alpha=1.0):
    """Exponential linear unit.

    `elu(x) = x` for x > 0 and `alpha * (exp(x) - 1)` for x <= 0, computed with
    `expm1` on `min(x, 0)` so that neither branch overflows for large |x|.
    Bounded below by -alpha.

    Args:
        x: Input tensor.
        alpha: Value the function approaches as x -> -inf.

    Reference:
        - [Clevert et al., 2016](https://arxiv.org/abs/1511.07289)
    """
    negative = alpha * ops.expm1(ops.minimum(x, ops.zeros_like(x)))
    return ops.where(x > 0, x, negative)


@_register
def selu(x):
    """Scaled exponential linear unit, `selu(x) = scale * elu(x, alpha)`.

    With `alpha = 1.6732632423543772` and `scale = 1.0507009873554805`,
    activations keep mean 0 and variance 1 through many layers (when weights
    are initialised with `lecun_normal`): the network normalises itself.

    Args:
        x: Input tensor.

    Reference:
        - [Klambauer et al., 2017](https://arxiv.org/abs/1706.02515)
    """
    return SELU_SCALE * elu(x, alpha=SELU_ALPHA)


@_register
def relu6(x):
    """ReLU capped at 6, `relu6(x) = min(max(0, x), 6)`.

    Bounded above; used in MobileNet, where the bound keeps low-precision
    arithmetic well behaved.

    Args:
        x: Input tensor.

    Reference:
        - [Krizhevsky, 2010](http://www.cs.utoronto.ca/~kriz/conv-cifar10-aug2010.pdf)
        - [Howard et al., 2017 (MobileNets)](https://arxiv.org/abs/1704.04861)
    """
    return ops.minimum(ops.maximum(x, ops.zeros_like(x)), 6.0 * ops.ones_like(x))


@_register
def swish(x, beta=1.0):
    """Swish, `swish(x) = x * sigmoid(beta * x)`.

    Like ReLU for large positive x, smooth, and non-monotonic for x < 0: its
    minimum is about -0.278465 at x = -1.278465 (beta = 1). With beta = 1 it is
    Keras's `silu`. The derivative ranges over about [-0.0998, 1.0998].
    For a trainable beta use the `Swish` layer.

    Args:
        x: Input tensor.
        beta: Fixed slope inside the sigmoid.

    Reference:
        - [Ramachandran et al., 2017](https://arxiv.org/abs/1710.05941)
    """
    return x * ops.sigmoid(beta * x)


@_register
def softplus(x):
    """Softplus, `softplus(x) = log(1 + exp(x))`, the lecture's zeta(x).

    Mathematically `logaddexp(0, x)`. It is computed overflow-free as
    `max(x, 0) + log1p(exp(-|x|))`, that is `x + log1p(exp(-x))` for x > 0 and
    `log1p(exp(x))` for x <= 0, with `max(x, 0)` and `-|x|` each taken by the
    branch of its own half-line (`where`), so neither the value nor the
    gradient overflows at |x| = 1e4, and the derivative at 0 is exactly
    sigmoid(0) = 0.5 (TensorFlow's `logaddexp` gradient is 0 at that single
    point; an `abs` would give 1 there). One `exp` and one `log1p` per element,
    shared by the two half-lines.

    Args:
        x: Input tensor.

    Reference:
        - [Dugas et al., 2001](https://papers.nips.cc/paper/1920-incorporating-second-order-functional-knowledge-for-better-option-pricing)
    """
    zero = ops.zeros_like(x)
    positive = x > 0
    # -|x|: -x where x > 0, else min(x, 0): slope 1 at 0 (the derivative there is 0.5), none at NaN
    minus_abs = ops.where(positive, -x, ops.minimum(x, zero))
    return ops.where(positive, x, zero) + ops.log1p(ops.exp(minus_abs))


@_register
def mish(x):
    """Mish, `mish(x) = x * tanh(softplus(x))`.

    Like Swish: ReLU-like for large x, smooth, non-monotonic below zero (minimum
    about -0.308843 at x = -1.192431). The derivative ranges over about
    [-0.1125, 1.0885].

    Args:
        x: Input tensor.

    Reference:
        - [Misra, 2019](https://arxiv.org/abs/1908.08681)
    """
    return x * ops.tanh(softplus(x))


def linear(x):
    """Identity, `linear(x) = x` (no activation). Keras's "linear"."""
    return x


ACTIVATIONS: dict[str, Callable] = {
    "sigmoid": sigmoid,
    "tanh": tanh,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "elu": elu,
    "selu": selu,
    "relu6": relu6,
    "swish": swish,
    "mish": mish,
    "softplus": softplus,
}

#: Each function's Keras built-in twin: equal values (the tests check 1e-6 in
#: float32 over [-20, 20] and at +-1e4), used by the tests and the benchmark.
KERAS_TWINS: dict[str, Callable] = {
    "sigmoid": keras.activations.sigmoid,
    "tanh": keras.activations.tanh,
    "relu": keras.activations.relu,
    "leaky_relu": keras.activations.leaky_relu,  # negative_slope=0.2 by default, our alpha
    "elu": keras.activations.elu,
    "selu": keras.activations.selu,
    "relu6": keras.activations.relu6,
    "swish": keras.activations.silu,
    "mish": keras.activations.mish,
    "softplus": keras.activations.softplus,
}

#: Formulas as the lecture writes them (plain text, for tables).
FORMULAS: dict[str, str] = {
    "sigmoid": "1 / (1 + e^-z)",
    "tanh": "(e^z - e^-z) / (e^z + e^-z)",
    "relu": "max(0, z)",
    "leaky_relu": "max(0.2 z, z)",
    "elu": "z if z > 0 else (e^z - 1)",
    "selu": "1.0507 * (z if z > 0 else 1.6733 (e^z - 1))",
    "relu6": "min(max(0, z), 6)",
    "swish": "z * sigmoid(z)",
    "mish": "z * tanh(ln(1 + e^z))",
    "softplus": "ln(1 + e^z)",
}


def get(identifier) -> Callable:
    """Return the activation function for a name or a callable.

    Names are read without case, surrounding spaces or the difference
    between `-` and `_` (`"ReLU"`, `" linear "`, `"leaky-relu"`); `"silu"` is
    Keras's name for `swish`.

    Args:
        identifier: One of the names in `ACTIVATIONS`, `"linear"` or `None`
            (the identity), or a callable, which is returned unchanged.

    Returns:
        The activation function.

    Raises:
        ValueError: for an unknown name; the message lists the known names.
        TypeError: for anything that is neither a string nor a callable.
    """
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, str):
        key = identifier.strip().lower().replace("-", "_")
        if key == "silu":
            key = "swish"
        if key == "linear":
            return linear
        if key in ACTIVATIONS:
            return ACTIVATIONS[key]
        known = ", ".join(sorted(ACTIVATIONS) + ["linear"])
        raise ValueError(f"Unknown activation {identifier!r}. Known activations: {known}.")
    raise TypeError(
        f"activation must be a name (str) or a callable, got {type(identifier).__name__}"
    )


# --- layers -------------------------------------------------------------------


@_register
class Swish(keras.layers.Layer):
    """Swish with a trainable beta, `f(x) = x * sigmoid(beta * x)`.

    beta is a single scalar shared by all units; it starts at `beta_init`
    (1.0, where Swish is SiLU). As beta -> inf Swish tends to ReLU; at beta = 0
    it is the linear function x / 2.

    Args:
        beta_init: Initial value of beta.
        trainable_beta: Whether beta is learned (the lecture's "фиксирован или обучаем").

    Reference:
        - [Ramachandran et al., 2017](https://arxiv.org/abs/1710.05941)
    """

    def __init__(self, beta_init=1.0, trainable_beta=True, **kwargs):
        super().__init__(**kwargs)
        self.beta_init = float(beta_init)
        self.trainable_beta = bool(trainable_beta)

    def build(self, input_shape):
        self.beta = self.add_weight(
            name="beta",
            shape=(),
            initializer=keras.initializers.Constant(self.beta_init),
            trainable=self.trainable_beta,
        )

    def call(self, x):
        return swish(x, beta=ops.cast(self.beta, x.dtype))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "beta_init": self.beta_init, "trainable_beta": self.trainable_beta}


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


@_register
class Maxout(keras.layers.Layer):
    """Maxout, `h_i = max_k (w_ik^T x + b_ik)` over `pieces` affine maps.

    With two pieces it can represent ReLU (one map fixed at 0) and leaky ReLU
    (the second map is 0.2 times the first), which is why the lecture calls it
    their generalisation. It has exactly `pieces` times the parameters of a
    Dense layer with the same `units` ("удваивает число параметров" for 2).

    The maps act on the last axis of the input, as `keras.layers.Dense`
    does: an input of shape `(..., n_in)` (any rank >= 2, e.g. a sequence
    `(batch, steps, n_in)`) gives `(..., units)`. The kernel has shape
    `(n_in, units * pieces)`; column `i * pieces + k` holds `w_ik`.

    Args:
        units: Number of output units.
        pieces: Number of affine maps per unit (k).
        kernel_initializer, bias_initializer: As for `keras.layers.Dense`.

    Reference:
        - [Goodfellow et al., 2013](https://arxiv.org/abs/1302.4389)
    """

    def __init__(self, units, pieces=2, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.units = _check_positive_int(units, "units")
        self.pieces = _check_positive_int(pieces, "pieces")
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        n_in = input_shape[-1]
        self.kernel = self.add_weight(name="kernel", shape=(n_in, self.units * self.pieces),
                                      initializer=self.kernel_initializer)
        self.bias = self.add_weight(name="bias", shape=(self.units * self.pieces,),
                                    initializer=self.bias_initializer)

    def call(self, x):
        # z[..., i * pieces + k] = w_ik^T x + b_ik; split the last axis into (units, pieces)
        # and keep every leading axis, as Dense does for inputs of rank > 2
        z = ops.matmul(x, self.kernel) + self.bias
        leading = tuple(ops.shape(z)[:-1])
        z = ops.reshape(z, (*leading, self.units, self.pieces))
        return ops.max(z, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "pieces": self.pieces,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }


@_register
class RBF(keras.layers.Layer):
    """Radial basis function units, `h_i = exp(-||x - c_i||^2 / sigma_i^2)`.

    Centres `c_i` (the lecture's W[:, i]) and widths `sigma_i` are trainable.
    The width is stored as `log_sigma`, so it stays positive. The exponent is
    capped at `max_exponent` (80 by default): far from every centre the output
    is exp(-80) ~ 1.8e-35 (0 in float16) with gradient 0, never NaN. Float16
    inputs are computed in float32 (||x - c||^2 overflows float16 at |x| ~ 256)
    and the result is cast back.

    Args:
        units: Number of RBF units.
        sigma_init: Initial width of every unit.
        centers_initializer: Initializer for the centres.
        max_exponent: Cap on ||x - c||^2 / sigma^2.

    Reference:
        - [Broomhead & Lowe, 1988](https://sci2s.ugr.es/keel/pdf/algorithm/articulo/1988-Broomhead-CS.pdf);
          Goodfellow et al., Deep Learning, sec. 6.3.3.
    """

    def __init__(self, units, sigma_init=1.0, centers_initializer="random_normal",
                 max_exponent=80.0, **kwargs):
        super().__init__(**kwargs)
        self.units = _check_positive_int(units, "units")
        if not sigma_init > 0:
            raise ValueError(f"sigma_init must be > 0, got {sigma_init}")
        self.sigma_init = float(sigma_init)
        self.centers_initializer = keras.initializers.get(centers_initializer)
        self.max_exponent = float(max_exponent)

    def build(self, input_shape):
        n_in = input_shape[-1]
        self.centers = self.add_weight(name="centers", shape=(self.units, n_in),
                                       initializer=self.centers_initializer)
        self.log_sigma = self.add_weight(
            name="log_sigma", shape=(self.units,),
            initializer=keras.initializers.Constant(math.log(self.sigma_init)))

    def call(self, x):
        # float16 is computed in float32: ||x - c||^2 overflows float16 already at |x| ~ 256.
        work = "float32" if x.dtype == "float16" else x.dtype
        xw = ops.cast(x, work)
        diff = ops.expand_dims(xw, -2) - ops.cast(self.centers, work)  # (batch, units, n_in)
        sq_dist = ops.sum(ops.square(diff), axis=-1)
        inv_sigma2 = ops.exp(-2.0 * ops.cast(self.log_sigma, work))
        exponent = ops.minimum(sq_dist * inv_sigma2, ops.cast(self.max_exponent, work))
        return ops.cast(ops.exp(-exponent), x.dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "sigma_init": self.sigma_init,
            "centers_initializer": keras.initializers.serialize(self.centers_initializer),
            "max_exponent": self.max_exponent,
        }


def _layer_activation(identifier):
    """A layer's activation: names through `get` (except "linear"), else `keras.activations.get`."""
    if isinstance(identifier, str):
        try:
            fn = get(identifier)
        except ValueError:  # a Keras name this module does not have, e.g. "softmax"
            fn = None
        if fn is not None and fn is not linear:  # "linear": Keras's (registered, serializable)
            return fn
    return keras.activations.get(identifier)


@_register
class LowRankDense(keras.layers.Layer):
    """A Dense layer factorised through a linear bottleneck, `h = g(V^T U^T x + b)`.

    The lecture's "не использовать функцию активации": a layer with no
    activation between U and V. For n inputs, p units and rank q it has
    (n + p) q + p parameters instead of Dense's n p + p.

    Args:
        units: Number of outputs, p.
        rank: Width of the linear bottleneck, q.
        activation: g, a callable or a name. Names are resolved by this
            module's `get` first, so `"leaky_relu"` is this module's
            `leaky_relu` (alpha 0.2, derivative 1 at 0 as in the lecture's
            table) and its spellings (`"Leaky-ReLU"`, `"silu"`) work; names
            `get` does not know (`"softmax"`, `"linear"`) and `None` (the
            default, linear) go to `keras.activations.get`.
        kernel_initializer: Initializer of U and V, as for `keras.layers.Dense`.

    Reference:
        - [Sainath et al., 2013](https://doi.org/10.1109/ICASSP.2013.6638949);
          Goodfellow et al., Deep Learning, sec. 6.3.3.
    """

    def __init__(self, units, rank, activation=None, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.units = _check_positive_int(units, "units")
        self.rank = _check_positive_int(rank, "rank")
        self.activation = _layer_activation(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        n_in = input_shape[-1]
        self.u = self.add_weight(name="u", shape=(n_in, self.rank), initializer=self.kernel_initializer)
        self.v = self.add_weight(name="v", shape=(self.rank, self.units), initializer=self.kernel_initializer)
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def call(self, x):
        return self.activation(ops.matmul(ops.matmul(x, self.u), self.v) + self.bias)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "rank": self.rank,
            "activation": keras.activations.serialize(self.activation),
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }

    @classmethod
    def from_config(cls, config):
        # get_config writes this module's (registered) functions as dicts and Keras's
        # built-ins as their bare names: a saved name is Keras's function, so it is
        # restored with Keras's get, not re-resolved by `get` as a user's name would be
        config = dict(config)
        if isinstance(config.get("activation"), str):
            config["activation"] = keras.activations.get(config["activation"])
        return super().from_config(config)


#: Parametric ReLU, `h = max(0, z) + alpha * min(0, z)` with alpha learned per
#: unit. Keras's own layer, re-exported (He et al., 2015,
#: https://arxiv.org/abs/1502.01852).
PReLU = keras.layers.PReLU


# --- derivatives by autodiff --------------------------------------------------


def gradient_profile(activation, x):
    """Return `(f(x), f'(x))` as NumPy arrays, f' taken by TensorFlow autodiff.

    The computation runs in float64 unless `x` is a NumPy array of another
    float dtype, in which case that dtype is kept.

    Args:
        activation: A name from `ACTIVATIONS`, a callable, or a built layer
            mapping a tensor to a tensor of the same shape.
        x: Points (scalar, list or array).
    """
    import tensorflow as tf

    fn = get(activation)
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = fn(xt)
    dy = tape.gradient(y, xt)
    if dy is None:  # a constant function
        dy = tf.zeros_like(xt)
    return np.asarray(y), np.asarray(dy)


def _refined_extrema(g, lo, hi, points=2001, rounds=8):
    """Minimum and maximum of a vectorised g on [lo, hi] by repeated grid zoom.

    Start from a grid of `points` points, then `rounds` times replace the
    bracket around the best point by a finer grid; each round shrinks the
    bracket about (points - 1) / 2 times.
    """
    results = []
    for sign in (1.0, -1.0):  # minimum, then maximum (minimum of -g)
        a, b = float(lo), float(hi)
        best_x = None
        for _ in range(rounds):
            xs = np.linspace(a, b, points)
            vals = sign * g(xs)
            i = int(np.argmin(vals))
            best_x, best_v = xs[i], vals[i]
            step = xs[1] - xs[0]
            a, b = max(lo, best_x - step), min(hi, best_x + step)
            if b - a < 1e-13:
                break
        results.append((sign * best_v, best_x))
    (vmin, xmin), (vmax, xmax) = results
    return float(vmin), float(xmin), float(vmax), float(xmax)


def derivative_range(activation, lo=-10.0, hi=10.0):
    """Return `(min f', argmin, max f', argmax)` of an activation on [lo, hi].

    f' comes from autodiff (`gradient_profile`, float64). The extremes are
    found on a grid and then refined by zooming the grid around them, so
    smooth extremes (Swish, Mish) are located to ~1e-10, not to the grid step.
    Where f' is flat at its extreme (ReLU), the first such point is returned.

    Args:
        activation: A name or callable, as for `get`.
        lo, hi: The interval searched.
    """
    if not hi > lo:
        raise ValueError(f"need lo < hi, got lo={lo}, hi={hi}")
    return _refined_extrema(lambda xs: gradient_profile(activation, xs)[1], lo, hi)


def value_range(activation, lo=-10.0, hi=10.0):
    """Return `(min f, argmin, max f, argmax)` of an activation on [lo, hi].

    The values come from `gradient_profile` (float64) on a grid that is then
    refined around each extreme, as in `derivative_range` (for example
    Swish's minimum -0.278465 at -1.278465). For a monotonic function the
    extremes are at the ends of the interval.

    Args:
        activation: A name or callable, as for `get`.
        lo, hi: The interval searched, lo < hi.

    Returns:
        A tuple of four floats `(min f, argmin, max f, argmax)`.

    Raises:
        ValueError: if `hi <= lo`.
    """
    if not hi > lo:
        raise ValueError(f"need lo < hi, got lo={lo}, hi={hi}")
    return _refined_extrema(lambda xs: gradient_profile(activation, xs)[0], lo, hi)


def activation_table(lo=-10.0, hi=10.0):
    """The lecture's derivative table, extended to every activation here.

    Args:
        lo, hi: The interval on which each derivative's range is found (by
            `derivative_range`, float64 autodiff), lo < hi.

    Returns:
        A list of rows `(name, formula, min f', max f')`, one per entry of
        `ACTIVATIONS` in its order, `formula` from `FORMULAS`. Sigmoid's and
        tanh's minima are the values at the ends of the interval; the
        lecture writes them as "-> 0".

    Raises:
        ValueError: if `hi <= lo`.
    """
    rows = []
    for name, fn in ACTIVATIONS.items():
        dmin, _, dmax, _ = derivative_range(fn, lo, hi)
        rows.append((name, FORMULAS[name], dmin, dmax))
    return rows


def format_activation_table(lo=-10.0, hi=10.0) -> str:
    """`activation_table()` as aligned text (what `make demo` prints).

    Args:
        lo, hi: The interval, as for `activation_table`.

    Returns:
        A string: a header line naming the interval, a column header, and
        one line per activation with its formula and min/max f' to six
        significant digits.
    """
    rows = activation_table(lo, hi)
    width = max(len(r[1]) for r in rows)
    lines = [
        f"Activation derivatives on [{lo:g}, {hi:g}] (autodiff, float64)",
        f"{'name':<11} {'formula':<{width}} {'min f′':>12} {'max f′':>12}",
    ]
    for name, formula, dmin, dmax in rows:
        lines.append(f"{name:<11} {formula:<{width}} {dmin:>12.6g} {dmax:>12.6g}")
    return "\n".join(lines)
