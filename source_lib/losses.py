"""Loss functions of the lecture section "Функция ошибки" (the loss function).

Every loss here takes ``(y_true, y_pred)`` and returns the **per-sample** loss,
a tensor of shape ``(batch,)``: the last axis (the outputs) is reduced inside
the function and the batch mean ``1/n sum_x`` of the lecture is left to Keras
(``model.compile`` averages the per-sample values over the batch). So

    model.compile(optimizer="sgd", loss=source_lib.losses.half_mse)

trains on exactly the lecture's C. Every function is registered with Keras
(package ``"source_lib"``), so a compiled model saves to ``.keras`` and loads
back after ``import source_lib``. For the cross-entropies with
``from_logits=True`` use the small registered ``keras.losses.Loss`` classes
:class:`BinaryCrossEntropy` and :class:`LogLikelihood`, which remember the flag
when the model is saved.

How the lecture and Keras differ (each docstring says it again):

| here | Keras twin | relation |
| --- | --- | --- |
| ``half_mse`` | ``mean_squared_error`` | ``half_mse = 0.5 * n_outputs * mse`` (½ and a sum over outputs) |
| ``binary_cross_entropy`` | ``binary_crossentropy`` | ``= n_outputs * bce`` (sum, not mean, over outputs) |
| ``log_likelihood`` | ``(sparse_)categorical_crossentropy`` | equal on a softmax output (Keras first renormalises y_pred to sum 1) |
| ``msle, mae, mape, hinge`` | the same names | equal (mean over outputs) |
| ``kl_divergence`` | ``kl_divergence`` | equal where y_true >= ε; terms with y_true = 0 are 0 here, ε·ln(ε/ŷ) in Keras |

Numerical safety. The two cross-entropies compute from the logits z when
``y_pred`` is the output of a Keras sigmoid (``binary_cross_entropy``) or
softmax over the last axis (``log_likelihood``), which on the TensorFlow
backend carries z as ``y_pred._keras_logits``, as Keras's own cross-entropies
do: no clip, the exact value for any z and the gradient dC/dz = a - y even
where a has rounded to 0 or 1. Unlike Keras they first check that ``y_pred``
really is that function's output (a softmax output also carries
``_keras_logits``; see :func:`_activation_logits`). Other probabilities are
clipped into ``[ε, 1 - ε]`` with ``ε = keras.backend.epsilon()`` (1e-7,
Keras's rule) before a logarithm, so the cross-entropies are finite at
predictions of exactly 0 and 1; the price is a zero gradient for predictions
outside ``[ε, 1 - ε]``, which is why the ``from_logits=True`` forms exist
(they are exact for any logit). Half-precision
inputs (float16, bfloat16) are computed in float32 and the loss is returned in
float32, as Keras's mixed-precision guide recommends for losses (ε = 1e-7 does
not exist in float16); float32 and float64 stay in their own dtype.

Bad values. Called eagerly (values known), out-of-range inputs raise a
``ValueError`` naming the argument (targets of ``binary_cross_entropy`` and
``msle``, integer labels of ``log_likelihood``, labels of ``hinge``). Inside a
TensorFlow graph (``tf.function``, ``model.fit``) the label checks of
``log_likelihood`` and ``hinge`` become run-time assertions
(``InvalidArgumentError`` with the same message); XLA (``jit_compile=True``,
Keras's default on a GPU) drops assertions, so the loss of the offending
samples is also NaN there, never a silently wrong number.

Shapes. ``y_pred`` is ``(batch, outputs)`` (any leading axes work; the last axis
is the outputs). ``y_true`` has the same shape, or one axis fewer/more of size 1
(``(batch,)`` against ``(batch, 1)``, as Keras allows); anything else raises a
``ValueError`` naming both shapes. ``log_likelihood`` also takes integer class
labels of shape ``(batch,)`` or ``(batch, 1)``.

Reference:
    - M. Nielsen, "Neural Networks and Deep Learning", ch. 3 (2015),
      http://neuralnetworksanddeeplearning.com/chap3.html
"""

from __future__ import annotations


import keras
import numpy as np
from keras import ops

__all__ = [
    "half_mse",
    "binary_cross_entropy",
    "log_likelihood",
    "msle",
    "mae",
    "mape",
    "kl_divergence",
    "hinge",
    "BinaryCrossEntropy",
    "LogLikelihood",
    "LOSSES",
    "KERAS_TWINS",
    "LECTURE_PAIRS",
    "get",
    "output_gradient",
    "regularised_objective",
]

_register = keras.saving.register_keras_serializable(package="source_lib")

_HALF_PRECISION = ("float16", "bfloat16")


# --- helpers -----------------------------------------------------------------


def _epsilon() -> float:
    """The fuzz factor ε of every clip in this module: ``keras.backend.epsilon()``."""
    return keras.backend.epsilon()


def _compute_dtype(x) -> str:
    """float32 for half precision and for non-float input, else x's own dtype."""
    dtype = keras.backend.standardize_dtype(x.dtype)
    if dtype in ("float32", "float64"):
        return dtype
    return "float32"


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
    """Convert to tensors of one float dtype and make the shapes equal.

    A rank difference of one is accepted when the extra axis has size 1 (as in
    Keras: labels ``(batch,)`` against predictions ``(batch, 1)``). Static
    dimensions that are known and differ raise a ``ValueError`` naming both shapes.
    """
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
    """Assert ``ok`` when the loss runs inside a TensorFlow graph (``tf.function``,
    ``model.fit``), where the eager NumPy checks cannot see the values.

    The assertion raises ``tf.errors.InvalidArgumentError`` carrying ``message``
    at run time. XLA (``jit_compile=True``, Keras's default on a GPU) drops
    assertions, so every caller also turns the offending samples' loss into NaN
    (see :func:`_poison`): the run does not silently train on a wrong loss.
    Other backends and symbolic ``KerasTensor`` inputs skip the assertion.
    """
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    if not tf.is_tensor(ok):
        return
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


def _all_equal(a, b) -> bool:
    return bool(ops.convert_to_numpy(ops.all(ops.equal(a, b))))


def _activation_logits(y_pred, activation):
    """The logits z of ``y_pred`` when ``y_pred`` really is a Keras ``activation`` output, else None.

    Keras's sigmoid and softmax (on the TensorFlow backend) store their input z
    on the output tensor as ``_keras_logits``, so that a cross-entropy can be
    computed from z without clipping. Both store the same attribute, so it
    does not say *which* function made the output. (Keras's own cross-entropies
    do not ask: ``binary_crossentropy`` on a softmax output takes the softmax's
    logits for sigmoid logits.) This helper decides:

    - a graph tensor (inside ``tf.function``, ``model.fit``) really is the
      output of that activation when the op that made it is a ``Sigmoid``
      (resp. ``Softmax``, which TensorFlow emits only for the last axis); z
      is then that op's input.
    - an eager tensor has no op; it is taken as the output when its values
      equal ``sigmoid(z)`` (resp. ``softmax(z, axis=-1)``) exactly, the same
      kernel on the same input, and do *not* also equal the other function
      of z. The two coincide only where every value is 1/K (for K outputs,
      at z = -ln(K - 1)), where the probability form is exact anyway, and
      for a single output of a sigmoid saturated to exactly 1 (z >~ 17 in
      float32), which equals a one-output softmax (constant 1, a model that
      cannot learn): that case is read as the sigmoid.

    Args:
        y_pred: the predictions handed to a loss.
        activation: ``"sigmoid"`` (elementwise) or ``"softmax"`` (over the last axis).

    Returns:
        The logits tensor z (y_pred's shape), or None: no cached logits, or
        y_pred was made by another function.
    """
    z = getattr(y_pred, "_keras_logits", None)
    if z is None:
        return None
    try:
        op = y_pred.op  # graph tensors only: an EagerTensor raises AttributeError
    except AttributeError:
        op = None
    if op is not None:
        if getattr(op, "type", None) != _LOGIT_OPS[activation] or len(op.inputs) != 1:
            return None
        return op.inputs[0]
    try:
        z = ops.stop_gradient(ops.convert_to_tensor(z))
    except Exception:
        return None
    if tuple(z.shape) != tuple(y_pred.shape) or keras.backend.standardize_dtype(z.dtype) != (
        keras.backend.standardize_dtype(y_pred.dtype)
    ):
        return None
    if len(y_pred.shape) == 0:
        return None
    target = ops.stop_gradient(y_pred)
    one_output = y_pred.shape[-1] == 1

    def is_sigmoid():
        return _all_equal(ops.sigmoid(z), target)

    def is_softmax():  # over one output softmax is the constant 1 (and Keras warns about it)
        return _all_equal(target, 1.0) if one_output else _all_equal(ops.softmax(z, axis=-1), target)

    if activation == "sigmoid":
        ok = is_sigmoid() and (one_output or not is_softmax())
    else:
        ok = is_softmax() and not is_sigmoid()
    return ops.convert_to_tensor(getattr(y_pred, "_keras_logits")) if ok else None


# --- the lecture's losses ----------------------------------------------------


@_register
def half_mse(y_true, y_pred):
    """Half the squared error, the lecture's MSE (Среднеквадратичная функция).

    The lecture's cost over n samples is

        C = 1/(2n) * sum_x ||y(x) - a(x)||^2,

    so the per-sample loss returned here is

        C_x = 1/2 * sum_j (y_j - a_j)^2,

    whose gradient is simply ``a - y``; the batch mean 1/n is Keras's reduction.

    Keras's ``mean_squared_error`` has no ½ and takes the *mean* over the
    outputs: ``half_mse = 0.5 * n_outputs * keras.losses.mean_squared_error``.

    Args:
        y_true: targets y, shape ``(batch, outputs)``.
        y_pred: network outputs a, same shape.

    Returns:
        The per-sample loss, shape ``(batch,)``.

    Reference:
        - [Nielsen, NNDL ch. 1, eq. (6)](http://neuralnetworksanddeeplearning.com/chap1.html)
    """
    y_true, y_pred = _prepare(y_true, y_pred, "half_mse")
    return 0.5 * ops.sum(ops.square(y_pred - y_true), axis=-1)


@_register
def binary_cross_entropy(y_true, y_pred, from_logits=False):
    """Cross-entropy of sigmoid outputs (Cross Entropy).

    Per sample, summed over the outputs j as in the lecture
    (C = -1/n sum_x sum_j [...], the batch mean 1/n left to Keras):

        C_x = -sum_j [ y_j ln a_j + (1 - y_j) ln(1 - a_j) ].

    (The slide prints the second term with a minus inside the bracket; the
    sign above, Nielsen's eq. (57), is the one whose gradient is a - y.)

    With ``from_logits=True`` ``y_pred`` is z, the input of the sigmoid
    (a = sigma(z)), and the stable form

        C_x = sum_j [ max(z_j, 0) - z_j y_j + ln(1 + exp(-|z_j|)) ]

    is used, as ``softplus(z_j) - z_j y_j`` with ``keras.ops.softplus``
    (softplus(z) = ln(1 + e^z) = max(z, 0) + ln(1 + e^{-|z|})), whose
    gradient is sigma(z) itself: no ``relu``/``abs`` kink (TensorFlow gives
    those a zero gradient at z = 0). So the value is finite and exact for
    any z and the gradient is sigma(z) - y everywhere, 0.5 - y at z = 0
    exactly.

    A sigmoid output is computed from its logits, as Keras does. On the
    TensorFlow backend ``keras.activations.sigmoid`` (so a ``Dense`` layer
    with ``activation="sigmoid"``, and ``source_lib.activations.sigmoid``)
    stores z on its output as ``y_pred._keras_logits``. When ``y_pred``
    carries it and really is a sigmoid output (the op that made it is a
    ``Sigmoid`` in a graph; eagerly, its values are exactly sigma(z) and not
    softmax(z), see :func:`_activation_logits`), the loss is the stable form
    above from z: no clip, so a saturated output (a within 1e-7 of 1 from
    z = 16.1 on, and rounded to exactly 1 from z of about 17 in float32, 37
    in float64) still gives the exact cost and the gradient dC/dz = a - y
    (exactly 0.5 - y at z = 0, and a - y at |z| = 1e4).
    Unlike Keras, a softmax output (which caches its logits under the same
    attribute) is *not* read as sigmoid logits.

    Any other y_pred is taken as probabilities a, first clipped into
    ``[ε, 1 - ε]``, ε = 1e-7 (Keras's rule), so a = 0 or 1 gives a finite
    loss (ln ε ≈ -16.1), and an output beyond the clip gets no gradient (the
    learning stops there; pass the logits with ``from_logits=True`` instead).
    ``ln(1 - a)`` is computed as ``log1p(-a)``.

    Keras's ``binary_crossentropy`` takes the *mean* over the outputs:
    ``binary_cross_entropy = n_outputs * keras.losses.binary_crossentropy``,
    for probabilities and for sigmoid outputs alike (both use the logits
    there). The one exception is Keras's own mistake: on a softmax output
    Keras computes the sigmoid cross-entropy of the softmax's logits, while
    this function applies the formula to the probabilities a.

    Args:
        y_true: targets in [0, 1], shape ``(batch, outputs)``.
        y_pred: probabilities a in [0, 1] (or logits z if ``from_logits``),
            same shape.
        from_logits: whether ``y_pred`` holds logits z instead of sigma(z).

    Returns:
        The per-sample loss, shape ``(batch,)``.

    Raises:
        ValueError: (when called eagerly, with values known) ``y_true``
            outside [0, 1], or probabilities ``y_pred`` outside [0, 1] (the
            usual sign of logits passed without ``from_logits=True``).

    Reference:
        - [Nielsen, NNDL ch. 3, eq. (57)](http://neuralnetworksanddeeplearning.com/chap3.html)
    """
    name = "binary_cross_entropy"
    if not from_logits:
        cached = _activation_logits(y_pred, "sigmoid")
        if cached is not None:  # a sigmoid output: compute from its logits, as Keras does
            y_pred, from_logits = cached, True
    y_true, y_pred = _prepare(y_true, y_pred, name)
    _values_in(name, "y_true", _concrete(y_true), 0.0, 1.0)
    if from_logits:
        z = y_pred
        per_output = ops.softplus(z) - z * y_true
    else:
        _values_in(name, "y_pred", _concrete(y_pred), 0.0, 1.0,
                   " Probabilities a are expected; for logits z pass from_logits=True.")
        a = _clip_probability(y_pred)
        per_output = -(y_true * ops.log(a) + (1.0 - y_true) * ops.log1p(-a))
    return ops.sum(per_output, axis=-1)


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

    For a sample of class y and softmax outputs a_j = e^{z_j} / sum_k e^{z_k}:

        C_x = -ln a_y.

    ``y_true`` may be integer class labels, shape ``(batch,)`` or
    ``(batch, 1)``, or one-hot rows of y_pred's shape; for one-hot rows the
    same number is ``-sum_j y_j ln a_j``, and a soft label row (any
    non-negative weights y_j) gives that same sum, the cross-entropy of the
    two distributions. With ``from_logits=True`` y_pred is z and, since
    ``-ln a_j = logsumexp(z) - z_j``,

        C_x = (sum_j y_j) * logsumexp(z) - sum_j y_j z_j,

    computed stably (logsumexp subtracts max z first): the same number as
    the probability form for any label row, one-hot, soft, or not summing to
    1. Its gradient is ``(sum_j y_j) a - y``, which is a - y for one-hot y,
    with no kink anywhere (at tied logits too). Integer labels are turned
    into one-hot rows first, so both label forms run the same arithmetic and
    give the same numbers.

    A softmax output is computed from its logits, as Keras does: on the
    TensorFlow backend ``keras.activations.softmax`` (so ``Dense(...,
    activation="softmax")``) stores z as ``y_pred._keras_logits``. When
    ``y_pred`` carries it and really is a softmax over the last axis (a
    ``Softmax`` op in a graph; eagerly, values exactly softmax(z, axis=-1)
    and not sigmoid(z), see :func:`_activation_logits`), the logits form
    above is used: no clip, so a confidently wrong output (a_y below the
    clip, e.g. z = [20, 0, 0] with label 1, a_1 = 2e-9) still gives the
    exact cost and the gradient a - y. Unlike Keras, a sigmoid output (which caches its
    logits under the same attribute) is not read as softmax logits. Any other
    y_pred is taken as probabilities a, clipped into ``[ε, 1 - ε]``,
    ε = 1e-7, so a = 0 gives a finite loss (-ln ε ≈ 16.1) and no gradient.

    Integer labels must lie in [0, classes - 1] (the classic mistake is
    labels 1..10 for ten classes). Called eagerly, a bad label raises
    ``ValueError``. Inside a TensorFlow graph (``tf.function``,
    ``model.fit``) a run-time assertion raises ``InvalidArgumentError`` with
    the same message, and because XLA (``jit_compile=True``) drops
    assertions, the loss of a sample with a bad label is also NaN, never a
    silent 0.

    Keras twins: ``categorical_crossentropy`` (one-hot) and
    ``sparse_categorical_crossentropy`` (integers). They are equal on a
    softmax output (both from the logits when y_pred carries them); on other
    probabilities Keras first renormalises y_pred to sum to 1, this function
    takes a as given, as the lecture does.

    Args:
        y_true: class labels (integers) or one-hot (or soft) label rows.
        y_pred: softmax outputs a (or logits z if ``from_logits``),
            shape ``(batch, classes)`` with at least two classes.
        from_logits: whether ``y_pred`` holds logits z.

    Returns:
        The per-sample loss, shape ``(batch,)``.

    Raises:
        ValueError: a single class, shapes that do not fit, or (eagerly)
            integer labels outside [0, classes - 1] or not whole numbers.

    Reference:
        - [Nielsen, NNDL ch. 3, eq. (80)](http://neuralnetworksanddeeplearning.com/chap3.html)
    """
    name = "log_likelihood"
    if not from_logits:
        cached = _activation_logits(y_pred, "softmax")
        if cached is not None:  # a softmax output: compute from its logits, as Keras does
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
        # -sum_j y_j ln a_j = sum_j y_j (logsumexp(z) - z_j), with logsumexp(z) = m + ln sum_k e^(z_k - m)
        # and m = max z (no overflow). m is a constant for the gradient (logsumexp does not depend
        # on it). Exact for soft or unnormalised rows y too, unlike the fused softmax kernel.
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

    The lecture, for one output:

        L = 1/n sum_i ( ln(y_i + 1) - ln(ŷ_i + 1) )^2;

    per sample this is the mean over the outputs j of
    ``(ln(y_j + 1) - ln(ŷ_j + 1))^2``. MSLE is for
    non-negative targets (counts, prices); values below ε = 1e-7 are raised to
    ε, as Keras does, so the log is always defined (and y_pred below ε gets no
    gradient). Equal to ``keras.losses.mean_squared_logarithmic_error``.
    Negative targets are a data error and raise (eagerly); negative
    predictions are legitimate during training (a linear output) and are
    raised to ε as described.

    Args:
        y_true: non-negative targets, shape ``(batch, outputs)``.
        y_pred: predictions, same shape.

    Returns:
        The per-sample loss, shape ``(batch,)``.

    Raises:
        ValueError: (when called eagerly) a negative value in ``y_true``.

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

        L = 1/n sum_i |y_i - ŷ_i|;

    per sample, the mean over the outputs of ``|y_j - ŷ_j|``. Equal to
    ``keras.losses.mean_absolute_error``. Its gradient is sign(ŷ - y): it does
    not shrink as the error shrinks.

    Args:
        y_true: targets, shape ``(batch, outputs)``.
        y_pred: predictions, same shape.

    Returns:
        The per-sample loss, shape ``(batch,)``.

    Reference:
        - [Willmott & Matsuura, 2005](https://doi.org/10.3354/cr030079)
    """
    y_true, y_pred = _prepare(y_true, y_pred, "mae")
    return ops.mean(ops.abs(y_true - y_pred), axis=-1)


@_register
def mape(y_true, y_pred):
    """Mean absolute percentage error (Средняя по модулю в процентах, MAPE).

        L = 1/n sum_i |(y_i - ŷ_i) / y_i| * 100;

    per sample, the mean over the outputs. The epsilon rule for y = 0: the
    denominator is ``max(|y|, ε)`` with ε = 1e-7 (Keras's rule), so a zero
    target gives the finite but huge ``1e9 * |ŷ|``. Equal to
    ``keras.losses.mean_absolute_percentage_error``.

    Args:
        y_true: targets, shape ``(batch, outputs)``; best kept away from 0.
        y_pred: predictions, same shape.

    Returns:
        The per-sample loss in percent, shape ``(batch,)``.

    Reference:
        - [Hyndman & Koehler, 2006](https://doi.org/10.1016/j.ijforecast.2006.03.001)
        - [de Myttenaere et al., 2016](https://arxiv.org/abs/1605.02541)
    """
    y_true, y_pred = _prepare(y_true, y_pred, "mape")
    denominator = ops.maximum(ops.abs(y_true), _epsilon())
    return 100.0 * ops.mean(ops.abs(y_true - y_pred) / denominator, axis=-1)


@_register
def kl_divergence(y_true, y_pred):
    """Kullback-Leibler divergence (Расстояние KL).

    The lecture writes it as entropy minus cross-entropy; per sample, for
    distributions y and ŷ over the outputs j,

        KL(y || ŷ) = sum_j y_j ln y_j - sum_j y_j ln ŷ_j = sum_j y_j ln(y_j / ŷ_j),

    a *sum* over the outputs (the lecture's 1/n is the batch mean). Both
    arguments of the logs are clipped into ``[ε, 1]``, ε = 1e-7, as in Keras,
    but the factor y_j is not, so a term with y_j = 0 is exactly 0 (the
    convention 0·ln 0 = 0). That is the only difference from
    ``keras.losses.kl_divergence``, which clips y_j too and adds
    ε·ln(ε / ŷ_j) for each zero y_j (at most about 1.6e-6 per term).

    Args:
        y_true: the target distribution y, rows summing to 1.
        y_pred: the predicted distribution ŷ, same shape.

    Returns:
        The per-sample divergence, shape ``(batch,)``.

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

        L = 1/n sum_i max(0, 1 - y_i ŷ_i),   y_i in {-1, +1};

    per sample, the mean over the outputs. The label rule, per batch (per
    call): labels are either all in {-1, +1}, used as they are, or all in
    {0, 1}, converted by y -> 2y - 1 (as Keras converts a batch of 0/1
    labels). A batch that mixes 0 with -1, or holds any other value, is
    rejected: eagerly with a ``ValueError``, inside a TensorFlow graph
    (``tf.function``, ``model.fit``) by a run-time assertion
    (``InvalidArgumentError``, same message) and, as XLA drops assertions,
    a NaN loss for every sample of that batch. A batch of only 0s and 1s is
    always read as {0, 1}; mixing the two codings across batches cannot be
    seen from one batch, so keep one coding for the whole data set.
    Equal to ``keras.losses.hinge`` for ``{-1, +1}`` labels and for ``{0, 1}``
    labels.

    Args:
        y_true: labels in {-1, +1} (or {0, 1}), shape ``(batch, outputs)``.
        y_pred: raw scores ŷ (no squashing), same shape.

    Returns:
        The per-sample loss, shape ``(batch,)``.

    Raises:
        ValueError: (when called eagerly) labels outside {-1, 0, +1}, or a
            batch mixing 0 and -1.

    Reference:
        - [Rosasco et al., "Are loss functions all the same?", 2004](https://doi.org/10.1162/089976604773135104)
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
    # after the conversion every label must be -1 or +1: min |s| = max |s| = 1
    magnitude = ops.abs(signs)
    valid = ops.logical_and(ops.equal(ops.min(magnitude), 1.0), ops.equal(ops.max(magnitude), 1.0))
    _graph_check(
        valid, f"{name}: {rule}; got a batch mixing 0 and -1, or other values. Labels min, max:",
        y_min, ops.max(y_true),
    )
    return _poison(valid, loss)


# --- Loss classes that remember from_logits when a model is saved -------------


@_register
class BinaryCrossEntropy(keras.losses.Loss):
    """:func:`binary_cross_entropy` as a ``keras.losses.Loss`` that saves ``from_logits``.

    Per sample, summed over the outputs j (then reduced over the batch, by
    default the mean, the lecture's 1/n):

        C_x = -sum_j [ y_j ln a_j + (1 - y_j) ln(1 - a_j) ],   a_j = sigma(z_j),

    computed from the logits z as ``sum_j [max(z_j, 0) - z_j y_j +
    ln(1 + exp(-|z_j|))]`` when ``from_logits=True`` (stable for any z,
    gradient sigma(z) - y), and likewise from the logits a Keras sigmoid
    output caches (as :func:`binary_cross_entropy` explains), else from a
    clipped into ``[ε, 1 - ε]``. A ``Loss`` first casts y_pred to its own
    ``dtype`` (float32 by default); a cast drops the cached logits, so build
    it with the model's dtype.
    ``model.compile(loss=BinaryCrossEntropy(from_logits=True))`` survives
    ``model.save`` / ``keras.models.load_model`` with the flag intact.

    Args:
        from_logits: whether ``y_pred`` holds logits z instead of sigma(z).
        reduction, name, dtype: as for any ``keras.losses.Loss``.

    Reference:
        - [Nielsen, NNDL ch. 3, eq. (57)](http://neuralnetworksanddeeplearning.com/chap3.html)
    """

    def __init__(self, from_logits=False, reduction="sum_over_batch_size", name="binary_cross_entropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        return binary_cross_entropy(y_true, y_pred, from_logits=self.from_logits)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}


@_register
class LogLikelihood(keras.losses.Loss):
    """:func:`log_likelihood` as a ``keras.losses.Loss`` that saves ``from_logits``.

    Per sample of class y, with softmax outputs a_j = e^{z_j} / sum_k e^{z_k}
    (then reduced over the batch, by default the mean, the lecture's 1/n):

        C_x = -ln a_y = logsumexp(z) - z_y,

    the right-hand form (stable for any z, gradient a - y) when
    ``from_logits=True`` or when y_pred is a Keras softmax output carrying
    its logits (see :func:`log_likelihood`), else ``-ln a_y`` with a clipped;
    for label rows y it is ``-sum_j y_j ln a_j``.
    Integer labels or one-hot rows, as :func:`log_likelihood` takes them.

    Args:
        from_logits: whether ``y_pred`` holds logits z instead of softmax(z).
        reduction, name, dtype: as for any ``keras.losses.Loss``.

    Reference:
        - [Nielsen, NNDL ch. 3, eq. (80)](http://neuralnetworksanddeeplearning.com/chap3.html)
    """

    def __init__(self, from_logits=False, reduction="sum_over_batch_size", name="log_likelihood", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        return log_likelihood(y_true, y_pred, from_logits=self.from_logits)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}


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


def get(identifier):
    """Return a loss by name; a callable (function or ``keras.losses.Loss``) passes through.

    Args:
        identifier: a key of :data:`LOSSES` (e.g. ``"half_mse"``) or a callable.

    Raises:
        ValueError: unknown name (the message lists the known ones).
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
"""The lecture's four (loss, output activation) pairs and the closed form of
dC/dz each one has (as in Nielsen's network2.py, where each cost class carries
its ``delta``). :func:`output_gradient` computes dC/dz by autodiff; the tests
check it against these closed forms."""


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

    C is the *sum* of the per-sample losses over the batch, so row i of the
    result is the gradient of sample i's own loss C_x with respect to its z
    (no 1/n). See :data:`LECTURE_PAIRS` for the four pairs the lecture
    discusses and the closed forms they have.

    Args:
        loss: a loss name (key of :data:`LOSSES`) or callable ``(y_true, y_pred)``.
        activation: the output activation, a name (``"sigmoid"``, ``"linear"``,
            ``"softmax"``, any name ``source_lib.activations.get`` knows) or a callable.
        z: weighted inputs of the output layer, shape ``(batch, outputs)``.
        y: targets (for ``log_likelihood``: one-hot rows or integer labels).

    For the two cross-entropy pairs the loss sees the activation's output
    with the logits Keras caches on it, so the result is the closed form
    a - y to rounding at any z (|z| = 1e4 included), not 0 where a has
    rounded to 1 (see :func:`binary_cross_entropy`).

    Returns:
        dC/dz as a NumPy array of z's shape and dtype (float64 unless z is a
        float32/float16 array).

    Reference:
        - [Nielsen, NNDL ch. 3, "The cross-entropy cost function" and "Softmax"](
            http://neuralnetworksanddeeplearning.com/chap3.html): the output
          error dC/dz = a - y of the cross-entropy with sigmoid outputs and of
          the log-likelihood with a softmax output, and (a - y) sigma'(z) of
          the quadratic cost with sigmoid outputs.
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


# --- the regularised objective E = C + lambda R ---------------------------------


def _walk_layers(layer):
    """The layer and, recursively, every layer in its ``.layers`` (nested models)."""
    yield layer
    for sub in getattr(layer, "layers", ()):
        yield from _walk_layers(sub)


def _regularizers(layer):
    """``(attribute, regulariser)`` for every ``*_regularizer`` the layer has set."""
    found = []
    for attr in dir(layer):
        if attr.endswith("regularizer") and not attr.startswith("_"):
            try:
                reg = getattr(layer, attr)
            except Exception:  # a property that cannot be read on this layer
                continue
            if reg is not None:
                found.append((attr, reg))
    return found


def _resolve_compiled_loss(loss):
    """model.loss as a callable: source_lib names (``"half_mse"``, ``"source_lib>half_mse"``)
    through :func:`get`, other strings through ``keras.losses.get``."""
    if isinstance(loss, str):
        key = loss.removeprefix("source_lib>")
        return get(key) if key in LOSSES else keras.losses.get(loss)
    if callable(loss):
        return loss
    raise ValueError(
        f"regularised_objective needs one loss (a name or a callable); model.loss is {loss!r} "
        f"of type {type(loss).__name__}."
    )


def regularised_objective(model, x, y) -> dict:
    """Evaluate the lecture's E(X, Y, w) = C(X, Y, w) + lambda R(w) for a compiled model.

        E = C + lambda R,   R = sum w^2 (L2)  or  R = sum |w| (L1),

    C is the compiled loss averaged over the samples (the data term). R is
    computed here from the weights, over every kernel/bias that carries the
    regulariser; lambda is the regulariser's factor. E is C plus Keras's own
    penalty ``sum(model.losses)``, which is what ``model.fit`` minimises, so the
    identity E - C = lambda R is a check of Keras's bookkeeping against the formula.
    It holds when those regularisers are the model's only extra losses: a
    regulariser this helper does not count (activity, recurrent, depthwise,
    embeddings, ...) raises a ``ValueError``, and any other extra term in
    ``model.losses`` (an ``add_loss``) gives a ``UserWarning``.

    Keras's ``L2(l2)`` adds ``l2 * sum w^2``: no ½ and no 1/n, so Nielsen's
    ``lambda/(2n) sum w^2`` is ``L2(lambda / (2 n))``.

    ``model.loss`` may be a callable (``compile(loss=source_lib.losses.half_mse)``,
    which is what ``fit`` needs: Keras does not resolve source_lib's names by
    string), a Keras loss name, or a source_lib name such as ``"half_mse"``
    (resolved here through :func:`get`).

    Args:
        model: a compiled Keras model whose regularised layers all use one
            kind, L1 or L2, with one factor.
        x, y: the data (one batch; C is averaged over all of it).

    Returns:
        ``dict(C=..., R=..., E=..., lam=..., kind="l1"|"l2")`` of Python floats.

    Raises:
        ValueError: no regulariser, mixed kinds/factors, an L1L2 or custom
            regulariser, or a regulariser other than kernel_/bias_regularizer.

    Reference:
        - [Goodfellow, Bengio & Courville, "Deep Learning", sec. 7.1](https://www.deeplearningbook.org/contents/regularization.html)
    """
    import warnings

    if getattr(model, "loss", None) is None:
        raise ValueError("model must be compiled with a loss (model.compile(loss=...)).")
    loss = _resolve_compiled_loss(model.loss)
    regularised = []  # (kind, factor, variable)
    for layer in _walk_layers(model):
        found = _regularizers(layer)
        weights = {"kernel_regularizer": "kernel", "bias_regularizer": "bias"}
        uncounted = [
            f"{attr}={type(reg).__name__}"
            for attr, reg in found
            if attr not in weights or getattr(layer, weights[attr], None) is None
        ]
        if uncounted:
            raise ValueError(
                f"regularised_objective counts the kernel_regularizer and bias_regularizer of layers "
                f"that own that kernel/bias only; layer {layer.name!r} has {', '.join(uncounted)}, "
                "whose penalty would be in E but not in lambda R."
            )
        for attr, reg in found:
            weight = weights[attr]
            config = reg.get_config() if isinstance(reg, keras.regularizers.Regularizer) else None
            if (
                config is None
                or isinstance(reg, keras.regularizers.L1L2)
                or set(config) - {"l1", "l2"}
                or len(config) != 1
            ):
                raise ValueError(
                    f"regularised_objective handles keras.regularizers.L1 or L2 only; "
                    f"layer {layer.name!r} has {attr}={type(reg).__name__}({config or ''})."
                )
            (kind, factor), = config.items()
            regularised.append((kind, float(factor), getattr(layer, weight)))
    if not regularised:
        raise ValueError("model has no kernel/bias regulariser; E would equal C.")
    kinds = {(k, f) for k, f, _ in regularised}
    if len(kinds) != 1:
        raise ValueError(f"all regularisers must share one kind and factor; got {sorted(kinds)}.")
    (kind, lam), = kinds

    y_pred = model(x, training=False)
    if isinstance(loss, keras.losses.Loss):
        c = float(ops.convert_to_numpy(loss(y, y_pred)))
    else:
        c = float(np.mean(ops.convert_to_numpy(loss(y, y_pred))))

    r = 0.0
    for _, _, variable in regularised:
        w = np.asarray(ops.convert_to_numpy(variable), dtype=np.float64)
        r += float(np.sum(w * w) if kind == "l2" else np.sum(np.abs(w)))
    penalty = float(sum(float(ops.convert_to_numpy(p)) for p in model.losses))
    if not np.isclose(penalty, lam * r, rtol=1e-4, atol=1e-6):
        warnings.warn(
            f"model.losses sums to {penalty:.6g} but lambda R = {lam * r:.6g}: the model has extra "
            "loss terms (add_loss?) besides the kernel/bias regularisers, so E - C != lambda R.",
            stacklevel=2,
        )
    return {"C": c, "R": r, "E": c + penalty, "lam": lam, "kind": kind}
