"""Loss functions of the lecture section "Функция ошибки" (the loss function).

Every loss returns the **per-sample** loss, shape ``(batch,)``: the outputs (last
axis) are reduced here, the batch mean ``1/n sum_x`` is Keras's, so
``model.compile(loss=source_lib.losses.half_mse)`` trains on the lecture's C.
All are registered with Keras (package ``"source_lib"``), so compiled models
save to ``.keras`` and load after ``import source_lib``.

| here | Keras twin | relation |
| --- | --- | --- |
| ``half_mse`` | ``mean_squared_error`` | ``half_mse = 0.5 * n_outputs * mse`` (½ and a sum over outputs) |
| ``binary_cross_entropy`` | ``binary_crossentropy`` | ``= n_outputs * bce`` (sum, not mean, over outputs) |
| ``log_likelihood`` | ``(sparse_)categorical_crossentropy`` | equal on a softmax output (Keras first renormalises y_pred to sum 1) |
| ``msle, mae, mape, hinge`` | the same names | equal (mean over outputs) |
| ``kl_divergence`` | ``kl_divergence`` | equal where y_true >= ε; terms with y_true = 0 are 0 here, ε·ln(ε/ŷ) in Keras |

The slide prints the cross-entropy's second term with a minus inside the
bracket; the sign here, Nielsen's eq. (57), is the one whose gradient is a - y.

From logits, ``binary_cross_entropy`` is ``softplus(z) - z y``: exact for any z,
gradient sigma(z) - y, exactly 0.5 - y at z = 0 (a ``relu``/``abs`` form would
have TensorFlow's zero gradient at the kink). ``log_likelihood`` is
``sum_j y_j (logsumexp(z) - z_j)`` with max z subtracted first: exact for any
label row (one-hot, soft, not summing to 1), gradient ``(sum_j y_j) a - y``.
TensorFlow's fused kernel, Keras's, is a few per cent faster under XLA, but its
gradient is wrong for rows not summing to 1.

On the TensorFlow backend Keras's ``sigmoid`` and ``softmax`` (``Dense(...,
activation="sigmoid")``, ``source_lib.activations.sigmoid``) store their input z
on the output as ``_keras_logits``; the cross-entropies compute from it, as
Keras's do: no clip, the exact cost and gradient a - y after a has rounded to
0 or 1 (float32: a within ε of 1 from z = 16.1, exactly 1 from z ≈ 17; float64:
from z ≈ 37). Both activations store the same attribute, so each loss checks
that y_pred is its own activation's output (:func:`_activation_logits`), and
where the values fit both (all 0 or 1, or all 1/K) it trusts its own, as Keras
does; BCE does not take a softmax output's logits, unlike Keras. A
``keras.losses.Loss`` casts y_pred to its ``dtype``, dropping the logits.

Other probabilities are clipped into ``[ε, 1 - ε]``, ε = ``keras.backend.epsilon()``
= 1e-7 (Keras's rule): a = 0 or 1 gives a finite loss (-ln ε ≈ 16.1) and no
gradient. float16/bfloat16 are computed in float32 (ε does not exist in float16),
as Keras's mixed-precision guide recommends for losses. Bad values raise a
``ValueError`` naming the argument eagerly; in a graph the label checks are
assertions (``InvalidArgumentError``), and as XLA drops them, NaN. ``y_true`` may
have one axis of size 1 more or fewer than y_pred, as in Keras.

Reference:
    - M. Nielsen, "Neural Networks and Deep Learning", ch. 3 (2015),
      http://neuralnetworksanddeeplearning.com/chap3.html
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

__all__ = [
    "half_mse", "binary_cross_entropy", "log_likelihood", "msle", "mae", "mape", "kl_divergence", "hinge",
    "BinaryCrossEntropy", "LogLikelihood", "LOSSES", "KERAS_TWINS", "LECTURE_PAIRS", "get", "output_gradient",
    "regularised_objective",
]

_register = keras.saving.register_keras_serializable(package="source_lib")


# --- helpers -----------------------------------------------------------------


def _epsilon() -> float:
    """The fuzz factor ε of every clip in this module: ``keras.backend.epsilon()``."""
    return keras.backend.epsilon()


def _compute_dtype(x) -> str:
    """float32 for half precision and for non-float input, else x's own dtype."""
    dtype = keras.backend.standardize_dtype(x.dtype)
    return dtype if dtype in ("float32", "float64") else "float32"


def _concrete(x):
    """x as a NumPy array when its value is known now (eager), else None (graph)."""
    try:
        return ops.convert_to_numpy(x)
    except Exception:  # a symbolic tensor inside a compiled graph
        return None


def _shape_error(name: str, y_true, y_pred, what: str = "must have the same shape") -> ValueError:
    return ValueError(
        f"{name}: y_true and y_pred {what}; got y_true.shape={tuple(y_true.shape)} "
        f"and y_pred.shape={tuple(y_pred.shape)}."
    )


def _prepare(y_true, y_pred, name: str):
    """Tensors of one float dtype and equal shapes; an extra axis of size 1 on either side is
    accepted, as in Keras, and known dimensions that differ raise a ``ValueError`` naming both."""
    y_pred = ops.convert_to_tensor(y_pred)
    dtype = _compute_dtype(y_pred)
    y_pred = ops.cast(y_pred, dtype)
    y_true = ops.cast(ops.convert_to_tensor(y_true), dtype)
    if len(y_pred.shape) == 0:
        raise ValueError(
            f"{name}: y_pred must have at least one axis (the outputs); got a scalar, "
            f"y_pred.shape={tuple(y_pred.shape)}."
        )
    if len(y_true.shape) == len(y_pred.shape) - 1 and y_pred.shape[-1] == 1:
        y_true = ops.expand_dims(y_true, -1)
    elif len(y_true.shape) == len(y_pred.shape) + 1 and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, -1)
    if len(y_true.shape) != len(y_pred.shape):
        raise _shape_error(name, y_true, y_pred)
    for a, b in zip(y_true.shape, y_pred.shape):
        if a is not None and b is not None and a != b:
            raise _shape_error(name, y_true, y_pred)
    return y_true, y_pred


def _graph_check(ok, message, *data):
    """Assert ``ok`` in a TensorFlow graph (``InvalidArgumentError`` with ``message``), where
    eager checks cannot see the values; XLA drops it, so callers also :func:`_poison` the loss."""
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    if tf.is_tensor(ok):
        tf.debugging.Assert(ok, [message, *data], summarize=8)


def _poison(valid, loss):
    """The per-sample ``loss`` where ``valid``, NaN elsewhere (the graph-mode guard)."""
    return ops.where(valid, loss, ops.cast(float("nan"), loss.dtype))


def _values_in(name, arg, values, low, high, hint=""):
    """Eager check: every value of ``values`` (a NumPy array or None) lies in [low, high]."""
    if values is None or values.size == 0:
        return
    lo, hi = np.min(values), np.max(values)
    if lo < low or hi > high:
        raise ValueError(f"{name}: {arg} must lie in [{low:g}, {high:g}]; got min {lo:g}, max {hi:g}.{hint}")


def _clip_probability(p):
    eps = _epsilon()
    return ops.clip(p, eps, 1.0 - eps)


_LOGIT_OPS = {"sigmoid": "Sigmoid", "softmax": "Softmax"}
_ACTIVATION_OF = {"sigmoid": ops.sigmoid, "softmax": lambda z: ops.softmax(z, axis=-1)}


def _activation_logits(y_pred, activation):
    """The logits z cached on ``y_pred`` if it is a Keras ``activation`` (``"sigmoid"`` or
    ``"softmax"``) output, else None: in a graph the op that made it must be that activation
    (TensorFlow's ``Softmax`` is over the last axis), eagerly its values must equal
    ``activation(z)``. Values that fit both activations count as the one asked for, as in Keras."""
    z = getattr(y_pred, "_keras_logits", None)
    if z is None:
        return None
    op = getattr(y_pred, "op", None)  # graph tensors only (an EagerTensor's .op raises AttributeError)
    if op is not None:
        return z if op.type == _LOGIT_OPS[activation] else None
    z = ops.convert_to_tensor(z)
    fits = tuple(z.shape) == tuple(y_pred.shape) and bool(ops.all(_ACTIVATION_OF[activation](z) == y_pred))
    return z if fits else None


# --- the lecture's losses ----------------------------------------------------


@_register
def half_mse(y_true, y_pred):
    """Half the squared error, the lecture's MSE (Среднеквадратичная функция).

        C_x = 1/2 * sum_j (y_j - a_j)^2,   dC_x/da = a - y

    (``0.5 * n_outputs`` times Keras's ``mean_squared_error``).

    Args:
        y_true: targets y, shape ``(batch, outputs)``.
        y_pred: outputs a, same shape.

    Returns:
        The per-sample loss, shape ``(batch,)``.

    Raises:
        ValueError: shapes that do not fit.

    Reference:
        - [Nielsen, NNDL ch. 1, eq. (6)](http://neuralnetworksanddeeplearning.com/chap1.html)
    """
    y_true, y_pred = _prepare(y_true, y_pred, "half_mse")
    return 0.5 * ops.sum(ops.square(y_pred - y_true), axis=-1)


@_register
def binary_cross_entropy(y_true, y_pred, from_logits=False):
    """Cross-entropy of sigmoid outputs, summed over the outputs (Cross Entropy).

        C_x = -sum_j [ y_j ln a_j + (1 - y_j) ln(1 - a_j) ] = sum_j [ softplus(z_j) - z_j y_j ]

    for a_j = sigma(z_j); dC_x/dz = a - y. A Keras sigmoid output is read
    through its cached logits, other probabilities are clipped (see the
    module docstring). ``n_outputs`` times Keras's ``binary_crossentropy``.

    Args:
        y_true: targets in [0, 1], shape ``(batch, outputs)``.
        y_pred: probabilities a (logits z if ``from_logits``), same shape.
        from_logits: whether ``y_pred`` holds logits z.

    Returns:
        The per-sample loss, shape ``(batch,)``.

    Raises:
        ValueError: shapes that do not fit; eagerly, ``y_true`` or
            probabilities ``y_pred`` outside [0, 1] (often logits without ``from_logits``).

    Reference:
        - [Nielsen, NNDL ch. 3, eq. (57)](http://neuralnetworksanddeeplearning.com/chap3.html)
    """
    name = "binary_cross_entropy"
    if not from_logits:
        cached = _activation_logits(y_pred, "sigmoid")
        if cached is not None:
            y_pred, from_logits = cached, True
    y_true, y_pred = _prepare(y_true, y_pred, name)
    _values_in(name, "y_true", _concrete(y_true), 0.0, 1.0)
    if from_logits:
        return ops.sum(ops.softplus(y_pred) - y_pred * y_true, axis=-1)
    _values_in(name, "y_pred", _concrete(y_pred), 0.0, 1.0,
               " Probabilities a are expected; for logits z pass from_logits=True.")
    a = _clip_probability(y_pred)
    # the minus after the sum: one negation per sample, not per output and again in the gradient
    # (the same numbers, bitwise: negation is exact)
    return -ops.sum(y_true * ops.log(a) + (1.0 - y_true) * ops.log1p(-a), axis=-1)


def _is_integer_labels(y_true, y_pred) -> bool:
    if len(y_true.shape) == len(y_pred.shape) - 1:
        return True
    return (
        len(y_true.shape) == len(y_pred.shape)
        and y_true.shape[-1] == 1
        and (y_pred.shape[-1] is None or y_pred.shape[-1] > 1)
    )


@_register
def log_likelihood(y_true, y_pred, from_logits=False):
    """Negative log-likelihood of a softmax output (Функция правдоподобия).

        C_x = -ln a_y = -sum_j y_j ln a_j = sum_j y_j (logsumexp(z) - z_j)

    for a = softmax(z); dC_x/dz = a - y for one-hot y. A Keras softmax output
    is read through its cached logits, other probabilities are clipped (see
    the module docstring). Keras's ``(sparse_)categorical_crossentropy`` on
    a softmax output; on other probabilities Keras renormalises them first.

    Args:
        y_true: integer labels ``(batch,)`` or ``(batch, 1)``, or one-hot (or
            soft) label rows of y_pred's shape.
        y_pred: softmax outputs a (logits z if ``from_logits``), ``(batch, classes)``, classes >= 2.
        from_logits: whether ``y_pred`` holds logits z.

    Returns:
        The per-sample loss, shape ``(batch,)``.

    Raises:
        ValueError: one class, shapes that do not fit, or (eagerly) labels
            outside [0, classes - 1] (1..10 for ten classes) or not whole.

    Reference:
        - [Nielsen, NNDL ch. 3, eq. (80)](http://neuralnetworksanddeeplearning.com/chap3.html)
    """
    name = "log_likelihood"
    if not from_logits:
        cached = _activation_logits(y_pred, "softmax")
        if cached is not None:
            y_pred, from_logits = cached, True
    y_pred = ops.convert_to_tensor(y_pred)
    y_pred = ops.cast(y_pred, _compute_dtype(y_pred))
    y_true = ops.convert_to_tensor(y_true)
    if len(y_pred.shape) == 0 or y_pred.shape[-1] == 1:
        raise ValueError(
            f"{name}: y_pred needs a class axis of at least 2 (softmax over one output is "
            f"always 1); got y_pred.shape={tuple(y_pred.shape)}. For one output use "
            "binary_cross_entropy."
        )
    valid = None  # graph mode, integer labels: which samples have a label in range
    integer_labels = _is_integer_labels(y_true, y_pred)
    if integer_labels:
        if len(y_true.shape) == len(y_pred.shape):
            y_true = ops.squeeze(y_true, -1)
        for a, b in zip(y_true.shape, y_pred.shape[:-1]):
            if a is not None and b is not None and a != b:
                raise _shape_error(name, y_true, y_pred, "do not match (integer labels need y_pred.shape[:-1])")
        n_classes = y_pred.shape[-1]
        if n_classes is None:
            raise ValueError(f"{name}: integer labels need a known number of classes; got y_pred.shape={tuple(y_pred.shape)}.")
        range_message = (
            f"{name}: integer labels y_true must be whole numbers in [0, {n_classes - 1}] for "
            f"y_pred.shape={tuple(y_pred.shape)} (labels 1..{n_classes} are off by one)"
        )
        labels = _concrete(y_true)
        if labels is not None:
            if not np.all(labels == np.round(labels)):
                raise ValueError(f"{name}: integer labels y_true must be whole numbers; got {labels!r}.")
            if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
                raise ValueError(f"{range_message}; got min {labels.min()}, max {labels.max()}.")
        else:
            valid = ops.logical_and(y_true >= 0, y_true < n_classes)
            if "float" in keras.backend.standardize_dtype(y_true.dtype):
                valid = ops.logical_and(valid, ops.equal(y_true, ops.floor(y_true)))
            _graph_check(ops.all(valid), range_message + "; got min, max:", ops.min(y_true), ops.max(y_true))
        y_true = ops.one_hot(ops.cast(y_true, "int32"), n_classes, dtype=y_pred.dtype)
    else:
        y_true = ops.cast(y_true, y_pred.dtype)
        if len(y_true.shape) != len(y_pred.shape) or any(
            a is not None and b is not None and a != b for a, b in zip(y_true.shape, y_pred.shape)
        ):
            raise _shape_error(
                name, y_true, y_pred, "must have the same shape (one-hot) or y_pred.shape[:-1] (integer labels)"
            )

    if from_logits:
        # logsumexp(z) = m + ln sum_k e^(z_k - m), m = max z (no overflow; a constant for the gradient)
        m = ops.stop_gradient(ops.max(y_pred, axis=-1, keepdims=True))
        shifted = y_pred - m
        lse = ops.log(ops.sum(ops.exp(shifted), axis=-1, keepdims=True))
        if integer_labels:  # one-hot rows: sum_j y_j = 1
            loss = ops.squeeze(lse, -1) - ops.sum(y_true * shifted, axis=-1)
        else:
            loss = ops.sum(y_true * (lse - shifted), axis=-1)
    else:
        loss = -ops.sum(y_true * ops.log(_clip_probability(y_pred)), axis=-1)
    return loss if valid is None else _poison(valid, loss)


@_register
def msle(y_true, y_pred):
    """Mean squared logarithmic error (Среднеквадратичная логарифмическая).

        C_x = mean_j ( ln(y_j + 1) - ln(ŷ_j + 1) )^2,

    for non-negative targets; values below ε are raised to ε, as in Keras's
    ``mean_squared_logarithmic_error``, which it equals.

    Args:
        y_true: non-negative targets, shape ``(batch, outputs)``.
        y_pred: predictions, same shape.

    Returns:
        The per-sample loss, shape ``(batch,)``.

    Raises:
        ValueError: shapes that do not fit, or (eagerly) a negative ``y_true``.

    Reference:
        - [Keras, `mean_squared_logarithmic_error`](https://keras.io/api/losses/regression_losses/#meansquaredlogarithmicerror-function)
    """
    y_true, y_pred = _prepare(y_true, y_pred, "msle")
    _values_in("msle", "y_true", _concrete(y_true), 0.0, np.inf, " MSLE is for non-negative targets (counts, prices).")
    eps = _epsilon()
    log_pred = ops.log(ops.maximum(y_pred, eps) + 1.0)
    log_true = ops.log(ops.maximum(y_true, eps) + 1.0)
    return ops.mean(ops.square(log_pred - log_true), axis=-1)


@_register
def mae(y_true, y_pred):
    """Mean absolute error (Средняя по модулю, MAE).

        C_x = mean_j |y_j - ŷ_j|   (gradient sign(ŷ - y); Keras's ``mean_absolute_error``)

    Args:
        y_true: targets, shape ``(batch, outputs)``.
        y_pred: predictions, same shape.

    Returns:
        The per-sample loss, shape ``(batch,)``.

    Raises:
        ValueError: shapes that do not fit.

    Reference:
        - [Willmott & Matsuura, 2005](https://doi.org/10.3354/cr030079)
    """
    y_true, y_pred = _prepare(y_true, y_pred, "mae")
    return ops.mean(ops.abs(y_true - y_pred), axis=-1)


@_register
def mape(y_true, y_pred):
    """Mean absolute percentage error (Средняя по модулю в процентах, MAPE).

        C_x = 100 * mean_j |y_j - ŷ_j| / max(|y_j|, ε)

    (a zero target costs ``1e9 * |ŷ|``; Keras's ``mean_absolute_percentage_error``).

    Args:
        y_true: targets, shape ``(batch, outputs)``, best kept away from 0.
        y_pred: predictions, same shape.

    Returns:
        The per-sample loss in percent, shape ``(batch,)``.

    Raises:
        ValueError: shapes that do not fit.

    Reference:
        - [Hyndman & Koehler, 2006](https://doi.org/10.1016/j.ijforecast.2006.03.001)
    """
    y_true, y_pred = _prepare(y_true, y_pred, "mape")
    denominator = ops.maximum(ops.abs(y_true), _epsilon())
    return 100.0 * ops.mean(ops.abs(y_true - y_pred) / denominator, axis=-1)


@_register
def kl_divergence(y_true, y_pred):
    """Kullback-Leibler divergence, entropy minus cross-entropy (Расстояние KL).

        KL(y || ŷ) = sum_j y_j ln y_j - sum_j y_j ln ŷ_j,   logs' arguments clipped into [ε, 1].

    A term with y_j = 0 is exactly 0; Keras's ``kl_divergence`` clips that
    y_j too and adds ε ln(ε / ŷ_j) (at most about 1.6e-6) instead.

    Args:
        y_true: the target distribution y, rows summing to 1.
        y_pred: the predicted distribution ŷ, same shape.

    Returns:
        The per-sample divergence, shape ``(batch,)``.

    Raises:
        ValueError: shapes that do not fit.

    Reference:
        - [Kullback & Leibler, 1951](https://doi.org/10.1214/aoms/1177729694)
    """
    y_true, y_pred = _prepare(y_true, y_pred, "kl_divergence")
    eps = _epsilon()
    log_true = ops.log(ops.clip(y_true, eps, 1.0))
    log_pred = ops.log(ops.clip(y_pred, eps, 1.0))
    return ops.sum(y_true * (log_true - log_pred), axis=-1)


@_register
def hinge(y_true, y_pred):
    """Hinge loss (Hinge loss).

        C_x = mean_j max(0, 1 - y_j ŷ_j),   y_j in {-1, +1}.

    A batch of labels in {0, 1} is converted by y -> 2y - 1, as in Keras's
    ``hinge``, which it equals (keep one coding for the whole data set).

    Args:
        y_true: labels in {-1, +1} or {0, 1}, shape ``(batch, outputs)``.
        y_pred: raw scores ŷ, same shape.

    Returns:
        The per-sample loss, shape ``(batch,)``.

    Raises:
        ValueError: shapes that do not fit, or (eagerly) labels outside
            {-1, 0, +1} or mixing 0 and -1 (in a graph: an assertion and NaN).

    Reference:
        - [Rosasco et al., 2004](https://doi.org/10.1162/089976604773135104)
    """
    name = "hinge"
    y_true, y_pred = _prepare(y_true, y_pred, name)
    rule = "labels y_true must be all in {-1, +1} or all in {0, 1} (converted by y -> 2y - 1)"
    labels = _concrete(y_true)
    if labels is not None:
        allowed = np.isin(labels, (-1.0, 0.0, 1.0))
        if not np.all(allowed):
            bad = np.unique(labels[~allowed])[:5]
            raise ValueError(f"{name}: {rule}; got values {bad.tolist()}.")
        if np.any(labels == 0.0) and np.any(labels == -1.0):
            raise ValueError(f"{name}: {rule}; got a batch mixing 0 and -1.")
    # a batch whose smallest label is >= 0 is a {0, 1} batch: y -> 2y - 1 (m = 1), else y (m = 0)
    y_min = ops.min(y_true)
    m = ops.cast(y_min >= 0, y_true.dtype)
    signs = y_true * (1.0 + m) - m
    loss = ops.mean(ops.maximum(1.0 - signs * y_pred, 0.0), axis=-1)
    if labels is not None:
        return loss
    # after the conversion every label must be -1 or +1 (one reduction; NaN fails it)
    valid = ops.all(ops.equal(ops.abs(signs), 1.0))
    _graph_check(
        valid, f"{name}: {rule}; got a batch mixing 0 and -1, or other values. Labels min, max:",
        y_min, ops.max(y_true),
    )
    return _poison(valid, loss)


# --- Loss classes that remember from_logits when a model is saved -------------


class _LossFunctionWrapper(keras.losses.Loss):
    """A per-sample loss function as a ``keras.losses.Loss``, as Keras's ``LossFunctionWrapper``.

    Args:
        fn: the function, called as ``fn(y_true, y_pred, **kwargs)``.
        reduction, name, dtype: as for any ``keras.losses.Loss``.
        **kwargs: ``fn``'s keyword arguments, saved in the config.
    """

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    @property
    def from_logits(self) -> bool:
        return self._fn_kwargs.get("from_logits", False)

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs}


@_register
class BinaryCrossEntropy(_LossFunctionWrapper):
    """:func:`binary_cross_entropy` as a ``keras.losses.Loss`` that saves ``from_logits``.

        C_x = -sum_j [ y_j ln a_j + (1 - y_j) ln(1 - a_j) ],  reduced over the batch (mean).

    Args:
        from_logits: whether ``y_pred`` holds logits z instead of sigma(z).
        reduction, name, dtype: as for any ``keras.losses.Loss``.

    Reference:
        - [Nielsen, NNDL ch. 3, eq. (57)](http://neuralnetworksanddeeplearning.com/chap3.html)
    """

    def __init__(self, from_logits=False, reduction="sum_over_batch_size", name="binary_cross_entropy", dtype=None):
        super().__init__(binary_cross_entropy, reduction, name, dtype, from_logits=bool(from_logits))


@_register
class LogLikelihood(_LossFunctionWrapper):
    """:func:`log_likelihood` as a ``keras.losses.Loss`` that saves ``from_logits``.

        C_x = -ln a_y = logsumexp(z) - z_y,  reduced over the batch (mean).

    Args:
        from_logits: whether ``y_pred`` holds logits z instead of softmax(z).
        reduction, name, dtype: as for any ``keras.losses.Loss``.

    Reference:
        - [Nielsen, NNDL ch. 3, eq. (80)](http://neuralnetworksanddeeplearning.com/chap3.html)
    """

    def __init__(self, from_logits=False, reduction="sum_over_batch_size", name="log_likelihood", dtype=None):
        super().__init__(log_likelihood, reduction, name, dtype, from_logits=bool(from_logits))


# --- registry ------------------------------------------------------------------

LOSSES = {
    "half_mse": half_mse,
    "binary_cross_entropy": binary_cross_entropy,
    "log_likelihood": log_likelihood,
    "msle": msle,
    "mae": mae,
    "mape": mape,
    "kl_divergence": kl_divergence,
    "hinge": hinge,
}
"""Name -> per-sample loss function, in the lecture's order."""

KERAS_TWINS = {
    "half_mse": "mean_squared_error",
    "binary_cross_entropy": "binary_crossentropy",
    "log_likelihood": "categorical_crossentropy",
    "msle": "mean_squared_logarithmic_error",
    "mae": "mean_absolute_error",
    "mape": "mean_absolute_percentage_error",
    "kl_divergence": "kl_divergence",
    "hinge": "hinge",
}
"""Name -> the name of the nearest ``keras.losses`` function (see the module table)."""

# Names under which earlier versions registered these losses (``source_lib.vanishing``'s own
# copies): models saved with them load back as the same losses.
keras.saving.get_custom_objects().update({
    "source_lib>nielsen_cross_entropy": binary_cross_entropy,
    "source_lib>half_squared_error": half_mse,
})


def get(identifier):
    """Return a loss by name; a callable (function or ``keras.losses.Loss``) passes through.

    Args:
        identifier: a key of :data:`LOSSES` (e.g. ``"half_mse"``) or a callable.

    Returns:
        The loss.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
        TypeError: neither a string nor a callable.
    """
    if callable(identifier):
        return identifier
    if isinstance(identifier, str):
        key = identifier.removeprefix("source_lib>")
        if key in LOSSES:
            return LOSSES[key]
        raise ValueError(f"Unknown loss {identifier!r}. Known losses: {', '.join(LOSSES)}.")
    raise TypeError(f"loss must be a name (str) or a callable; got {identifier!r} of type {type(identifier).__name__}.")


def _loss_name(loss) -> str:
    for name, fn in LOSSES.items():
        if fn is loss:
            return name
    return getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__


# --- why the output activation and the loss go together ------------------------

LECTURE_PAIRS = {
    "mse+sigmoid": ("half_mse", "sigmoid", "(a - y) * sigma'(z)   -- slows down where sigma saturates"),
    "mse+linear": ("half_mse", "linear", "a - y"),
    "cross_entropy+sigmoid": ("binary_cross_entropy", "sigmoid", "a - y   -- sigma'(z) cancels"),
    "log_likelihood+softmax": ("log_likelihood", "softmax", "a - y   -- for one-hot y"),
}
"""The lecture's four (loss, output activation) pairs and the closed form of their dC/dz (Nielsen's
network2.py gives each cost its ``delta``); :func:`output_gradient` computes it by autodiff."""


def _resolve_activation(activation):
    if callable(activation):
        return activation
    if activation in (None, "linear"):
        return lambda z: z
    if activation == "softmax":
        return lambda z: ops.softmax(z, axis=-1)
    from source_lib import activations

    return activations.get(activation)


def output_gradient(loss, activation, z, y):
    """dC/dz at the output layer, by TensorFlow autodiff through a = f(z), C = loss(y, a).

        dC/dz = dC/da * f'(z),   a - y for the cross-entropy pairs of :data:`LECTURE_PAIRS`.

    C sums the per-sample losses: row i is sample i's own gradient (no 1/n).

    Args:
        loss: a name in :data:`LOSSES` or a callable ``(y_true, y_pred)``.
        activation: ``"linear"``, ``"softmax"``, a name ``activations.get`` knows, or a callable.
        z: weighted inputs of the output layer, shape ``(batch, outputs)``.
        y: targets (for ``log_likelihood``: one-hot rows or integer labels).

    Returns:
        dC/dz, a NumPy array of z's shape (float64 unless z is float16/32).

    Raises:
        ValueError: z of rank below 2, or what the loss raises.

    Reference:
        - [Nielsen, NNDL ch. 3](http://neuralnetworksanddeeplearning.com/chap3.html)
    """
    import tensorflow as tf

    loss_fn = get(loss)
    f = _resolve_activation(activation)
    z = np.asarray(z)
    dtype = z.dtype if z.dtype in (np.float16, np.float32, np.float64) else np.float64
    z = tf.convert_to_tensor(z, dtype=dtype)
    if z.shape.rank < 2:
        raise ValueError(f"z must have shape (batch, outputs); got z.shape={tuple(z.shape)}.")
    with tf.GradientTape() as tape:
        tape.watch(z)
        c = ops.sum(loss_fn(y, f(z)))
    return tape.gradient(c, z).numpy()



from source_lib.regularisation import regularised_objective  # noqa: E402  (E = C + lambda R, re-exported)
