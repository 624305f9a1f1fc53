"""Tests of source_lib.losses against NumPy float64 formulas, Keras's built-in
losses (the exact documented relation), TensorFlow autodiff and the lecture's
closed forms for dC/dz."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from source_lib import losses as L

EPS = 1e-7  # keras.backend.epsilon(), the documented clip
RNG = np.random.default_rng(20240301)

# --- independent float64 references (the lecture's formulas, written in NumPy) ---


def np_half_mse(y, a):
    return 0.5 * np.sum((y - a) ** 2, axis=-1)


def np_bce(y, a):
    a = np.clip(a, EPS, 1 - EPS)
    return -np.sum(y * np.log(a) + (1 - y) * np.log(1 - a), axis=-1)


def np_bce_logits(y, z):
    # -[y ln s + (1-y) ln(1-s)] with ln s = -ln(1+e^-z), ln(1-s) = -z - ln(1+e^-z)
    return np.sum((1 - y) * z + np.logaddexp(0.0, -z), axis=-1)


def np_log_likelihood(labels, a):
    return -np.log(np.clip(a[np.arange(len(labels)), labels], EPS, 1 - EPS))


def np_log_likelihood_logits(labels, z):
    return np.logaddexp.reduce(z, axis=-1) - z[np.arange(len(labels)), labels]


def np_msle(y, a):
    return np.mean((np.log(1 + np.maximum(y, EPS)) - np.log(1 + np.maximum(a, EPS))) ** 2, axis=-1)


def np_mae(y, a):
    return np.mean(np.abs(y - a), axis=-1)


def np_mape(y, a):
    return 100 * np.mean(np.abs((y - a) / np.maximum(np.abs(y), EPS)), axis=-1)


def np_kl(y, a):
    yc, ac = np.clip(y, EPS, 1), np.clip(a, EPS, 1)
    return np.sum(np.where(y > 0, y * np.log(yc / ac), 0.0), axis=-1)


def np_hinge(y, a):
    y = np.where(y == 0, -1.0, y)
    return np.mean(np.maximum(0.0, 1 - y * a), axis=-1)


def np_softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sample(kind, shape=(16, 5)):
    """(y_true, y_pred) in float64 fitting the loss's domain."""
    if kind in ("half_mse", "mae"):
        return RNG.normal(size=shape), RNG.normal(size=shape)
    if kind == "binary_cross_entropy":
        return (RNG.random(shape) > 0.5).astype(float), RNG.uniform(0.01, 0.99, shape)
    if kind in ("msle", "mape"):
        return RNG.uniform(0.1, 5.0, shape), RNG.uniform(0.1, 5.0, shape)
    if kind in ("log_likelihood", "kl_divergence"):
        y = np_softmax(RNG.normal(size=shape) * 2)
        return y, np_softmax(RNG.normal(size=shape))
    if kind == "hinge":
        return RNG.choice([-1.0, 1.0], size=shape), RNG.normal(size=shape)
    raise KeyError(kind)


NP_REFERENCE = {
    "half_mse": np_half_mse,
    "binary_cross_entropy": np_bce,
    "msle": np_msle,
    "mae": np_mae,
    "mape": np_mape,
    "kl_divergence": np_kl,
    "hinge": np_hinge,
}

# The documented relation: ours == factor(n_outputs) * keras twin.
KERAS_FACTOR = {
    "half_mse": lambda n: 0.5 * n,
    "binary_cross_entropy": lambda n: n,
    "log_likelihood": lambda n: 1.0,
    "msle": lambda n: 1.0,
    "mae": lambda n: 1.0,
    "mape": lambda n: 1.0,
    "kl_divergence": lambda n: 1.0,
    "hinge": lambda n: 1.0,
}


# --- registry ------------------------------------------------------------------


def test_losses_dict_and_get():
    assert list(L.LOSSES) == [
        "half_mse", "binary_cross_entropy", "log_likelihood", "msle", "mae", "mape", "kl_divergence", "hinge",
    ]
    for name, fn in L.LOSSES.items():
        assert L.get(name) is fn
        assert fn.__doc__ and "Args" in fn.__doc__
        # registered under the package, so Keras can find it when a model loads
        assert keras.saving.get_registered_name(fn) == f"source_lib>{name}"
        assert keras.saving.get_registered_object(f"source_lib>{name}") is fn
    assert L.get(L.half_mse) is L.half_mse
    loss_obj = L.BinaryCrossEntropy(from_logits=True)
    assert L.get(loss_obj) is loss_obj
    with pytest.raises(ValueError) as err:
        L.get("mse")
    for name in L.LOSSES:
        assert name in str(err.value)
    with pytest.raises(TypeError, match="loss"):
        L.get(3)


# --- values: NumPy float64 references and Keras twins ----------------------------


@pytest.mark.parametrize("name", list(NP_REFERENCE))
def test_matches_numpy_float64_reference(name):
    y, a = sample(name)
    got = L.LOSSES[name](y, a)
    assert tuple(got.shape) == (y.shape[0],)
    assert got.dtype == tf.float64
    np.testing.assert_allclose(got.numpy(), NP_REFERENCE[name](y, a), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", list(L.KERAS_TWINS))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_exact_relation_to_keras_twin(name, dtype):
    y, a = sample(name, shape=(32, 7))
    y, a = y.astype(dtype), a.astype(dtype)
    twin = getattr(keras.losses, L.KERAS_TWINS[name])
    expected = KERAS_FACTOR[name](a.shape[-1]) * np.asarray(twin(y, a), dtype=np.float64)
    got = np.asarray(L.LOSSES[name](y, a), dtype=np.float64)
    rtol = 1e-12 if dtype == "float64" else 2e-6
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol)


def test_half_mse_is_half_n_outputs_times_keras_mse_on_targets_of_any_scale():
    y, a = RNG.normal(size=(8, 10)) * 100, RNG.normal(size=(8, 10))
    np.testing.assert_allclose(
        L.half_mse(y, a).numpy(), 0.5 * 10 * keras.losses.mean_squared_error(y, a).numpy(), rtol=1e-13
    )


def test_kl_divergence_differs_from_keras_only_by_the_documented_epsilon_terms():
    y = np.eye(6)[RNG.integers(0, 6, size=20)]  # one-hot: five zeros per row
    a = np_softmax(RNG.normal(size=(20, 6)))
    ours = L.kl_divergence(y, a).numpy()
    keras_kl = keras.losses.kl_divergence(y, a).numpy()
    extra = np.sum(np.where(y == 0, EPS * np.log(EPS / np.clip(a, EPS, 1)), 0.0), axis=-1)
    np.testing.assert_allclose(keras_kl - ours, extra, rtol=1e-9, atol=1e-15)
    # and ours is the textbook value: -ln a_y for one-hot y
    np.testing.assert_allclose(ours, -np.log(a[y == 1]), rtol=1e-12)


def test_binary_cross_entropy_from_logits():
    y = (RNG.random((16, 4)) > 0.5).astype(float)
    z = RNG.normal(size=(16, 4)) * 3
    got = L.binary_cross_entropy(y, z, from_logits=True).numpy()
    np.testing.assert_allclose(got, np_bce_logits(y, z), rtol=1e-12)
    np.testing.assert_allclose(got, L.binary_cross_entropy(y, 1 / (1 + np.exp(-z))).numpy(), rtol=1e-9)
    np.testing.assert_allclose(
        got, 4 * keras.losses.binary_crossentropy(y, z, from_logits=True).numpy(), rtol=1e-12
    )


def test_log_likelihood_from_logits_soft_targets_equal_the_probability_form():
    """-sum_j y_j ln softmax(z)_j for rows y that are soft or do not sum to 1:
    (sum y) logsumexp(z) - y.z, against NumPy float64 and Keras."""
    z = RNG.normal(size=(16, 5)) * 3
    log_a = z - np.logaddexp.reduce(z, axis=-1, keepdims=True)
    for y in (np_softmax(RNG.normal(size=(16, 5))), RNG.uniform(0, 2, size=(16, 5)), 0.5 * np.eye(5)[RNG.integers(0, 5, 16)]):
        expected = -np.sum(y * log_a, axis=-1)
        got = L.log_likelihood(y, z, from_logits=True).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-12)
        np.testing.assert_allclose(got, L.log_likelihood(y, np.exp(log_a)).numpy(), rtol=1e-9)
        np.testing.assert_allclose(
            got, keras.losses.categorical_crossentropy(y, z, from_logits=True).numpy(), rtol=1e-12
        )


def test_logits_gradients_have_no_kink_at_zero_or_ties():
    """TF gives relu/abs/max a zero gradient at 0; the logits forms must still give
    sigma(z) - y at z = 0 exactly (and at +-1e4), as Keras's own BCE does."""
    y = np.array([[0.0, 1.0, 0.3, 0.0, 1.0, 0.0, 1.0]])
    for dtype in ("float32", "float64"):
        z = tf.constant([[0.0, 0.0, 0.0, 1e4, 1e4, -1e4, -1e4]], dtype=dtype)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(z)
            ours = tf.reduce_sum(L.binary_cross_entropy(y, z, from_logits=True))
            twin = tf.reduce_sum(y.shape[-1] * keras.losses.binary_crossentropy(y.astype(dtype), z, from_logits=True))
        g = tape.gradient(ours, z).numpy()
        np.testing.assert_allclose(g, tape.gradient(twin, z).numpy(), rtol=1e-6, atol=1e-7)
        sig = 1 / (1 + np.exp(-z.numpy().astype(np.float64).clip(-700, 700)))
        np.testing.assert_allclose(g, sig - y, rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(g[0, :2], [0.5, -0.5])  # exactly
    # log-likelihood: logsumexp's gradient is softmax(z) even at tied logits
    one_hot = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    z = tf.constant([[0.0, 0.0, 0.0], [1e4, 1e4, -1e4], [-1e4, 0.0, 0.0]], dtype="float64")
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(z)
        ours = tf.reduce_sum(L.log_likelihood(one_hot, z, from_logits=True))
        twin = tf.reduce_sum(keras.losses.categorical_crossentropy(one_hot, z, from_logits=True))
    g = tape.gradient(ours, z).numpy()
    assert np.isfinite(g).all()
    np.testing.assert_allclose(g, np_softmax(z.numpy()) - one_hot, atol=1e-12)
    np.testing.assert_allclose(g, tape.gradient(twin, z).numpy(), atol=1e-12)


def test_eager_range_checks_name_the_argument():
    with pytest.raises(ValueError, match=r"binary_cross_entropy: y_true must lie in \[0, 1\]"):
        L.binary_cross_entropy(np.array([[2.0]]), np.array([[0.5]]))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: y_true"):
        L.binary_cross_entropy(np.array([[-1.0]]), np.array([[0.5]]), from_logits=True)
    with pytest.raises(ValueError, match=r"binary_cross_entropy: y_pred.*from_logits=True"):
        L.binary_cross_entropy(np.array([[1.0]]), np.array([[3.0]]))
    with pytest.raises(ValueError, match=r"msle: y_true must lie in \[0, inf\]"):
        L.msle(np.array([[-1.0]]), np.array([[0.5]]))
    # a negative prediction is legitimate (linear output): raised to eps, as Keras does
    np.testing.assert_allclose(
        L.msle(np.array([[1.0]]), np.array([[-2.0]])).numpy(),
        keras.losses.mean_squared_logarithmic_error(np.array([[1.0]]), np.array([[-2.0]])).numpy(),
        rtol=1e-12,
    )


def test_log_likelihood_integer_and_one_hot_labels_agree_with_numpy_and_keras():
    labels = RNG.integers(0, 10, size=32)
    one_hot = np.eye(10)[labels]
    z = RNG.normal(size=(32, 10)) * 2
    a = np_softmax(z)
    expected = np_log_likelihood(labels, a)
    for y in (labels, labels[:, None], labels.astype("float32"), one_hot):
        np.testing.assert_allclose(L.log_likelihood(y, a).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(
        L.log_likelihood(labels, a).numpy(), keras.losses.sparse_categorical_crossentropy(labels, a).numpy(), rtol=1e-12
    )
    expected_logits = np_log_likelihood_logits(labels, z)
    for y in (labels, one_hot):
        np.testing.assert_allclose(L.log_likelihood(y, z, from_logits=True).numpy(), expected_logits, rtol=1e-12)
    np.testing.assert_allclose(
        L.log_likelihood(one_hot, z, from_logits=True).numpy(),
        keras.losses.categorical_crossentropy(one_hot, z, from_logits=True).numpy(),
        rtol=1e-12,
    )


def test_log_likelihood_out_of_range_labels_fail_inside_tf_function_and_fit():
    """Labels 1..n for n classes (the classic mistake): inside a graph the
    one-hot row of label n would be all zeros and the loss silently 0."""
    z = tf.constant(RNG.normal(size=(4, 3)))
    f = _graph(L.log_likelihood)
    np.testing.assert_allclose(
        f(tf.constant([0, 1, 2, 2]), z).numpy(), np_log_likelihood(np.array([0, 1, 2, 2]), z.numpy()), rtol=1e-12
    )
    for bad in ([1, 2, 3, 3], [-1, 0, 1, 2], [0.0, 1.5, 2.0, 1.0]):
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"log_likelihood: integer labels y_true.*\[0, 2\]"):
            f(tf.constant(bad), z)
    with pytest.raises(tf.errors.InvalidArgumentError, match="off by one"):
        _graph(lambda y, p: L.log_likelihood(y, p, from_logits=True))(tf.constant([[3], [1], [2], [1]]), z)
    # XLA drops the assertion: the bad sample's loss is NaN, the others are exact
    got = _graph(L.log_likelihood, jit=True)(tf.constant([1, 2, 3, 1]), tf.nn.softmax(z)).numpy()
    assert np.isnan(got[2])
    np.testing.assert_allclose(got[[0, 1, 3]], np_log_likelihood(np.array([1, 2, 1]), np_softmax(z.numpy())[[0, 1, 3]]), rtol=1e-9)

    keras.utils.set_random_seed(5)
    x, labels = RNG.normal(size=(8, 4)).astype("float32"), np.arange(1, 9) % 3 + 1  # labels 1..3, 3 classes
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss=L.log_likelihood, jit_compile=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match="off by one"):
        model.fit(x, labels, epochs=1, batch_size=8, verbose=0)
    model.compile(optimizer="sgd", loss=L.log_likelihood, jit_compile=True)
    assert np.isnan(model.evaluate(x, labels, batch_size=8, verbose=0))
    assert np.isfinite(model.evaluate(x, labels - 1, batch_size=8, verbose=0))


def test_log_likelihood_rejects_bad_labels_and_single_class():
    a = np_softmax(RNG.normal(size=(4, 3)))
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        L.log_likelihood(np.array([0, 1, 3, 2]), a)
    with pytest.raises(ValueError, match="whole numbers"):
        L.log_likelihood(np.array([0, 1.5, 2, 2]), a)
    with pytest.raises(ValueError, match="at least 2"):
        L.log_likelihood(np.zeros((4, 1)), np.ones((4, 1)))
    with pytest.raises(ValueError, match=r"\(5,\).*\(4, 3\)"):
        L.log_likelihood(np.array([0, 1, 2, 1, 0]), a)


def test_mape_zero_target_follows_the_epsilon_rule():
    y = np.array([[0.0, 2.0]])
    a = np.array([[0.5, 1.0]])
    expected = 100 * np.mean([0.5 / EPS, 0.5])
    got = L.mape(y, a).numpy()
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, [expected], rtol=1e-12)
    np.testing.assert_allclose(got, keras.losses.mean_absolute_percentage_error(y, a).numpy(), rtol=1e-12)


def test_hinge_labels_zero_one_are_converted_and_others_rejected():
    y_pm = RNG.choice([-1.0, 1.0], size=(12, 3))
    a = RNG.normal(size=(12, 3))
    y01 = (y_pm + 1) / 2
    np.testing.assert_array_equal(L.hinge(y01, a).numpy(), L.hinge(y_pm, a).numpy())
    np.testing.assert_allclose(L.hinge(y01, a).numpy(), keras.losses.hinge(y01, a).numpy(), rtol=1e-12)
    np.testing.assert_allclose(L.hinge(y01, a).numpy(), np_hinge(2 * y01 - 1, a), rtol=1e-12)
    # batches of one coding only: all +1, all 0, all -1
    for y in (np.ones((2, 3)), np.zeros((2, 3)), -np.ones((2, 3))):
        np.testing.assert_allclose(L.hinge(y, a[:2]).numpy(), keras.losses.hinge(y, a[:2]).numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match=r"y_true.*-1, \+1.*0\.5"):
        L.hinge(np.array([[0.5, 1.0]]), np.array([[0.2, 0.3]]))
    # 0 and -1 in one batch (even in different rows) is ambiguous: rejected, not read as -1
    with pytest.raises(ValueError, match="y_true.*mixing 0 and -1"):
        L.hinge(np.array([[-1.0], [0.0], [1.0]]), np.zeros((3, 1)))


def _graph(fn, jit=False):
    return tf.function(fn, jit_compile=jit)


def test_hinge_label_checks_hold_inside_a_graph():
    """Inside tf.function the values are not known when the loss is traced: a
    run-time assertion names the rule; under XLA (which drops assertions) the
    batch's loss is NaN instead of a silent 0 -> -1 conversion."""
    y_pm = RNG.choice([-1.0, 1.0], size=(12, 3))
    a = RNG.normal(size=(12, 3))
    f = _graph(L.hinge)
    for y in (y_pm, (y_pm + 1) / 2):
        np.testing.assert_allclose(f(tf.constant(y), tf.constant(a)).numpy(), keras.losses.hinge(y, a).numpy(), rtol=1e-12)
    mixed = tf.constant([[-1.0, 1.0], [0.0, 1.0], [1.0, -1.0]])
    scores = tf.constant(np.zeros((3, 2), dtype="float32"))
    with pytest.raises(tf.errors.InvalidArgumentError, match="hinge: labels y_true.*mixing 0 and -1"):
        f(mixed, scores)
    with pytest.raises(tf.errors.InvalidArgumentError, match="hinge: labels y_true"):
        f(tf.constant([[0.5, 1.0]]), tf.constant([[0.2, 0.3]]))
    # under XLA the batch's loss is NaN, not a silent 0 -> -1
    assert np.isnan(_graph(L.hinge, jit=True)(mixed, scores).numpy()).all()
    np.testing.assert_allclose(
        _graph(L.hinge, jit=True)(tf.constant(y_pm), tf.constant(a)).numpy(), keras.losses.hinge(y_pm, a).numpy(), rtol=1e-12
    )


# --- shapes, stability, dtypes -------------------------------------------------


@pytest.mark.parametrize("name", [n for n in L.LOSSES if n != "log_likelihood"])
def test_shape_mismatch_names_both_shapes(name):
    with pytest.raises(ValueError) as err:
        L.LOSSES[name](np.ones((4, 3)), np.full((4, 2), 0.5))
    assert "(4, 3)" in str(err.value) and "(4, 2)" in str(err.value) and name in str(err.value)


def test_labels_of_rank_one_broadcast_like_keras():
    y = np.array([0.0, 1.0, 1.0])
    a = np.array([[0.2], [0.7], [0.9]])
    np.testing.assert_allclose(L.binary_cross_entropy(y, a).numpy(), np_bce(y[:, None], a), rtol=1e-12)
    np.testing.assert_allclose(L.half_mse(y, a).numpy(), np_half_mse(y[:, None], a), rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_cross_entropies_finite_at_predictions_exactly_zero_and_one(dtype):
    y = np.array([[0.0, 1.0, 0.0, 1.0]], dtype=dtype)
    a = tf.constant([[0.0, 0.0, 1.0, 1.0]], dtype=dtype)
    with tf.GradientTape() as tape:
        tape.watch(a)
        bce = L.binary_cross_entropy(y, a)
    assert np.isfinite(bce.numpy()).all() and np.isfinite(tape.gradient(bce, a).numpy()).all()
    # a is clipped into [eps, top], top = 1 - eps rounded in the compute dtype (float32 for half)
    top = float(np.float64(1 - EPS).astype("float64" if dtype == "float64" else "float32"))
    low = float(np.float64(EPS).astype("float64" if dtype == "float64" else "float32"))
    expected = -np.log1p(-low) - np.log(low) - np.log1p(-top) - np.log(top)
    np.testing.assert_allclose(bce.numpy(), [expected], rtol=1e-6)
    soft = tf.constant([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype=dtype)
    with tf.GradientTape() as tape:
        tape.watch(soft)
        ll = L.log_likelihood(np.array([0, 1]), soft)
    assert np.isfinite(ll.numpy()).all() and np.isfinite(tape.gradient(ll, soft).numpy()).all()
    np.testing.assert_allclose(ll.numpy(), [-np.log(EPS), -np.log(EPS)], rtol=1e-6)
    kl = L.kl_divergence(np.array([[1.0, 0.0, 0.0]]), soft[:1])
    assert np.isfinite(kl.numpy()).all()


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_logit_forms_finite_at_huge_logits(dtype):
    z = tf.constant([[-1e4, 1e4, -30.0, 30.0]], dtype=dtype) if dtype != "float16" else tf.constant(
        [[-6e4, 6e4, -30.0, 30.0]], dtype=dtype
    )
    y = np.array([[0.0, 0.0, 1.0, 1.0]])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(z)
        bce = L.binary_cross_entropy(y, z, from_logits=True)
        ll = L.log_likelihood(np.array([0]), z, from_logits=True)
    for value in (bce, ll, tape.gradient(bce, z), tape.gradient(ll, z)):
        assert np.isfinite(value.numpy()).all()
    big = float(z.numpy()[0, 1])
    np.testing.assert_allclose(bce.numpy(), [big + 30.0 + np.log1p(np.exp(-30.0))], rtol=1e-3)
    np.testing.assert_allclose(ll.numpy(), [big - float(z.numpy()[0, 0])], rtol=1e-3)


@pytest.mark.parametrize("name", list(L.LOSSES))
@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_low_precision_matches_float64(name, dtype):
    y, a = sample(name, shape=(8, 4))
    if name == "log_likelihood":
        y = RNG.integers(0, 4, size=8)
    y_low, a_low = (y.astype(dtype) if name != "log_likelihood" else y), a.astype(dtype)
    got = L.LOSSES[name](y_low, a_low)
    # half precision is computed and returned in float32 (documented); float32 stays float32
    assert got.dtype == tf.float32
    reference = L.LOSSES[name](y_low.astype("float64") if name != "log_likelihood" else y, a_low.astype("float64"))
    np.testing.assert_allclose(got.numpy(), reference.numpy(), rtol=2e-5, atol=1e-5)


# --- why the output activation and the loss go together --------------------------


def test_output_gradient_four_lecture_pairs_match_closed_forms():
    z = RNG.normal(size=(20, 3)) * 3
    y = (RNG.random((20, 3)) > 0.5).astype(float)
    s = 1 / (1 + np.exp(-z))
    # MSE + sigmoid: (a - y) sigma'(z), sigma' = s(1 - s)
    np.testing.assert_allclose(L.output_gradient("half_mse", "sigmoid", z, y), (s - y) * s * (1 - s), rtol=1e-10)
    # MSE + linear: a - y (with a = z)
    np.testing.assert_allclose(L.output_gradient("half_mse", "linear", z, y), z - y, rtol=1e-12)
    # cross-entropy + sigmoid: a - y, the sigma'(z) cancels
    np.testing.assert_allclose(
        L.output_gradient("binary_cross_entropy", "sigmoid", z, y), s - y, rtol=1e-9, atol=1e-12
    )
    # log-likelihood + softmax: a - y for one-hot y, also given as integer labels
    labels = RNG.integers(0, 3, size=20)
    one_hot = np.eye(3)[labels]
    a = np_softmax(z)
    np.testing.assert_allclose(L.output_gradient("log_likelihood", "softmax", z, one_hot), a - one_hot, atol=1e-12)
    np.testing.assert_allclose(L.output_gradient("log_likelihood", "softmax", z, labels), a - one_hot, atol=1e-12)
    for key, (loss, act, _) in L.LECTURE_PAIRS.items():
        assert loss in L.LOSSES, key


def test_output_gradient_shows_the_saturation_slowdown():
    z = np.array([[8.0]])  # sigma saturated, badly wrong for y = 0
    y = np.array([[0.0]])
    mse = abs(L.output_gradient("half_mse", "sigmoid", z, y)[0, 0])
    ce = abs(L.output_gradient("binary_cross_entropy", "sigmoid", z, y)[0, 0])
    assert mse < 1e-3 < 0.99 < ce


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_output_gradient_is_a_minus_y_for_the_cross_entropy_pairs_at_any_z(dtype):
    """Saturated and badly wrong (a rounded to 1 for y = 0, a_y rounded to 0):
    the cross-entropies are computed from the logits the sigmoid/softmax cache,
    so dC/dz is still the closed form a - y (NumPy float64), not 0 from a clip."""
    z = np.array([[-1e4], [-50.0], [-17.0], [0.0], [9.0], [17.0], [20.0], [50.0], [1e4]], dtype=dtype)
    sig = 1 / (1 + np.exp(-z.astype(np.float64).clip(-700, 700)))
    tol = 1e-6 if dtype == "float32" else 1e-12
    for y in (np.zeros_like(z), np.ones_like(z)):
        g = L.output_gradient("binary_cross_entropy", "sigmoid", z, y)
        np.testing.assert_allclose(g, sig - y, rtol=tol, atol=tol)
        assert g[3, 0] == 0.5 - y[3, 0]  # exactly, at z = 0
    z = np.array([[20.0, 0.0, 0.0], [1e4, 0.0, -1e4], [0.0, 1e4, 1e4], [0.0, 0.0, 0.0], [-1e4, 50.0, 0.0]], dtype=dtype)
    labels = np.array([1, 2, 0, 2, 0])
    expected = np_softmax(z.astype(np.float64)) - np.eye(3)[labels]
    for y in (labels, np.eye(3, dtype=dtype)[labels]):
        np.testing.assert_allclose(L.output_gradient("log_likelihood", "softmax", z, y), expected, atol=tol)


def _keras_activation(name, z):
    return keras.activations.sigmoid(z) if name == "sigmoid" else keras.activations.softmax(z)


@pytest.mark.parametrize("graph", [False, True], ids=["eager", "tf.function"])
def test_cross_entropies_use_the_cached_logits_of_their_own_activation_only(graph):
    """Keras's sigmoid and softmax both cache their logits as ``_keras_logits``.
    BCE takes them from a sigmoid output only and the log-likelihood from a
    softmax output only; on the other activation's output each applies its
    formula to the probabilities (NumPy float64 references, gradients too)."""
    z = np.array([[30.0, -2.0, 0.0], [0.5, -30.0, 12.0]])
    y = np.array([[0.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    labels = np.array([1, 1])  # a_y rounds to 0 in float32 in both rows
    one_hot = np.eye(3)[labels]
    s, p = 1 / (1 + np.exp(-z)), np_softmax(z)

    def run(z):
        out = {}
        for act in ("sigmoid", "softmax"):
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(z)
                a = _keras_activation(act, z)
                out[act] = {"bce": L.binary_cross_entropy(y, a), "ll": L.log_likelihood(labels, a)}
            out[act]["bce_grad"] = tape.gradient(out[act]["bce"], z)
            out[act]["ll_grad"] = tape.gradient(out[act]["ll"], z)
        return out

    for dtype, tol in (("float64", 1e-12), ("float32", 2e-6)):
        zt = tf.constant(z, dtype=dtype)
        got = tf.function(run)(zt) if graph else run(zt)
        got = {act: {k: v.numpy().astype(np.float64) for k, v in d.items()} for act, d in got.items()}
        # sigmoid output: BCE from the logits, exact beyond the clip (z = +-30), gradient a - y
        np.testing.assert_allclose(got["sigmoid"]["bce"], np_bce_logits(y, z), rtol=tol)
        np.testing.assert_allclose(got["sigmoid"]["bce_grad"], s - y, atol=tol)
        assert got["sigmoid"]["bce"][0] > 29  # the clip would give at most ln(1e7) = 16.1 for that term
        # softmax output: log-likelihood from the logits, gradient a - y
        np.testing.assert_allclose(got["softmax"]["ll"], np_log_likelihood_logits(labels, z), rtol=tol)
        np.testing.assert_allclose(got["softmax"]["ll_grad"], p - one_hot, atol=tol)
        assert got["softmax"]["ll"].min() > 29  # the clip would give at most 16.1
        if dtype == "float64":
            # the other activation's output: the probability formula, clipped (Keras would misread the logits)
            np.testing.assert_allclose(got["softmax"]["bce"], np_bce(y, p), rtol=1e-12)
            np.testing.assert_allclose(got["sigmoid"]["ll"], np_log_likelihood(labels, s), rtol=1e-12)
            # ... and its gradient is the chain rule through the probabilities (TF autodiff of the formula)
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(zt)
                pt, st = tf.nn.softmax(zt), tf.nn.sigmoid(zt)
                pc = tf.clip_by_value(pt, EPS, 1 - EPS)
                bce_ref = -tf.reduce_sum(y * tf.math.log(pc) + (1 - y) * tf.math.log1p(-pc), axis=-1)
                ll_ref = -tf.math.log(tf.clip_by_value(tf.reduce_sum(st * one_hot, axis=-1), EPS, 1 - EPS))
            np.testing.assert_allclose(got["softmax"]["bce_grad"], tape.gradient(bce_ref, zt).numpy(), rtol=1e-9, atol=1e-15)
            np.testing.assert_allclose(got["sigmoid"]["ll_grad"], tape.gradient(ll_ref, zt).numpy(), rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_keras_relations_hold_on_activation_outputs_with_logits(dtype):
    """On a sigmoid/softmax output Keras also uses the logits, and the documented
    relations still hold: BCE = n_outputs * Keras BCE, log-likelihood = Keras CCE."""
    z = tf.constant(RNG.normal(size=(16, 4)) * 20, dtype=dtype)  # many outputs saturated
    y = (RNG.random((16, 4)) > 0.5).astype(dtype)
    labels = RNG.integers(0, 4, size=16)
    a = keras.activations.sigmoid(z)
    rtol = 1e-12 if dtype == "float64" else 2e-6
    np.testing.assert_allclose(
        L.binary_cross_entropy(y, a).numpy(), 4 * keras.losses.binary_crossentropy(y, a).numpy(), rtol=rtol
    )
    a = keras.activations.softmax(z)
    np.testing.assert_allclose(
        L.log_likelihood(labels, a).numpy(),
        keras.losses.sparse_categorical_crossentropy(labels, a).numpy(), rtol=rtol, atol=rtol,
    )


def test_activation_logits_ties_and_non_tensors():
    """Eagerly the helper decides by the values. Where a sigmoid and a softmax output
    coincide (every value 1/K, or every value rounded to 0 or 1) the activation the
    loss expects is trusted, as Keras does; values that fit neither are refused."""
    z = tf.constant([[0.0, 0.0], [0.0, 0.0]], dtype="float64")  # sigmoid = softmax = 0.5
    assert L._activation_logits(keras.activations.sigmoid(z), "sigmoid") is z
    assert L._activation_logits(keras.activations.softmax(z), "softmax") is z
    y = np.array([[1.0, 0.0], [0.0, 0.0]])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(z)
        bce = L.binary_cross_entropy(y, keras.activations.sigmoid(z))
        ll = L.log_likelihood(np.array([0, 1]), keras.activations.softmax(z))
    np.testing.assert_allclose(bce.numpy(), [2 * np.log(2)] * 2, rtol=1e-15)
    np.testing.assert_allclose(tape.gradient(bce, z).numpy(), 0.5 - y, atol=1e-15)
    np.testing.assert_allclose(tape.gradient(ll, z).numpy(), [[-0.5, 0.5], [0.5, -0.5]], atol=1e-15)
    z1 = tf.constant([[17.0], [30.0]], dtype="float32")
    a1 = keras.activations.sigmoid(z1)
    assert np.all(a1.numpy() == 1.0)
    assert L._activation_logits(a1, "sigmoid") is z1
    # a sigmoid output that is not also a softmax of its logits is not read as one, nor the reverse
    z2 = tf.constant([[1.0, 2.0]])
    assert L._activation_logits(keras.activations.sigmoid(z2), "softmax") is None
    assert L._activation_logits(keras.activations.softmax(z2), "sigmoid") is None
    # no cached logits, or logits that do not match the values: None
    assert L._activation_logits(tf.constant([[0.3]]), "sigmoid") is None
    assert L._activation_logits(np.array([[0.3]]), "sigmoid") is None
    fake = tf.nn.sigmoid(tf.constant([[1.0, 2.0]]))
    fake._keras_logits = tf.constant([[3.0, 2.0]])
    assert L._activation_logits(fake, "sigmoid") is None


@pytest.mark.parametrize("graph", [False, True], ids=["eager", "tf.function"])
def test_saturated_outputs_keep_their_logits(graph):
    """Every output rounded to exactly 0 or 1: sigmoid(z) and softmax(z) give the same
    numbers, and the eager check once refused the logits and clipped (32.24 for 20000,
    32.06 for 160, 16.12 for 20000, gradients 0). Exact values, Keras's own losses beside."""
    y, label = np.array([[0.0, 1.0]]), np.array([1])
    cases = [  # (dtype, z, exact BCE with y, exact log-likelihood of label 1)
        ("float64", [[1e4, -1e4]], 20000.0, 20000.0),
        ("float32", [[40.0, -120.0]], 160.0, 160.0),
    ]
    for dtype, z, exact_bce, exact_ll in cases:
        zt = tf.constant(z, dtype=dtype)

        def losses(t):
            s, p = keras.activations.sigmoid(t), keras.activations.softmax(t)
            return (L.binary_cross_entropy(y, s), 2 * keras.losses.binary_crossentropy(y, s),
                    L.log_likelihood(label, p), keras.losses.sparse_categorical_crossentropy(label, p))

        bce, keras_bce, ll, keras_ll = (v.numpy() for v in (tf.function(losses)(zt) if graph else losses(zt)))
        np.testing.assert_allclose(bce, [exact_bce], rtol=1e-7)
        np.testing.assert_allclose(keras_bce, [exact_bce], rtol=1e-7)
        np.testing.assert_allclose(ll, [exact_ll], rtol=1e-7)
        np.testing.assert_allclose(keras_ll, [exact_ll], rtol=1e-7)
    # dC/dz = a - y with a = (1, 0): (1, -1), for the sigmoid and the softmax pair
    np.testing.assert_array_equal(L.output_gradient("binary_cross_entropy", "sigmoid", [[1e4, -1e4]], y), [[1.0, -1.0]])
    np.testing.assert_array_equal(L.output_gradient("log_likelihood", "softmax", [[1e4, -1e4]], [1]), [[1.0, -1.0]])
    np.testing.assert_array_equal(L.output_gradient("log_likelihood", "softmax", [[1e4, -1e4]], y), [[1.0, -1.0]])


@pytest.mark.parametrize("jit", [False, True], ids=["graph", "xla"])
def test_fit_learns_from_saturated_wrong_outputs(jit):
    """In model.fit the cross-entropies see the Dense layer's activation output:
    one SGD step from z = 30 (a = 1 in float32, y = 0) moves the bias by
    lr (a - y) = lr, where the clipped form would not move it at all."""
    lr = 0.5
    x = np.zeros((4, 1), "float32")
    for act, loss, y, bias, step in (
        ("sigmoid", L.binary_cross_entropy, np.zeros((4, 1), "float32"), [30.0], [lr]),
        ("softmax", L.log_likelihood, np.ones(4, "int32"), [30.0, 0.0, 0.0], [lr, -lr, 0.0]),
    ):
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(
            len(bias), activation=act, kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(bias))])
        model.compile(optimizer=keras.optimizers.SGD(lr), loss=loss, jit_compile=jit)
        model.fit(x, y, batch_size=4, epochs=1, verbose=0)
        np.testing.assert_allclose(np.array(bias) - model.layers[0].bias.numpy(), step, atol=1e-6)


# --- the regularised objective E = C + lambda R ----------------------------------


@pytest.mark.parametrize("kind", ["l2", "l1"])
def test_regularised_objective_E_minus_C_is_lambda_R(kind):
    lam = 0.01
    reg = keras.regularizers.L2(lam) if kind == "l2" else keras.regularizers.L1(lam)
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(6, activation="tanh", kernel_regularizer=reg),
            keras.layers.Dense(2, activation="sigmoid", kernel_regularizer=reg),
        ]
    )
    model.compile(optimizer="sgd", loss=L.half_mse)
    x = RNG.normal(size=(10, 4)).astype("float32")
    y = RNG.random((10, 2)).astype("float32")
    out = L.regularised_objective(model, x, y)
    assert out["kind"] == kind and out["lam"] == pytest.approx(lam)
    kernels = [layer.kernel.numpy().astype(np.float64) for layer in model.layers]
    r_expected = sum(np.sum(k**2) if kind == "l2" else np.sum(np.abs(k)) for k in kernels)
    assert out["R"] == pytest.approx(r_expected, rel=1e-12)
    c_expected = np.mean(np_half_mse(y.astype(np.float64), model.predict(x, verbose=0).astype(np.float64)))
    assert out["C"] == pytest.approx(c_expected, rel=1e-5)
    assert out["E"] - out["C"] == pytest.approx(lam * out["R"], rel=1e-5)
    # E is what Keras itself reports as the training objective
    assert out["E"] == pytest.approx(model.evaluate(x, y, batch_size=len(x), verbose=0), rel=1e-5)


def test_regularised_objective_resolves_source_lib_loss_names():
    """Keras cannot resolve 'half_mse' by string (fit fails), but a model compiled
    that way can still be evaluated here: the name goes through losses.get."""
    reg = keras.regularizers.L2(0.05)
    x = RNG.normal(size=(6, 3)).astype("float32")
    y = RNG.normal(size=(6, 2)).astype("float32")
    for name in ("half_mse", "source_lib>half_mse", "mean_squared_error"):
        keras.utils.set_random_seed(2)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, kernel_regularizer=reg)])
        model.compile(optimizer="sgd", loss=name)
        out = L.regularised_objective(model, x, y)
        pred = model.predict(x, verbose=0).astype(np.float64)
        expected = np.mean(np_half_mse(y, pred)) if "half" in name else np.mean((y - pred) ** 2)
        assert out["C"] == pytest.approx(expected, rel=1e-5), name
        assert out["E"] - out["C"] == pytest.approx(0.05 * np.sum(model.layers[0].kernel.numpy().astype(np.float64) ** 2), rel=1e-5)


def test_regularised_objective_refuses_regularisers_it_does_not_count():
    reg = keras.regularizers.L2(0.01)
    x, y = np.zeros((2, 3), "float32"), np.zeros((2, 2), "float32")
    models = {
        "activity_regularizer": [keras.layers.Dense(2, kernel_regularizer=reg, activity_regularizer=reg)],
        "recurrent_regularizer": [
            keras.layers.Reshape((3, 1)),
            keras.layers.SimpleRNN(2, kernel_regularizer=reg, recurrent_regularizer=reg),
        ],
    }
    for attr, layers in models.items():
        model = keras.Sequential([keras.Input((3,)), *layers])
        model.compile(optimizer="sgd", loss=L.half_mse)
        with pytest.raises(ValueError, match=attr):
            L.regularised_objective(model, x, y)

    class AddsALoss(keras.layers.Layer):
        def call(self, inputs):
            self.add_loss(ops_sum_squares(inputs))
            return inputs

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, kernel_regularizer=reg), AddsALoss()])
    model.compile(optimizer="sgd", loss=L.half_mse)
    with pytest.warns(UserWarning, match="E - C != lambda R"):
        L.regularised_objective(model, np.ones((2, 3), "float32"), y)


def ops_sum_squares(t):
    return keras.ops.sum(keras.ops.square(t)) + 1.0


def test_regularised_objective_needs_a_regulariser():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss=L.half_mse)
    with pytest.raises(ValueError, match="no kernel/bias regulariser"):
        L.regularised_objective(model, np.zeros((1, 2)), np.zeros((1, 1)))


# --- compile, save, load in a fresh process --------------------------------------


def _cases():
    """name -> (loss, output activation, n_outputs, y) for the save/load test."""
    n = 12
    labels = RNG.integers(0, 3, size=n)
    return {
        "half_mse": (L.half_mse, "linear", 2, RNG.normal(size=(n, 2))),
        "binary_cross_entropy": (L.binary_cross_entropy, "sigmoid", 2, (RNG.random((n, 2)) > 0.5) * 1.0),
        "bce_logits": (L.BinaryCrossEntropy(from_logits=True), "linear", 2, (RNG.random((n, 2)) > 0.5) * 1.0),
        "log_likelihood": (L.log_likelihood, "softmax", 3, np.eye(3)[labels]),
        "log_likelihood_int": (L.log_likelihood, "softmax", 3, labels),
        "ll_logits": (L.LogLikelihood(from_logits=True), "linear", 3, labels),
        "msle": (L.msle, "softplus", 2, RNG.uniform(0, 3, size=(n, 2))),
        "mae": (L.mae, "linear", 2, RNG.normal(size=(n, 2))),
        "mape": (L.mape, "linear", 2, RNG.uniform(1, 3, size=(n, 2))),
        "kl_divergence": (L.kl_divergence, "softmax", 3, np_softmax(RNG.normal(size=(n, 3)))),
        "hinge": (L.hinge, "tanh", 2, RNG.choice([-1.0, 1.0], size=(n, 2))),
    }


def test_compiled_models_survive_save_and_load_in_a_fresh_process(tmp_path):
    """One fresh process loads every model (no custom_objects, only
    ``import source_lib``) and reports predictions and the compiled loss."""
    keras.utils.set_random_seed(3)
    x = RNG.normal(size=(12, 4)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    cases = _cases()
    here = {}
    for name, (loss, act, n_out, y) in cases.items():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(n_out, activation=act)])
        model.compile(optimizer="sgd", loss=loss)
        model.save(tmp_path / f"{name}.keras")
        np.save(tmp_path / f"{name}.y.npy", y)
        pred = model.predict(x, verbose=0)
        value = model.evaluate(x, y, batch_size=len(x), verbose=0)
        # the compiled loss is the batch mean of our per-sample loss
        per_sample = loss(y, pred) if isinstance(loss, keras.losses.Loss) else np.mean(loss(y, pred))
        assert value == pytest.approx(float(per_sample), rel=1e-5), name
        here[name] = (pred, value)
    script = textwrap.dedent(
        f"""
        import json, numpy as np
        import source_lib  # registers the custom objects; nothing else is passed
        import keras
        d = {str(tmp_path)!r}
        x = np.load(d + "/x.npy")
        out = {{}}
        for name in {list(here)!r}:
            m = keras.models.load_model(d + "/" + name + ".keras")
            y = np.load(d + "/" + name + ".y.npy")
            np.save(d + "/" + name + ".pred.npy", m.predict(x, verbose=0))
            loss = m.loss
            out[name] = {{
                "evaluate": float(m.evaluate(x, y, batch_size=len(x), verbose=0)),
                "loss": keras.saving.get_registered_name(loss if callable(loss) and not isinstance(loss, keras.losses.Loss) else type(loss)),
                "from_logits": getattr(loss, "from_logits", None),
            }}
        print("RESULT" + json.dumps(out))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    loaded = json.loads(proc.stdout.split("RESULT", 1)[1])
    for name, (loss, _, _, _) in cases.items():
        pred, value = here[name]
        np.testing.assert_allclose(np.load(tmp_path / f"{name}.pred.npy"), pred, rtol=1e-6, atol=1e-7)
        assert loaded[name]["evaluate"] == pytest.approx(value, rel=1e-6), name
        expected = keras.saving.get_registered_name(type(loss) if isinstance(loss, keras.losses.Loss) else loss)
        assert loaded[name]["loss"] == expected, name
        if isinstance(loss, keras.losses.Loss):
            assert loaded[name]["from_logits"] is True, name
