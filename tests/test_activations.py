"""source_lib.activations against independent references: Keras built-ins,
TensorFlow autodiff of those built-ins, NumPy float64, and the published figures of
docs/reference-figures.md."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from source_lib import activations as A

# Each function's Keras twin: same values to 1e-6.
TWINS = A.KERAS_TWINS


def test_twins_are_keras_builtins():
    # The mapping lives in the library (the benchmark uses it too); check that
    # every twin really is the Keras built-in of that name.
    expected = {"swish": "silu"}
    for name, twin in TWINS.items():
        assert twin is getattr(keras.activations, expected.get(name, name)), name
    assert float(TWINS["leaky_relu"](tf.constant(-1.0))) == pytest.approx(-0.2)  # Keras's default slope

# NumPy float64 references written from the formulas, independent of keras.ops.
SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805  # Klambauer et al. 2017 (docs/reference-figures.md)


def _np_sigmoid(x):
    return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))


def _np_softplus(x):
    return np.logaddexp(0.0, x)


NUMPY_REF = {
    "sigmoid": _np_sigmoid,
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "leaky_relu": lambda x: np.maximum(0.2 * x, x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    "selu": lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0))),
    "relu6": lambda x: np.clip(x, 0.0, 6.0),
    "swish": lambda x: x * _np_sigmoid(x),
    "mish": lambda x: x * np.tanh(_np_softplus(x)),
    "softplus": _np_softplus,
}

GRID = np.concatenate([np.linspace(-20, 20, 4001), [-1e4, -1e3, 1e3, 1e4]])
NAMES = sorted(A.ACTIVATIONS)


def test_registry_is_complete():
    assert set(A.ACTIVATIONS) == set(TWINS) == set(NUMPY_REF)


@pytest.mark.parametrize("name", NAMES)
def test_values_match_keras_twin_float32(name):
    x = tf.constant(GRID, dtype=tf.float32)
    ours = np.asarray(A.ACTIVATIONS[name](x))
    theirs = np.asarray(TWINS[name](x))
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_values_match_numpy_float64(name):
    ours = np.asarray(A.ACTIVATIONS[name](tf.constant(GRID, dtype=tf.float64)))
    np.testing.assert_allclose(ours, NUMPY_REF[name](GRID), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_gradients_match_autodiff_of_keras_twin(name):
    # Kinks (0 for the ReLU family, 6 for relu6) are excluded: there the
    # subgradient is a convention (see the docstrings).
    x_np = GRID[(GRID != 0) & (GRID != 6)]
    x = tf.constant(x_np, dtype=tf.float64)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours, theirs = A.ACTIVATIONS[name](x), TWINS[name](x)
    # rtol 2e-8: Keras keeps negative_slope=0.2 as a float32 constant.
    np.testing.assert_allclose(tape.gradient(ours, x), tape.gradient(theirs, x), rtol=2e-8, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_dtypes_extremes_finite(name, dtype):
    x_np = np.array([-1e4, -60.0, -3.0, -0.5, 0.0, 0.5, 3.0, 60.0, 1e4], dtype=dtype)
    x = tf.constant(x_np)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = A.ACTIVATIONS[name](x)
    g = tape.gradient(y, x)
    assert y.dtype == x.dtype and g.dtype == x.dtype
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(g))
    tol = {"float16": 2e-3, "float32": 1e-6, "float64": 1e-12}[dtype]
    ref = NUMPY_REF[name](x_np.astype(np.float64))
    np.testing.assert_allclose(np.asarray(y, dtype=np.float64), ref, rtol=tol, atol=tol)


def test_kink_conventions_follow_the_lecture_table():
    # The lecture's table: ReLU' = 1 and leaky ReLU' = 1 for z >= 0.
    _, d = A.gradient_profile("relu", [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(d, [0.0, 1.0, 1.0])
    _, d = A.gradient_profile("leaky_relu", [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(d, [0.2, 1.0, 1.0])
    # softplus'(0) = sigmoid(0) exactly.
    assert A.gradient_profile("softplus", [0.0])[1][0] == 0.5


def test_gradient_profile_matches_closed_form_derivatives():
    x = np.linspace(-8, 8, 161)
    s = _np_sigmoid(x)
    f, d = A.gradient_profile("sigmoid", x)
    np.testing.assert_allclose(d, s * (1 - s), rtol=1e-12, atol=1e-15)
    f, d = A.gradient_profile("swish", x)
    sw = x * s
    np.testing.assert_allclose(d, sw + s * (1 - sw), rtol=1e-12, atol=1e-15)  # the lecture's formula
    f, d = A.gradient_profile(A.tanh, x)
    np.testing.assert_allclose(d, 1 - np.tanh(x) ** 2, rtol=1e-12, atol=1e-15)


# --- the reference figures (docs/reference-figures.md) ---------------------------


def test_derivative_ranges_reproduce_lecture_table():
    assert A.derivative_range("sigmoid")[2] == pytest.approx(0.25, abs=1e-12)
    assert A.derivative_range("sigmoid")[0] < 1e-4  # "-> 0"
    assert A.derivative_range("tanh")[2] == pytest.approx(1.0, abs=1e-12)
    assert A.derivative_range("tanh")[0] < 1e-8
    assert A.derivative_range("relu")[0] == 0.0 and A.derivative_range("relu")[2] == 1.0
    assert A.derivative_range("leaky_relu")[0] == 0.2 and A.derivative_range("leaky_relu")[2] == 1.0


def test_swish_and_mish_derivative_ranges_to_five_significant_digits():
    dmin, xmin, dmax, xmax = A.derivative_range("swish")
    assert dmin == pytest.approx(-0.0998393, rel=5e-6)
    assert xmin == pytest.approx(-2.399357, rel=5e-6)
    assert dmax == pytest.approx(1.099839, rel=5e-6)
    assert xmax == pytest.approx(2.399357, rel=5e-6)
    dmin, _, dmax, _ = A.derivative_range("mish")
    assert dmin == pytest.approx(-0.112526, rel=5e-6)
    assert dmax == pytest.approx(1.088498, rel=5e-6)


def test_swish_and_mish_minima():
    vmin, xmin, _, _ = A.value_range("swish")
    assert (vmin, xmin) == (pytest.approx(-0.278465, rel=5e-6), pytest.approx(-1.278465, rel=5e-6))
    vmin, xmin, _, _ = A.value_range("mish")
    assert (vmin, xmin) == (pytest.approx(-0.308843, rel=5e-6), pytest.approx(-1.192431, rel=5e-6))


def test_selu_constants():
    assert A.SELU_ALPHA == pytest.approx(1.6732632423543772, rel=1e-15)
    assert A.SELU_SCALE == pytest.approx(1.0507009873554805, rel=1e-15)
    # selu(-inf) -> -scale * alpha
    assert float(A.selu(tf.constant(-1e4, tf.float64))) == pytest.approx(-SELU_SCALE * SELU_ALPHA, rel=1e-15)


def test_activation_table_rows():
    rows = {r[0]: r for r in A.activation_table()}
    assert set(rows) == set(A.ACTIVATIONS)
    assert rows["sigmoid"][3] == pytest.approx(0.25)
    assert rows["swish"][2] == pytest.approx(-0.0998393, rel=5e-6)
    assert rows["swish"][3] == pytest.approx(1.099839, rel=5e-6)
    text = A.format_activation_table()
    assert all(name in text for name in A.ACTIVATIONS)


def test_swish_with_beta_matches_numpy():
    x = np.linspace(-10, 10, 101)
    for beta in (0.5, 2.0):
        np.testing.assert_allclose(A.swish(tf.constant(x), beta=beta), x * _np_sigmoid(beta * x), rtol=1e-12, atol=1e-14)


# --- get() ---------------------------------------------------------------------


def test_get_names_callables_and_errors():
    assert A.get("relu") is A.relu
    assert A.get("Leaky-ReLU") is A.leaky_relu
    assert A.get(A.mish) is A.mish
    assert float(A.get(None)(tf.constant(3.0))) == 3.0
    with pytest.raises(ValueError) as err:
        A.get("sigmod")
    assert "sigmod" in str(err.value) and "sigmoid" in str(err.value) and "swish" in str(err.value)
    with pytest.raises(TypeError, match="activation"):
        A.get(42)


@pytest.mark.parametrize("name", ["linear", "Linear", " linear ", "LINEAR"])
def test_get_reads_linear_like_every_other_name(name):
    """"ReLU" always worked; "Linear" and " linear " raised "Unknown activation ... linear"
    because the identity was looked up before the name was normalised."""
    assert A.get(name) is A.linear
    assert A.get(name.lower().replace("linear", "ReLU")) is A.relu  # spaces kept, as in `name`
    x = tf.constant([-2.0, 0.0, 3.5])
    np.testing.assert_array_equal(A.get(name)(x).numpy(), keras.activations.get("linear")(x).numpy())


def test_public_names_are_listed_and_do_not_leak_modules():
    """`from source_lib.activations import *` gives the library, not math, np, ops or keras."""
    import types

    namespace = {}
    exec("from source_lib.activations import *", namespace)
    exported = set(namespace) - {"__builtins__"}
    assert exported == set(A.__all__)
    assert not any(isinstance(getattr(A, n), types.ModuleType) for n in A.__all__)
    assert {"math", "np", "ops", "keras"}.isdisjoint(exported)
    public = {n for n, v in vars(A).items() if not n.startswith("_") and getattr(v, "__module__", None) == A.__name__}
    assert public <= exported, public - exported  # everything defined here is listed


# --- layers --------------------------------------------------------------------


def test_swish_layer_learns_beta():
    rng = np.random.default_rng(0)
    x = rng.uniform(-4, 4, size=(2048, 1)).astype("float32")
    y = x * _np_sigmoid(3.0 * x)  # generated with beta = 3
    layer = A.Swish()
    model = keras.Sequential([keras.Input((1,)), layer])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    assert float(layer.beta.numpy()) == 1.0
    model.fit(x, y, epochs=60, batch_size=256, verbose=0)
    assert float(layer.beta.numpy()) == pytest.approx(3.0, abs=0.1)


def test_maxout_parameter_count_and_representation():
    n, units = 13, 7
    dense = keras.layers.Dense(units)
    dense.build((None, n))
    for pieces in (2, 3):
        layer = A.Maxout(units, pieces=pieces)
        layer.build((None, n))
        assert layer.count_params() == pieces * dense.count_params()
    # With two pieces (z, 0) it is ReLU; with (z, 0.2 z) it is leaky ReLU.
    rng = np.random.default_rng(1)
    w, b = rng.normal(size=(n, units)), rng.normal(size=units)
    x = rng.normal(size=(50, n))
    z = x @ w + b
    layer = A.Maxout(units, pieces=2, dtype="float64")
    layer.build((None, n))
    for slope, ref in ((0.0, np.maximum(z, 0)), (0.2, np.maximum(z, 0.2 * z))):
        kernel = np.stack([w, slope * w], axis=-1).reshape(n, units * 2)
        bias = np.stack([b, slope * b], axis=-1).reshape(units * 2)
        layer.set_weights([kernel, bias])
        np.testing.assert_allclose(layer(x), ref, rtol=1e-12, atol=1e-12)


def _np_maxout(layer, x):
    """max over pieces of the affine maps, from the layer's own weights, NumPy float64."""
    kernel, bias = (np.asarray(w, dtype=np.float64) for w in layer.get_weights())
    n_in = kernel.shape[0]
    w = kernel.reshape(n_in, layer.units, layer.pieces)  # column i * pieces + k is w_ik
    b = bias.reshape(layer.units, layer.pieces)
    return (np.einsum("...n,nik->...ik", x.astype(np.float64), w) + b).max(axis=-1)


@pytest.mark.parametrize("shape", [(6, 5), (2, 3, 5), (2, 3, 4, 5)], ids=["2d", "3d", "4d"])
def test_maxout_acts_on_the_last_axis_of_any_rank(shape):
    """Like Dense: (..., n_in) -> (..., units), every leading axis kept."""
    rng = np.random.default_rng(11)
    x = rng.normal(size=shape)
    layer = A.Maxout(4, pieces=3, bias_initializer="random_normal", dtype="float64")
    y = layer(x)
    assert tuple(y.shape) == shape[:-1] + (4,) == layer.compute_output_shape(shape)
    np.testing.assert_allclose(np.asarray(y), _np_maxout(layer, x), rtol=1e-12, atol=1e-12)
    # symbolic leading axes (unknown batch and steps): in a functional model and a tf.function
    inputs = keras.Input((None,) * (len(shape) - 2) + (5,), dtype="float64")
    assert tuple(keras.Model(inputs, layer(inputs)).output.shape) == (None,) * (len(shape) - 1) + (4,)
    traced = tf.function(layer, input_signature=[tf.TensorSpec((None,) * (len(shape) - 1) + (5,), tf.float64)])
    np.testing.assert_allclose(traced(x).numpy(), _np_maxout(layer, x), rtol=1e-12, atol=1e-12)


def test_rbf_matches_formula_and_is_stable_far_away():
    rng = np.random.default_rng(2)
    layer = A.RBF(4, sigma_init=1.5, dtype="float64")
    layer.build((None, 3))
    centers = rng.normal(size=(4, 3))
    sigmas = np.array([0.5, 1.0, 2.0, 3.0])
    layer.set_weights([centers, np.log(sigmas)])
    x = rng.normal(size=(10, 3))
    ref = np.exp(-((x[:, None, :] - centers[None]) ** 2).sum(-1) / sigmas**2)
    np.testing.assert_allclose(layer(x), ref, rtol=1e-12)
    for dtype in ("float16", "float32", "float64"):
        far = A.RBF(4, dtype=dtype)
        xf = tf.constant(np.full((2, 3), 1e4), dtype=dtype) * tf.constant([[1.0], [-1.0]], dtype=dtype)
        with tf.GradientTape() as tape:
            tape.watch(xf)
            y = far(xf)
        grads = tape.gradient(y, [xf, *far.trainable_weights])
        assert y.dtype == dtype and np.all(np.asarray(y, dtype=np.float64) <= np.exp(-80.0) * (1 + 1e-6))
        assert all(np.all(np.isfinite(np.asarray(g))) for g in grads)


def test_low_rank_dense_parameter_count_and_formula():
    n, p, q = 20, 12, 3
    layer = A.LowRankDense(p, rank=q, dtype="float64")
    layer.build((None, n))
    assert layer.count_params() == (n + p) * q + p
    dense = keras.layers.Dense(p)
    dense.build((None, n))
    assert dense.count_params() == n * p + p
    u, v, b = (w.numpy() for w in layer.weights)
    x = np.random.default_rng(3).normal(size=(5, n))
    np.testing.assert_allclose(layer(x), x @ u @ v + b, rtol=1e-12)


def test_low_rank_dense_resolves_names_with_this_modules_get():
    """A name means source_lib's function (the docstring's `get`): "leaky_relu"
    is alpha = 0.2 with derivative 1 at z = 0 (the lecture's table; Keras's
    gives alpha there), spellings only `get` knows work, and Keras names
    source_lib lacks fall back to Keras. A config round trip keeps the function."""
    layer = A.LowRankDense(3, rank=2, activation="leaky_relu", dtype="float64")
    assert layer.activation is A.leaky_relu
    layer.build((None, 4))
    u, v, _ = layer.get_weights()
    b = np.array([0.0, -1.5, 2.0])
    layer.set_weights([u, v, b])
    x = np.vstack([np.zeros(4), np.random.default_rng(6).normal(size=(5, 4))])
    z = x @ u @ v + b
    bias = layer.bias
    out = layer(tf.constant(x))
    np.testing.assert_allclose(out.numpy(), np.where(z >= 0, z, 0.2 * z), rtol=1e-12, atol=1e-15)
    # row 0 has z = b exactly: d out / d b = 1, 0.2, 1 (Keras's leaky_relu gives 0.2 at z = 0)
    with tf.GradientTape() as tape:
        first = layer(tf.constant(x[:1]))
    np.testing.assert_array_equal(tape.gradient(first, bias).numpy(), [1.0, 0.2, 1.0])
    assert A.LowRankDense(3, rank=2, activation="Leaky-ReLU").activation is A.leaky_relu
    assert A.LowRankDense(3, rank=2, activation="SiLU").activation is A.swish
    assert A.LowRankDense(3, rank=2, activation="relu").activation is A.relu
    assert A.LowRankDense(3, rank=2, activation="softmax").activation is keras.activations.softmax
    for default in (None, "linear"):
        assert A.LowRankDense(3, rank=2, activation=default).activation is keras.activations.linear
    with pytest.raises(ValueError):
        A.LowRankDense(3, rank=2, activation="no_such_activation")
    for act in ("leaky_relu", "Leaky-ReLU", A.mish, keras.activations.relu, keras.activations.leaky_relu, "softmax", None):
        made = A.LowRankDense(3, rank=2, activation=act)
        assert A.LowRankDense.from_config(made.get_config()).activation is made.activation, act


def test_prelu_is_the_lectures_formula():
    layer = A.PReLU(dtype="float64")
    layer.build((None, 6))
    alpha = np.array([0.0, 0.1, 0.2, 0.5, 1.0, -0.3])
    layer.set_weights([alpha])
    z = np.random.default_rng(4).normal(size=(32, 6)) * 5
    np.testing.assert_allclose(layer(z), np.maximum(0, z) + alpha * np.minimum(0, z), rtol=1e-15)
    assert A.PReLU is keras.layers.PReLU


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_layers_in_every_dtype(dtype):
    x = tf.constant(np.array([[-1e4, 0.0, 2.0], [1e4, -3.0, 0.5]]), dtype=dtype)
    for layer in (A.Swish(dtype=dtype), A.Maxout(4, dtype=dtype), A.RBF(4, dtype=dtype),
                  A.LowRankDense(4, rank=2, dtype=dtype), A.PReLU(dtype=dtype)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
        grads = tape.gradient(y, [x, *layer.trainable_weights])
        assert y.dtype == dtype, type(layer).__name__
        assert np.all(np.isfinite(np.asarray(y))), type(layer).__name__
        assert all(np.all(np.isfinite(np.asarray(g))) for g in grads), type(layer).__name__


def test_layer_arguments_are_checked():
    with pytest.raises(ValueError, match="units"):
        A.Maxout(0)
    with pytest.raises(TypeError, match="pieces"):
        A.Maxout(3, pieces=2.5)
    with pytest.raises(ValueError, match="sigma_init"):
        A.RBF(3, sigma_init=0.0)
    with pytest.raises(TypeError, match="rank"):
        A.LowRankDense(3, rank="2")


# --- serialization in a fresh process -------------------------------------------


def test_every_activation_and_layer_survives_save_load(fresh_process_predict):
    rng = np.random.default_rng(5)
    x = (rng.normal(size=(16, 6)) * 3).astype("float32")
    models = {}
    for name, fn in A.ACTIVATIONS.items():
        models[f"fn_{name}"] = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation=fn)])
    layers = {
        "Swish": A.Swish(beta_init=1.7),
        "Maxout": A.Maxout(5, pieces=3),
        "RBF": A.RBF(5, sigma_init=2.0),
        "LowRankDense": A.LowRankDense(5, rank=2, activation=A.mish),
        "LowRankDense_by_name": A.LowRankDense(5, rank=2, activation="Leaky-ReLU"),
        "LowRankDense_keras": A.LowRankDense(5, rank=2, activation="softmax"),
        "PReLU": A.PReLU(),
    }
    for name, layer in layers.items():
        models[f"layer_{name}"] = keras.Sequential([keras.Input((6,)), keras.layers.Dense(6), layer])
    expected = {k: m.predict(x, verbose=0) for k, m in models.items()}
    loaded = fresh_process_predict(models, x)
    for k in models:
        np.testing.assert_array_equal(loaded[k], expected[k], err_msg=k)
