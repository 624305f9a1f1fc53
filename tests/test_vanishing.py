"""source_lib.vanishing against NNDL ch. 5's published speeds, a NumPy float64
backprop, TensorFlow autodiff and the noise schedule of Neelakantan et al."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

from source_lib import losses, vanishing as v
from source_lib.vanishing import experiments, speeds
from source_lib.data import load_mnist, one_hot

# Nielsen, NNDL ch. 5 (docs/reference-figures.md): initial speeds of learning on MNIST.
PUBLISHED = {
    2: [0.07, 0.31],
    3: [0.012, 0.060, 0.283],
    4: [0.003, 0.017, 0.070, 0.285],
}
SEEDS = range(5)


@pytest.fixture(scope="module")
def mnist1000():
    """The first 1000 training images of the offline split (Nielsen used 1000)."""
    (x, y), _ = load_mnist(n_train=1000, n_test=0, source="offline")
    return x, y


def _mean_speeds(x, y, n_hidden, seeds=SEEDS, **kw):
    return np.mean(
        [v.layer_speeds(v.build_mlp([784] + [30] * n_hidden + [10], seed=s, **kw), x, y) for s in seeds], axis=0
    )


# --------------------------------------------------------------------------- #
# layer_speeds
# --------------------------------------------------------------------------- #


def _numpy_bias_grads(model, x, y_onehot):
    """Nielsen's backprop in float64 NumPy: sigmoid layers, summed cross-entropy."""
    dense = [model.get_layer(f"hidden_{l}") for l in range(1, 100) if f"hidden_{l}" in [m.name for m in model.layers]]
    dense.append(model.get_layer("output"))
    Ws = [d.kernel.numpy().astype(np.float64) for d in dense]
    bs = [d.bias.numpy().astype(np.float64) for d in dense]
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    a, acts = x.astype(np.float64), []
    for W, b in zip(Ws, bs):
        a = sig(a @ W + b)
        acts.append(a)
    delta = acts[-1] - y_onehot  # dC/dz_out for summed cross-entropy with sigmoid outputs
    grads = []
    for l in range(len(Ws) - 1, 0, -1):
        delta = (delta @ Ws[l].T) * acts[l - 1] * (1 - acts[l - 1])
        grads.append(delta.mean(axis=0))
    return [np.linalg.norm(g) for g in grads[::-1]]


def test_layer_speeds_match_numpy_float64_backprop(mnist1000):
    x, y = mnist1000
    model = v.build_mlp([784, 30, 30, 30, 10], seed=7)
    expected = _numpy_bias_grads(model, x[:300], one_hot(y[:300]))
    np.testing.assert_allclose(v.layer_speeds(model, x[:300], y[:300]), expected, rtol=1e-4)
    # integer labels and one-hot targets give the same answer
    np.testing.assert_allclose(v.layer_speeds(model, x[:300], one_hot(y[:300])), expected, rtol=1e-4)


def test_reproduces_nielsens_published_rows_within_factor_two(mnist1000):
    x, y = mnist1000
    for n_hidden, published in PUBLISHED.items():
        measured = _mean_speeds(x, y, n_hidden)
        ratio = measured / np.array(published)
        assert np.all((ratio > 0.5) & (ratio < 2.0)), (n_hidden, measured, published)


def test_speeds_grow_towards_output_about_100x_at_four_hidden_layers(mnist1000):
    x, y = mnist1000
    s = _mean_speeds(x, y, 4)
    assert np.all(np.diff(s) > 0), s
    assert 30 < s[-1] / s[0] < 300, s  # published: 0.285 / 0.003 = 95


def _ratio(x, y, n_hidden, **kw):
    s = _mean_speeds(x, y, n_hidden, seeds=range(3), **kw)
    return s[-1] / s[0]


@pytest.mark.parametrize("kw", [{"activation": "relu"}, {"activation": "tanh"}, {"residual": True}],
                         ids=["relu", "tanh", "residual"])
def test_relu_tanh_and_residual_shrink_the_last_to_first_ratio(mnist1000, kw):
    x, y = mnist1000
    x, y = x[:500], y[:500]
    # same init (Nielsen's), only the activation / the skips change
    assert _ratio(x, y, 4) / _ratio(x, y, 4, **kw) > 10  # over an order of magnitude at 4 layers
    assert _ratio(x, y, 10) / _ratio(x, y, 10, **kw) > 1e3  # three orders at 10 layers


def test_speed_function_is_cached_per_model(mnist1000):
    x, y = mnist1000
    model = v.build_mlp([784, 30, 30, 10], seed=0)
    v.layer_speeds(model, x[:100], y[:100])
    fns = dict(speeds._SPEED_FNS[model])
    v.layer_speeds(model, x[:200], y[:200])
    assert dict(speeds._SPEED_FNS[model]) == fns and len(fns) == 1
    # the cache does not keep a model alive (depth sweeps build hundreds)
    import gc
    import weakref

    ref = weakref.ref(model)
    del model, fns
    gc.collect()
    assert ref() is None


def test_layer_speeds_rejects_bad_input(mnist1000):
    x, y = mnist1000
    model = v.build_mlp([784, 30, 30, 10], seed=0)
    with pytest.raises(ValueError, match="loss"):
        v.layer_speeds(model, x[:10], y[:10], loss="nope")
    with pytest.raises(ValueError, match="different numbers"):
        v.layer_speeds(model, x[:10], y[:9])
    with pytest.raises(ValueError, match="`x`"):
        v.layer_speeds(model, x[0], y[:1])
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="hidden_"):
        v.hidden_layers(plain)
    # labels outside 0..9 (10 outputs): one_hot's error, naming `y`, not an IndexError or a silent wrap-around
    for bad in ([3, 10], [3, -1]):
        with pytest.raises(ValueError, match=r"`y` must lie in 0\.\.9"):
            v.layer_speeds(model, x[:2], np.array(bad))
    with pytest.raises(TypeError, match="`y`"):
        v.layer_speeds(model, x[:2], np.array([0.5, 1.0]))


def test_nielsen_cross_entropy_from_logits_and_clipped_against_numpy():
    import tensorflow as tf

    z = np.array([[-30.0, -2.0, 0.0, 0.5, 30.0], [4.0, -0.25, 12.0, -12.0, 0.0]])
    y = np.array([[1.0, 0.0, 1.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0, 1.0]])
    # exact float64 cost from the logits: -[y ln s(z) + (1-y) ln(1-s(z))] = (1-y) z + ln(1 + e^-z)
    exact = np.sum((1 - y) * z + np.logaddexp(0.0, -z), axis=-1)
    # a Keras sigmoid output carries its logits: no clipping, so z = +-30 (a = 0 or 1 in float32) still costs ~30
    zt = tf.constant(z, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(zt)
        cost = v.nielsen_cross_entropy(y, keras.activations.sigmoid(zt))
    np.testing.assert_allclose(cost.numpy(), exact, rtol=1e-6)
    # dC/dz = a - y (Nielsen's delta), also at z = 0
    np.testing.assert_allclose(tape.gradient(cost, zt).numpy(), 1 / (1 + np.exp(-z)) - y, atol=1e-6)
    # plain probabilities are clipped to [1e-7, 1 - 1e-7] (float64 here: in float32, 1 - 1e-7 rounds)
    a = 1 / (1 + np.exp(-z))
    ac = np.clip(a, 1e-7, 1 - 1e-7)
    clipped = -np.sum(y * np.log(ac) + (1 - y) * np.log(1 - ac), axis=-1)
    from_probs = np.asarray(v.nielsen_cross_entropy(y, a))
    np.testing.assert_allclose(from_probs, clipped, rtol=1e-10)
    assert from_probs[0] < exact[0] - 10  # the clip binds at z = +-30
    # half_squared_error: 1/2 ||y - a||^2 per example
    np.testing.assert_allclose(np.asarray(v.half_squared_error(y, a)), 0.5 * np.sum((y - a) ** 2, axis=-1), rtol=1e-6)


def _documented_cost(y, a):
    """nielsen_cross_entropy's formula, -sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)], NumPy float64."""
    return -np.sum(y * np.log(a) + (1 - y) * np.log(1 - a), axis=-1)


def test_nielsen_cross_entropy_reads_a_softmax_output_as_probabilities():
    """Keras's softmax caches its logits under the same attribute as the
    sigmoid; they must not be taken for sigmoid logits: on a softmax output
    the cost is the documented formula applied to a = softmax(z), eagerly, in
    a tf.function, and as layer_speeds's cost on a softmax model."""
    import tensorflow as tf

    z = np.array([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    y = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    expected = _documented_cost(y, e / e.sum(axis=-1, keepdims=True))
    zt = tf.constant(z)
    eager = v.nielsen_cross_entropy(y, keras.activations.softmax(zt)).numpy()
    graph = tf.function(lambda t: v.nielsen_cross_entropy(y, keras.activations.softmax(t)))(zt).numpy()
    np.testing.assert_allclose(eager, expected, rtol=1e-12)
    np.testing.assert_allclose(graph, expected, rtol=1e-12)
    # and the sigmoid output still uses its logits (the formula on sigma(z), same numbers here)
    sig = v.nielsen_cross_entropy(y, keras.activations.sigmoid(zt)).numpy()
    np.testing.assert_allclose(sig, _documented_cost(y, 1 / (1 + np.exp(-z))), rtol=1e-12)

    model = v.build_mlp([4, 3, 3, 3], output_activation="softmax", seed=0)
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    labels = np.arange(8) % 3
    _, cost = v.layer_speeds(model, x, labels, return_cost=True)
    a = model.predict(x, verbose=0).astype(np.float64)
    assert cost == pytest.approx(float(np.mean(_documented_cost(np.eye(3)[labels], a))), rel=1e-5)


# --------------------------------------------------------------------------- #
# build_mlp
# --------------------------------------------------------------------------- #


def test_inits_have_the_documented_statistics():
    sizes = [784, 400, 400, 10]
    m = v.build_mlp(sizes, init="nielsen", seed=0)
    k1, b1 = m.get_layer("hidden_1").kernel.numpy(), m.get_layer("hidden_1").bias.numpy()
    assert k1.std() == pytest.approx(1 / np.sqrt(784), rel=0.02)
    assert b1.std() == pytest.approx(1.0, rel=0.15)
    assert m.get_layer("hidden_2").kernel.numpy().std() == pytest.approx(1 / np.sqrt(400), rel=0.02)
    for init in [("normal", 0.1), "normal"]:
        m = v.build_mlp(sizes, init=init, init_std=0.1, seed=0)
        assert m.get_layer("hidden_2").kernel.numpy().std() == pytest.approx(0.1, rel=0.02)
        assert np.all(m.get_layer("hidden_2").bias.numpy() == 0)
    m = v.build_mlp(sizes, init="he_normal", seed=0)  # truncated normal, std sqrt(2/n_in)
    assert m.get_layer("hidden_2").kernel.numpy().std() == pytest.approx(np.sqrt(2 / 400), rel=0.05)
    m = v.build_mlp(sizes, init="glorot_uniform", seed=0)
    lim = np.sqrt(6 / 800)
    k = m.get_layer("hidden_2").kernel.numpy()
    assert k.max() <= lim and k.min() >= -lim and k.std() == pytest.approx(lim / np.sqrt(3), rel=0.02)
    # seeds make weights reproducible
    a = v.build_mlp([20, 5, 5, 3], seed=3).get_weights()
    b = v.build_mlp([20, 5, 5, 3], seed=3).get_weights()
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)


def test_aux_heads_have_their_own_seeds_and_leave_the_other_layers_alone():
    sizes = [784, 30, 30, 30, 10]
    for seed in (0, 2):
        plain = v.build_mlp(sizes, seed=seed)
        aux = v.build_mlp(sizes, aux_outputs=True, seed=seed)
        # hidden and output layers: the same weights as without heads, from the documented seeds
        for name in ("hidden_1", "hidden_2", "hidden_3", "output"):
            for wa, wp in zip(aux.get_layer(name).get_weights(), plain.get_layer(name).get_weights()):
                np.testing.assert_array_equal(wa, wp, err_msg=name)
        ref = keras.initializers.RandomNormal(0.0, 1 / np.sqrt(784), seed=seed * 1000 + 2)((784, 30))
        np.testing.assert_array_equal(plain.get_layer("hidden_1").kernel.numpy(), np.asarray(ref))
        # no head repeats the first values of any layer of the models built with nearby seeds
        # (a shared seed gives the same standard normals, up to the init's scale, at the same positions)
        others = [v.build_mlp(sizes, seed=s) for s in range(max(seed - 1, 0), seed + 3)]
        layer_values = [w.ravel()[:10] for m in others for w in m.get_weights()]
        for head in ("aux_1", "aux_2"):
            for w in aux.get_layer(head).get_weights():
                first = w.ravel()[:10]
                for other in layer_values:
                    same = np.isclose(first / first.std(), other / other.std(), rtol=1e-4)
                    assert same.sum() < 5, (seed, head)
        # the two heads and kernel/bias differ from each other, and seeds are reproducible
        h1, h2 = aux.get_layer("aux_1").bias.numpy(), aux.get_layer("aux_2").bias.numpy()
        assert not np.allclose(h1, h2)
        again = v.build_mlp(sizes, aux_outputs=True, seed=seed)
        np.testing.assert_array_equal(again.get_layer("aux_1").bias.numpy(), h1)


def test_forward_pass_matches_numpy_with_residual_skips():
    model = v.build_mlp([6, 4, 4, 4, 3], activation="tanh", residual=True, seed=1)
    names = [layer.name for layer in model.layers]
    assert "residual_1" not in names and {"residual_2", "residual_3"} <= set(names)
    x = np.random.default_rng(0).normal(size=(5, 6))
    W = [model.get_layer(n).kernel.numpy().astype(np.float64) for n in ("hidden_1", "hidden_2", "hidden_3", "output")]
    b = [model.get_layer(n).bias.numpy().astype(np.float64) for n in ("hidden_1", "hidden_2", "hidden_3", "output")]
    h = np.tanh(x @ W[0] + b[0])
    h = h + np.tanh(h @ W[1] + b[1])  # h_{l+1} = h_l + g(W h_l + b)
    h = h + np.tanh(h @ W[2] + b[2])
    out = 1 / (1 + np.exp(-(h @ W[3] + b[3])))
    np.testing.assert_allclose(model.predict(x.astype(np.float32), verbose=0), out, rtol=1e-5, atol=1e-6)


def test_aux_heads_speed_up_the_first_layer_and_weights_control_them(mnist1000):
    x, y = mnist1000
    plain = v.build_mlp([784, 30, 30, 30, 30, 10], seed=2)
    aux = v.build_mlp([784, 30, 30, 30, 30, 10], aux_outputs=True, seed=2)
    assert set(aux.output_names) == {"output", "aux_1", "aux_2", "aux_3"}
    assert v.aux_loss_weights(aux) == {"output": 1.0, "aux_1": 0.3, "aux_2": 0.3, "aux_3": 0.3}
    s_plain = v.layer_speeds(plain, x, y)
    # with zero weight on the heads the gradient is the plain network's (same seeds)
    zero = {"output": 1.0, "aux_1": 0.0, "aux_2": 0.0, "aux_3": 0.0}
    np.testing.assert_allclose(v.layer_speeds(aux, x, y, loss_weights=zero), s_plain, rtol=1e-5)
    s_aux = v.layer_speeds(aux, x, y)
    assert s_aux[0] > 10 * s_plain[0]
    # it trains with Keras's own multi-output compile
    aux.compile(optimizer="sgd", loss={n: v.nielsen_cross_entropy for n in aux.output_names}, loss_weights=v.aux_loss_weights(aux))
    yh = one_hot(y[:64])
    hist = aux.fit(x[:64], {n: yh for n in aux.output_names}, epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])


@pytest.mark.parametrize(
    "kwargs, err",
    [
        ({"sizes": [784, 10]}, ValueError),
        ({"sizes": [784, 0, 10]}, ValueError),
        ({"init": "uniform"}, ValueError),
        ({"init": "normal"}, ValueError),  # needs init_std
        ({"init": ("normal", -1.0)}, ValueError),
        ({"activation": "nope"}, ValueError),
        ({"sizes": [784, 30, 20, 10], "residual": True}, ValueError),
        ({"aux_outputs": [5]}, ValueError),
        ({"seed": 1.5}, TypeError),
    ],
)
def test_build_mlp_rejects_bad_arguments(kwargs, err):
    args = {"sizes": [784, 30, 30, 10], **kwargs}
    with pytest.raises(err):
        v.build_mlp(**args)


@pytest.mark.parametrize(
    "sizes, aux, err",
    [
        ([784, 30, 30, 10], [1.7], TypeError),  # not silently truncated to 1
        ([784, 30, 30, 10], ["x"], TypeError),
        ([784, 30, 30, 10], "x", TypeError),
        ([784, 30, 30, 10], 1, TypeError),
        ([784, 30, 30, 10], [True], TypeError),
        ([784, 30, 30, 10], [0], ValueError),
        ([784, 30, 30, 10], [3], ValueError),
        ([784, 30, 10], True, ValueError),  # one hidden layer: True would add no head at all
    ],
)
def test_build_mlp_aux_outputs_errors_name_the_argument(sizes, aux, err):
    with pytest.raises(err, match="aux_outputs"):
        v.build_mlp(sizes, aux_outputs=aux)


# --------------------------------------------------------------------------- #
# GradientNormHistory
# --------------------------------------------------------------------------- #


def test_history_callback_records_speeds_during_full_batch_training(mnist1000):
    x, y = mnist1000
    model = v.build_mlp([784, 30, 30, 30, 30, 10], seed=0)
    before = v.layer_speeds(model, x, y)
    hist = v.train_with_speeds(model, x, y, epochs=20)  # Nielsen: full batch, eta 0.1, lmbda 5
    assert hist.epochs == list(range(21)) and hist.speeds.shape == (21, 4)
    np.testing.assert_allclose(hist.speeds[0], before, rtol=1e-5)
    np.testing.assert_allclose(hist.speeds[-1], v.layer_speeds(model, x, y), rtol=1e-5)
    assert np.all(np.isfinite(hist.speeds))
    assert np.all(np.diff(hist.costs[:10]) < 0)  # full-batch GD with a small step lowers the cost
    assert np.all(hist.speeds[:, 0] < hist.speeds[:, -1] / 10)  # the first layer stays far slower
    # Keras's fit on NumPy arrays with batch_size=1000, recording every 5th epoch, gives the same
    plain = v.train_with_speeds(v.build_mlp([784, 30, 30, 30, 30, 10], seed=0), x, y, epochs=10, lmbda=0)
    model2 = v.build_mlp([784, 30, 30, 30, 30, 10], seed=0)
    model2.compile(optimizer=keras.optimizers.SGD(0.1), loss=v.nielsen_cross_entropy)
    cb = v.GradientNormHistory(x, y, every=5)
    model2.fit(x, one_hot(y), batch_size=1000, epochs=12, verbose=0, shuffle=False, callbacks=[cb])
    assert cb.epochs == [0, 5, 10, 12]
    np.testing.assert_allclose(cb.speeds[:3], plain.speeds[[0, 5, 10]], rtol=1e-3)


def test_train_with_speeds_does_nielsens_regularised_update(mnist1000):
    """One step must be w <- (1 - eta lmbda/n) w - eta dC/dw, b <- b - eta dC/db (network2.py)."""
    x, y = mnist1000
    x, y, eta, lmbda, n = x[:500], y[:500], 0.1, 5.0, 500
    model = v.build_mlp([784, 30, 30, 10], seed=5)
    names = ["hidden_1", "hidden_2", "output"]
    W = [model.get_layer(k).kernel.numpy().astype(np.float64) for k in names]
    b = [model.get_layer(k).bias.numpy().astype(np.float64) for k in names]
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    acts = [x.astype(np.float64)]
    for Wl, bl in zip(W, b):
        acts.append(sig(acts[-1] @ Wl + bl))
    delta = acts[-1] - one_hot(y)
    new_W, new_b = [None] * 3, [None] * 3
    for l in (2, 1, 0):
        new_W[l] = (1 - eta * lmbda / n) * W[l] - eta * acts[l].T @ delta / n
        new_b[l] = b[l] - eta * delta.mean(axis=0)
        delta = (delta @ W[l].T) * acts[l] * (1 - acts[l])
    v.train_with_speeds(model, x, y, epochs=1, learning_rate=eta, lmbda=lmbda)
    for l, k in enumerate(names):
        np.testing.assert_allclose(model.get_layer(k).kernel.numpy(), new_W[l], rtol=1e-4, atol=1e-6, err_msg=k)
        np.testing.assert_allclose(model.get_layer(k).bias.numpy(), new_b[l], rtol=1e-4, atol=1e-6, err_msg=k)


# --------------------------------------------------------------------------- #
# Annealed gradient noise
# --------------------------------------------------------------------------- #


def test_noise_std_follows_the_annealing_schedule():
    # eta != 1, so that a std used as a variance (or the reverse) shows: sqrt(0.3) = 0.548 vs 0.3
    eta, gamma, n = 0.3, 0.55, 200_000
    var = keras.Variable(np.zeros(n, np.float32))
    opt = v.AnnealedGradientNoise(keras.optimizers.SGD(learning_rate=1.0), eta=eta, gamma=gamma, seed=0)
    zero = [keras.ops.zeros((n,))]
    measured = {}
    for t in range(100):
        before = var.numpy().copy()
        opt.apply(zero, [var])
        if t in (0, 9, 99):
            step = before - var.numpy()  # = noise, since the true gradient is 0 and lr = 1
            measured[t] = (step.mean(), step.std())
    assert int(opt.iterations.numpy()) == 100
    for t, (mean, std) in measured.items():
        sigma = np.sqrt(eta / (1 + t) ** gamma)  # Neelakantan et al.: sigma_t^2 = eta / (1 + t)^gamma
        assert std == pytest.approx(sigma, rel=0.02), t
        assert abs(mean) < 5 * sigma / np.sqrt(n)
        assert opt.noise_std(t) == pytest.approx(sigma)
    assert opt.noise_std(0) == pytest.approx(0.5477225575051661)  # sqrt(0.3), by hand
    assert measured[0][1] == pytest.approx(0.5477, rel=0.02)


def test_noise_wrapper_trains_with_fit_like_its_inner_optimizer():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype(np.float32)
    y = (x @ rng.normal(size=(8, 1))).astype(np.float32)

    def fitted(opt):
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
        m.compile(optimizer=opt, loss="mse")
        h = m.fit(x, y, batch_size=32, epochs=3, verbose=0, shuffle=False)
        return m, h

    plain, _ = fitted(keras.optimizers.Adam(0.01))
    quiet, _ = fitted(v.AnnealedGradientNoise(keras.optimizers.Adam(0.01), eta=1e-30, seed=0))
    loud, h = fitted(v.AnnealedGradientNoise(keras.optimizers.Adam(0.01), eta=10.0, seed=0))
    np.testing.assert_allclose(quiet.get_weights()[0], plain.get_weights()[0], rtol=1e-5, atol=1e-6)
    assert not np.allclose(loud.get_weights()[0], plain.get_weights()[0], atol=1e-3)
    assert int(loud.optimizer.iterations.numpy()) == 3 * 8
    assert loud.optimizer.learning_rate.numpy() == pytest.approx(0.01)


def test_noise_wrapper_config_round_trip_and_bad_arguments():
    opt = v.AnnealedGradientNoise("sgd", eta=0.3, gamma=0.55, seed=4)
    clone = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert isinstance(clone, v.AnnealedGradientNoise) and isinstance(clone.inner_optimizer, keras.optimizers.SGD)
    assert (clone.eta, clone.gamma, clone.seed) == (0.3, 0.55, 4)
    with pytest.raises(ValueError, match="eta"):
        v.AnnealedGradientNoise("sgd", eta=0.0)
    with pytest.raises(ValueError, match="gamma"):
        v.AnnealedGradientNoise("sgd", gamma=-1.0)
    with pytest.raises(TypeError, match="eta"):
        v.AnnealedGradientNoise("sgd", eta="big")
    with pytest.raises(ValueError, match="inner_optimizer"):
        v.AnnealedGradientNoise("sgd", clipnorm=1.0)


def test_models_and_noisy_optimizer_load_in_a_fresh_process(fresh_process_predict, mnist1000, tmp_path):
    x, y = mnist1000
    aux = v.build_mlp([784, 30, 30, 10], activation="mish", aux_outputs=True, seed=2)
    heads = sorted(aux.output_names)  # the fixture saves one array per model: concatenate the heads
    models = {
        "sigmoid": v.build_mlp([784, 30, 30, 10], seed=0),
        "swish_residual": v.build_mlp([784, 30, 30, 30, 10], activation="swish", residual=True, seed=1),
        "mish_aux": keras.Model(aux.inputs, keras.layers.Concatenate()([aux.get_layer(n).output for n in heads])),
    }
    noisy = v.build_mlp([784, 20, 20, 10], activation="relu", init=("normal", 0.1), seed=3,
                        output_activation="softmax")
    noisy.compile(optimizer=v.AnnealedGradientNoise(keras.optimizers.SGD(0.05, momentum=0.9), eta=0.01, seed=0),
                  loss="sparse_categorical_crossentropy")
    noisy.fit(x[:200], y[:200], batch_size=50, epochs=1, verbose=0)
    models["noisy_sgd"] = noisy

    # in this process: the compiled optimizer and its state come back
    noisy.save(tmp_path / "noisy.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "skipping variable loading" / "compile() was not called"
        loaded = keras.models.load_model(tmp_path / "noisy.keras")
    assert isinstance(loaded.optimizer, v.AnnealedGradientNoise)
    assert (loaded.optimizer.eta, loaded.optimizer.gamma) == (0.01, 0.55)
    assert int(loaded.optimizer.iterations.numpy()) == 4
    for a, b in zip(loaded.optimizer.variables, noisy.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    preds = fresh_process_predict(models, x[:16])
    for name, model in models.items():
        np.testing.assert_allclose(preds[name], model.predict(x[:16], verbose=0), rtol=1e-5, atol=1e-6,
                                   err_msg=name)
    aux_pred = aux.predict(x[:16], verbose=0)
    np.testing.assert_allclose(preds["mish_aux"], np.concatenate([aux_pred[n] for n in heads], axis=1), rtol=1e-6)


def test_nielsens_costs_are_the_losses_own_functions():
    """No second implementation: the speed measurements use source_lib.losses."""
    assert v.nielsen_cross_entropy is losses.binary_cross_entropy
    assert v.half_squared_error is losses.half_mse


def test_models_saved_with_the_old_loss_names_still_load(tmp_path):
    """Models compiled with vanishing's own nielsen_cross_entropy / half_squared_error were saved
    under those registered names ("source_lib>nielsen_cross_entropy" in config.json). Such a
    file, written here by renaming the loss in a fresh save, loads in a fresh process and
    evaluates to Nielsen's cost (NumPy float64)."""
    import json
    import subprocess
    import sys
    import zipfile

    from conftest import ROOT

    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 6)).astype("float32")
    y = np.eye(3, dtype="float32")[np.arange(16) % 3]
    expected = {}
    for old_name, loss in (("nielsen_cross_entropy", v.nielsen_cross_entropy), ("half_squared_error", v.half_squared_error)):
        model = v.build_mlp([6, 4, 3], seed=0)
        model.compile(optimizer="sgd", loss=loss)
        model.save(tmp_path / "new.keras")
        with zipfile.ZipFile(tmp_path / "new.keras") as src, zipfile.ZipFile(tmp_path / f"{old_name}.keras", "w") as dst:
            for item in src.infolist():
                data = src.read(item.filename)
                if item.filename == "config.json":
                    config = json.loads(data)
                    assert config["compile_config"]["loss"]["config"] == f"source_lib>{loss.__name__}"
                    config["compile_config"]["loss"]["config"] = f"source_lib>{old_name}"
                    data = json.dumps(config).encode()
                dst.writestr(item, data)
        a = model.predict(x, verbose=0).astype(np.float64)
        if old_name == "nielsen_cross_entropy":
            expected[old_name] = np.mean(-np.sum(y * np.log(a) + (1 - y) * np.log1p(-a), axis=-1))
        else:
            expected[old_name] = np.mean(0.5 * np.sum((y - a) ** 2, axis=-1))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    script = (
        "import json, sys, numpy as np, source_lib, keras\n"
        f"d = {str(tmp_path)!r}\n"
        "x, y = np.load(d + '/x.npy'), np.load(d + '/y.npy')\n"
        "out = {}\n"
        "for name in ('nielsen_cross_entropy', 'half_squared_error'):\n"
        "    m = keras.models.load_model(d + '/' + name + '.keras')\n"
        "    out[name] = [m.loss.__name__, float(m.evaluate(x, y, batch_size=16, verbose=0))]\n"
        "print('RESULT' + json.dumps(out))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    loaded = json.loads(proc.stdout.split("RESULT", 1)[1])
    assert loaded["nielsen_cross_entropy"][0] == "binary_cross_entropy"
    assert loaded["half_squared_error"][0] == "half_mse"
    for name, value in expected.items():
        assert loaded[name][1] == pytest.approx(value, rel=1e-5), name


# --------------------------------------------------------------------------- #
# The single-neuron chain
# --------------------------------------------------------------------------- #


def _chain_output(w, b, x):
    a = x
    for wl, bl in zip(w, b):
        a = 1 / (1 + np.exp(-(wl * a + bl)))
    return a


def _finite_difference_grads(w, b, x, y, loss="quadratic"):
    def cost(bb):
        a = _chain_output(w, bb, x)
        if loss == "quadratic":
            return 0.5 * (a - y) ** 2
        return -(y * np.log(a) + (1 - y) * np.log(1 - a))

    h, out = 1e-6, []
    for i in range(len(b)):
        up, dn = np.array(b, float), np.array(b, float)
        up[i] += h
        dn[i] -= h
        out.append((cost(up) - cost(dn)) / (2 * h))
    return np.array(out)


def test_single_neuron_chain_product_formula_equals_autodiff():
    rng = np.random.default_rng(0)
    for _ in range(5):
        w, b = rng.normal(size=4), rng.normal(size=4)
        r = v.single_neuron_chain(w, b, x=1.0, y=0.0)
        np.testing.assert_allclose(r["grad_b_product"], r["grad_b"], rtol=1e-12)
        np.testing.assert_allclose(r["grad_b"], _finite_difference_grads(w, b, 1.0, 0.0), rtol=1e-5, atol=1e-12)
        # the lecture's formula for layer 1, written out
        s, wv = r["sigma_prime"], r["w"]
        lecture = s[0] * wv[1] * s[1] * wv[2] * s[2] * wv[3] * s[3] * r["dC_da4"]
        assert r["grad_b"][0] == pytest.approx(lecture, rel=1e-12)
        assert np.all(s <= 0.25)



def test_single_neuron_chain_cross_entropy_against_numpy_and_finite_differences():
    rng = np.random.default_rng(1)
    for x, y in ((0.3, 1.0), (1.0, 0.0), (-0.7, 0.4)):
        w, b = rng.normal(size=4), rng.normal(size=4)
        r = v.single_neuron_chain(w, b, x=x, y=y, loss="cross_entropy")
        a = _chain_output(w, b, x)
        assert r["a"][-1] == pytest.approx(a, rel=1e-12)
        assert r["cost"] == pytest.approx(-(y * np.log(a) + (1 - y) * np.log(1 - a)), rel=1e-12)
        assert r["dC_da4"] == pytest.approx((a - y) / (a * (1 - a)), rel=1e-10)  # dC/da_4 of the cross-entropy
        np.testing.assert_allclose(r["grad_b"], _finite_difference_grads(w, b, x, y, "cross_entropy"),
                                   rtol=1e-5, atol=1e-10)
        np.testing.assert_allclose(r["grad_b_product"], r["grad_b"], rtol=1e-12)
        # dC/db_4 = sigma'(z_4) dC/da_4 = a - y: cross-entropy cancels sigma' at the output
        assert r["grad_b"][-1] == pytest.approx(a - y, rel=1e-10)


def test_single_neuron_chain_length_comes_from_the_sequence():
    r = v.single_neuron_chain([0.5, -1.0, 2.0, 0.3, 1.1, -0.4], 0.1)
    assert r["grad_b"].shape == (6,) and r["factors"].shape == (5,)
    np.testing.assert_allclose(r["grad_b"], _finite_difference_grads(r["w"], r["b"], 1.0, 0.0), rtol=1e-5)
    assert v.single_neuron_chain(1.0, [0.0, 0.1])["grad_b"].shape == (2,)
    assert v.single_neuron_chain(1.0, 0.0)["grad_b"].shape == (4,)  # the lecture's 4 layers


def test_small_weights_vanish_and_nielsens_w100_case_explodes_by_25_per_layer():
    r = v.single_neuron_chain([0.5, 0.8, -0.7, 0.9], [0.1, -0.2, 0.3, 0.0])
    assert abs(r["grad_b"][0]) < abs(r["grad_b"][3]) * 0.25**3  # every |w sigma'| < 1/4
    b = v.biases_for_zero_z(100.0, x=1.0)
    r = v.single_neuron_chain(100.0, b, x=1.0, y=0.0)
    np.testing.assert_allclose(r["z"], 0.0, atol=1e-9)
    np.testing.assert_allclose(r["factors"], 25.0, rtol=1e-12)  # w sigma'(0) = 100 * 1/4
    np.testing.assert_allclose(r["grad_b"][:-1] / r["grad_b"][1:], 25.0, rtol=1e-9)


def test_single_neuron_chain_rejects_bad_input():
    with pytest.raises(ValueError, match="`b`"):
        v.single_neuron_chain([1, 2, 3, 4], [1, 2, 3])
    with pytest.raises(ValueError, match="`w`"):
        v.single_neuron_chain([1, np.nan, 3, 4], 0.0)
    with pytest.raises(ValueError, match="loss"):
        v.single_neuron_chain(1.0, 0.0, loss="mae")


# --------------------------------------------------------------------------- #
# Experiments and plots
# --------------------------------------------------------------------------- #


def test_noise_experiment_tiny_config_returns_finite_curves(mnist1000, monkeypatch):
    """Both runs start from the same initial weights (the documented "same
    initial weights"); the clean run trains with plain SGD, the noisy one with
    AnnealedGradientNoise(SGD) carrying the given eta, gamma and seed, and
    that wrapper really took every step (its inner optimizer's iterations)."""
    x, y = mnist1000
    built = []  # (model, its weights right after build_mlp)
    real_build = v.build_mlp

    def recording_build(*args, **kwargs):
        model = real_build(*args, **kwargs)
        built.append((model, [w.copy() for w in model.get_weights()]))
        return model

    monkeypatch.setattr(experiments, "build_mlp", recording_build)
    r = v.run_noise_experiment(depth=3, width=8, epochs=2, batch_size=50, eta=0.05, gamma=0.3, learning_rate=0.07,
                               seed=4, data=((x[:200], y[:200]), (x[200:300], y[200:300])))
    assert r["epochs"] == [1, 2] and r["config"]["depth"] == 3
    assert (r["config"]["eta"], r["config"]["gamma"], r["config"]["learning_rate"]) == (0.05, 0.3, 0.07)
    for label in ("no_noise", "noise"):
        for key in ("loss", "accuracy", "test_loss", "test_accuracy"):
            assert len(r[label][key]) == 2 and np.all(np.isfinite(r[label][key])), (label, key)
    assert r["noise"]["loss"] != r["no_noise"]["loss"]

    assert len(built) == 2
    (clean, clean_init), (noisy, noisy_init) = built
    assert [w.shape for w in clean_init] == [w.shape for w in noisy_init]
    for a, b in zip(clean_init, noisy_init):
        np.testing.assert_array_equal(a, b)
    steps = 2 * (200 // 50)  # epochs * batches per epoch
    assert type(clean.optimizer) is keras.optimizers.SGD
    assert int(clean.optimizer.iterations.numpy()) == steps
    opt = noisy.optimizer
    assert isinstance(opt, v.AnnealedGradientNoise)
    assert (opt.eta, opt.gamma, opt.seed) == (0.05, 0.3, 4)
    assert type(opt.inner_optimizer) is keras.optimizers.SGD
    for o in (clean.optimizer, opt.inner_optimizer):
        assert float(o.learning_rate.numpy()) == pytest.approx(0.07)
    assert int(opt.inner_optimizer.iterations.numpy()) == steps


def test_depth_sweep_sigmoid_gap_grows_with_depth_and_residual_skips_close_it(mnist1000):
    """Nielsen (ch. 5): with sigmoid layers the last/first speed ratio grows
    geometrically with depth (each extra layer multiplies the first layer's
    gradient by about w sigma'(z) <= 1/4 on average); with He et al.'s identity
    skips the ratio stays near 1 at every depth."""
    x, y = mnist1000
    depths = (2, 4, 6)
    r = v.depth_sweep(x[:100], y[:100], depths=depths, kinds=("sigmoid", "residual"))
    assert set(r) == {"sigmoid", "residual"}
    for kind in r:
        assert sorted(r[kind]) == list(depths)
        for d in depths:
            assert r[kind][d].shape == (d,) and np.all(np.isfinite(r[kind][d])) and np.all(r[kind][d] > 0)
    ratio = {kind: np.array([r[kind][d][-1] / r[kind][d][0] for d in depths]) for kind in r}
    sig, res = ratio["sigmoid"], ratio["residual"]
    assert np.all(np.diff(r["sigmoid"][6]) > 0), r["sigmoid"][6]  # speeds grow towards the output
    assert np.all(sig[1:] / sig[:-1] > 5), sig  # two more layers: the gap widens over 5x
    assert sig[-1] > 300, sig
    assert np.all((res > 0.25) & (res < 4)), res
    assert np.all(sig[1:] / res[1:] > 30), (sig, res)


def test_plots_have_labels_legends_and_log_scales(mnist1000):
    import matplotlib

    matplotlib.use("Agg")
    from source_lib import plotting

    fig = plotting.plot_layer_speeds({"2 hidden": PUBLISHED[2], "4 hidden": PUBLISHED[4]})
    ax = fig.axes[0]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["2 hidden", "4 hidden"]
    assert len(ax.patches) == 6
    fig = plotting.plot_speed_history(np.array([[1e-3, 1e-1], [2e-3, 2e-1], [3e-3, 3e-1]]))
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "epoch" and len(ax.get_lines()) == 2
    assert len(ax.get_legend().get_texts()) == 2
    with pytest.raises(ValueError):
        plotting.plot_speed_history(np.ones(3))
    matplotlib.pyplot.close("all")


def test_one_compiled_function_per_model_does_not_warn_about_retracing():
    """A depth sweep builds many models; TensorFlow's "triggered tf.function retracing" warning
    about layer_speeds's per-model function is expected and dropped, other warnings are not
    (TensorFlow's own wording, and the same warning about any other function, pass)."""
    import io
    import logging

    logger = logging.getLogger("tensorflow")  # tf.get_logger()
    (own,) = [f for f in logger.filters if isinstance(f, speeds._OwnTracingIsExpected)]
    tf_wording = ("5 out of the last 5 calls to <function {}.<locals>.speeds at 0x7f0> triggered tf.function "
                  "retracing. Tracing is expensive and the excessive number of tracings could be due to ...")

    def record(message):
        return logger.makeRecord("tensorflow", logging.WARNING, __file__, 1, message, None, None)

    assert not own.filter(record(tf_wording.format("_speed_fn")))
    assert own.filter(record(tf_wording.format("my_train_step")))
    assert own.filter(record("an unrelated warning"))

    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    logger.addHandler(handler)
    try:
        rng = np.random.default_rng(0)
        x = rng.random((20, 12), dtype=np.float32)
        y = np.eye(3, dtype=np.float32)[np.arange(20) % 3]
        for depth in range(2, 10):
            v.layer_speeds(v.build_mlp([12] + [4] * depth + [3], seed=depth), x, y)
        logger.warning("an unrelated warning")
    finally:
        logger.removeHandler(handler)
    assert "retracing" not in buffer.getvalue()
    assert "an unrelated warning" in buffer.getvalue()
