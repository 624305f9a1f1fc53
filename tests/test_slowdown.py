"""Tests of source_lib.slowdown (Nielsen's single-neuron learning slowdown) and
its plotting helpers, against Nielsen's published figures (docs/reference-figures.md) and an
independent NumPy float64 gradient-descent loop with the closed-form gradients."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from source_lib import losses, plotting, slowdown

EPOCHS = 300


def numpy_single_neuron(w, b, cost, lr=0.15, epochs=EPOCHS, x=1.0, y=0.0):
    """Gradient descent with the textbook gradients (an independent reference):
    quadratic dC/dz = (a - y) sigma'(z); cross-entropy dC/dz = a - y; dC/dw = dC/dz * x."""
    a_rec, c_rec, w_rec, b_rec = [], [], [], []
    for step in range(epochs + 1):
        z = w * x + b
        a = 1.0 / (1.0 + np.exp(-z))
        if cost == "quadratic":
            c = 0.5 * (y - a) ** 2
            delta = (a - y) * a * (1 - a)
        elif cost == "cross_entropy":
            c = -(y * np.log(a) + (1 - y) * np.log(1 - a))
            delta = a - y
        elif cost == "squared":  # Keras's mean_squared_error: no 1/2
            c = (y - a) ** 2
            delta = 2 * (a - y) * a * (1 - a)
        elif cost == "quartic":
            c = (a - y) ** 4
            delta = 4 * (a - y) ** 3 * a * (1 - a)
        a_rec.append(a), c_rec.append(c), w_rec.append(w), b_rec.append(b)
        w, b = w - lr * delta * x, b - lr * delta
    return tuple(np.array(v) for v in (a_rec, c_rec, w_rec, b_rec))


@pytest.fixture(scope="module")
def runs():
    return {key: slowdown.train_single_neuron(**kw) for key, kw in slowdown.NIELSEN_RUNS.items()}


def test_nielsen_quadratic_end_points(runs):
    """NNDL ch. 3: quadratic cost, 300 epochs: from (0.6, 0.9) the output ends
    near 0.09, from (2, 2) near 0.20."""
    assert runs["quadratic, w=0.6, b=0.9"].a[-1] == pytest.approx(0.09, abs=0.01)
    assert runs["quadratic, w=2, b=2"].a[-1] == pytest.approx(0.20, abs=0.01)


def test_quadratic_from_2_2_has_a_plateau_and_cross_entropy_has_none(runs):
    """A plateau, measurably: over the first 50 epochs the output moves by
    less than 0.01 (1/100 of the way to y = 0), while cross-entropy from the
    same start moves more than 0.5 in the same 50 epochs."""
    quad, ce = runs["quadratic, w=2, b=2"], runs["cross-entropy, w=2, b=2"]
    assert quad.a[0] == pytest.approx(1 / (1 + np.exp(-4.0)), rel=1e-12)  # a ≈ 0.98, badly wrong
    assert quad.drop(50) < 0.01
    assert ce.drop(50) > 0.5
    # ... and the quadratic neuron does learn, after the plateau: most of its
    # progress comes in the second half of training
    assert quad.drop(150) < 0.1 and quad.drop(EPOCHS) > 0.7
    # cross-entropy learns fastest at the start, where it is most wrong
    speeds = np.abs(np.diff(ce.a))
    assert np.argmax(speeds) < 20
    # no plateau from the good start either: quadratic from (0.6, 0.9) moves at once
    assert runs["quadratic, w=0.6, b=0.9"].drop(50) > 0.3


@pytest.mark.parametrize("key", list(slowdown.NIELSEN_RUNS))
def test_autodiff_training_matches_numpy_float64_hand_loop(runs, key):
    kw = slowdown.NIELSEN_RUNS[key]
    cost = {"half_mse": "quadratic", "binary_cross_entropy": "cross_entropy"}[kw["loss"]]
    a, c, w, b = numpy_single_neuron(kw["w"], kw["b"], cost)
    r = runs[key]
    np.testing.assert_allclose(r.a, a, rtol=1e-10)
    np.testing.assert_allclose(r.C, c, rtol=1e-10)
    np.testing.assert_allclose(r.w, w, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(r.b, b, rtol=1e-10, atol=1e-12)


def test_cross_entropy_learns_from_a_fully_saturated_start():
    """From (w, b) = (10, 10), a = sigma(20) = 1 - 2e-9 is beyond the 1 - 1e-7
    clip, yet the cross-entropy gradient is a - y (Nielsen), not 0: the neuron
    learns, a falls below 0.1 in 300 epochs, step by step as the NumPy float64
    hand loop. The quadratic cost is stuck there (a stays at 1)."""
    a, c, w, b = numpy_single_neuron(10.0, 10.0, "cross_entropy")
    assert a[-1] < 0.1  # the reference itself learns
    r = slowdown.train_single_neuron(10.0, 10.0, "binary_cross_entropy")
    assert r.a[0] > 1 - 1e-8 and r.a[-1] < 0.1
    np.testing.assert_allclose(r.a, a, rtol=1e-9)
    np.testing.assert_allclose(r.w, w, rtol=1e-12)
    np.testing.assert_allclose(r.b, b, rtol=1e-12)
    # C from the logits: -ln(1 - sigma(20)) = 20 + ln(1 + e^-20), not the clip's ln(1e7) = 16.1
    np.testing.assert_allclose(r.C[0], 20 + np.log1p(np.exp(-20.0)), rtol=1e-12)
    assert slowdown.train_single_neuron(10.0, 10.0, "half_mse").a[-1] > 0.999


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("start", [10.0, 50.0, 5000.0])
def test_cross_entropy_step_is_exactly_a_minus_y_far_into_saturation(dtype, start):
    """z = 2 * start up to 1e4: a rounds to 1 and every step is
    w <- w - lr (a - y) x = w - 0.15, in float32 and float64."""
    r = slowdown.train_single_neuron(start, start, "binary_cross_entropy", epochs=5, dtype=dtype)
    with np.errstate(divide="ignore"):  # the hand loop's C = -ln(1 - a) is inf once a rounds to 1
        _, _, w, b = numpy_single_neuron(start, start, "cross_entropy", epochs=5)
    np.testing.assert_allclose(w, start - 0.15 * np.arange(6), rtol=1e-9)  # a - y = 1 to 2e-9
    tol = 1e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(r.w, w, rtol=tol)
    np.testing.assert_allclose(r.b, b, rtol=tol)
    z = 2 * start
    np.testing.assert_allclose(r.C[0], z + np.log1p(np.exp(-z)), rtol=tol)  # -ln(1 - sigma(z))


def test_record_layout(runs):
    r = runs["cross-entropy, w=0.6, b=0.9"]
    for field in (r.epoch, r.a, r.C, r.w, r.b):
        assert field.shape == (EPOCHS + 1,)
    np.testing.assert_array_equal(r.epoch, np.arange(EPOCHS + 1))
    assert (r.w[0], r.b[0], r.lr, r.x, r.y) == (0.6, 0.9, 0.15, 1.0, 0.0)
    assert r.loss == "binary_cross_entropy"
    np.testing.assert_allclose(r.a, 1 / (1 + np.exp(-(r.w * r.x + r.b))), rtol=1e-12)
    # C for y = 0 is -ln(1 - a), the textbook cross-entropy, in NumPy float64
    np.testing.assert_allclose(r.C, -np.log1p(-r.a), rtol=1e-12)


def test_any_callable_loss_trains_by_autodiff():
    """The trainer has no gradient table: a loss it has never seen, (a - y)^4,
    gets the gradient 4 (a - y)^3 sigma'(z) from autodiff."""

    def quartic(y_true, y_pred):
        return ((y_pred - y_true) ** 4)[:, 0]

    r = slowdown.train_single_neuron(1.0, -0.5, quartic, lr=2.0, epochs=40, x=0.5, y=1.0)
    a, c, w, b = numpy_single_neuron(1.0, -0.5, "quartic", lr=2.0, epochs=40, x=0.5, y=1.0)
    np.testing.assert_allclose(r.a, a, rtol=1e-10)
    np.testing.assert_allclose(r.w, w, rtol=1e-10)


def test_keras_loss_objects_train_like_their_formula():
    """A keras.losses.Loss returns a reduced scalar, not a (1,) vector: the
    trainer takes the one value either way. Checked against the NumPy loop."""
    import keras

    for loss, rtol in ((keras.losses.MeanSquaredError(dtype="float64"), 1e-10), (keras.losses.MeanSquaredError(), 1e-5)):
        r = slowdown.train_single_neuron(2.0, 2.0, loss, epochs=60)
        a, c, w, b = numpy_single_neuron(2.0, 2.0, "squared", epochs=60)
        np.testing.assert_allclose(r.a, a, rtol=rtol)
        np.testing.assert_allclose(r.C, c, rtol=rtol)
    r = slowdown.train_single_neuron(2.0, 2.0, losses.BinaryCrossEntropy(), epochs=60)
    a, c, w, b = numpy_single_neuron(2.0, 2.0, "cross_entropy", epochs=60)
    np.testing.assert_allclose(r.a, a, rtol=1e-5)
    np.testing.assert_allclose(r.C, c, rtol=1e-5)
    assert r.loss == "binary_cross_entropy"
    # the neuron hands the loss its sigmoid output a, so a logits loss is refused clearly
    for loss in (losses.BinaryCrossEntropy(from_logits=True), keras.losses.BinaryCrossentropy(from_logits=True)):
        with pytest.raises(ValueError, match="from_logits"):
            slowdown.train_single_neuron(2.0, 2.0, loss, epochs=5)
    with pytest.raises(ValueError, match="one value"):
        slowdown.train_single_neuron(2.0, 2.0, lambda y, p: keras.ops.concatenate([p, p], axis=0), epochs=5)


def test_trainer_cache_is_bounded():
    """A fresh lambda per call must not keep every traced trainer alive, and a named loss's
    trainer is reused (no retracing on the second run)."""
    import gc
    import weakref

    first = lambda y_true, y_pred: (y_pred - y_true)[:, 0] ** 2  # noqa: E731
    alive = weakref.ref(first)
    slowdown.train_single_neuron(1.0, 1.0, first, epochs=2)
    del first
    for k in range(slowdown._TRAINER_CACHE_SIZE):  # building a trainer traces nothing until it runs
        slowdown._trainer(lambda y_true, y_pred, k=k: (0.5 + k) * (y_pred - y_true)[:, 0] ** 2)
    gc.collect()
    assert alive() is None
    assert slowdown._cached_trainer.cache_info().currsize <= slowdown._TRAINER_CACHE_SIZE
    slowdown.train_single_neuron(1.0, 1.0, "half_mse", epochs=2)
    trainer = slowdown._trainer(losses.half_mse)
    slowdown.train_single_neuron(1.0, 1.0, "half_mse", epochs=2)
    assert slowdown._trainer(losses.half_mse) is trainer
    # an unhashable callable still trains (uncached)
    class Unhashable:
        __hash__ = None

        def __call__(self, y_true, y_pred):
            return losses.half_mse(y_true, y_pred)

    r = slowdown.train_single_neuron(1.0, 1.0, Unhashable(), epochs=3)
    np.testing.assert_allclose(r.a, slowdown.train_single_neuron(1.0, 1.0, "half_mse", epochs=3).a, rtol=1e-12)


def test_float32_run_is_close_to_float64(runs):
    r32 = slowdown.train_single_neuron(2.0, 2.0, "half_mse", dtype="float32")
    assert r32.a.dtype == np.float32
    np.testing.assert_allclose(r32.a, runs["quadratic, w=2, b=2"].a, rtol=1e-4)


def test_bad_arguments():
    with pytest.raises(ValueError, match="epochs"):
        slowdown.train_single_neuron(1, 1, "half_mse", epochs=-1)
    with pytest.raises(ValueError, match="lr"):
        slowdown.train_single_neuron(1, 1, "half_mse", lr=0)
    with pytest.raises(ValueError, match="half_mse"):
        slowdown.train_single_neuron(1, 1, "quadratic")
    r = slowdown.train_single_neuron(1.0, 1.0, "half_mse", epochs=0)
    assert r.a.shape == (1,)


# --- plotting helpers --------------------------------------------------------------


def test_plot_learning_curves(runs):
    import matplotlib.pyplot as plt

    fig = plotting.plot_learning_curves(runs, quantities=("a", "C"), title="slowdown")
    try:
        ax_a, ax_c = fig.axes
        assert ax_a.get_xlabel() == "epoch" and "output" in ax_a.get_ylabel() and "loss" in ax_c.get_ylabel()
        labels = [t.get_text() for t in ax_a.get_legend().get_texts()]
        assert labels == list(runs)
        for line, r in zip(ax_a.get_lines(), runs.values()):
            np.testing.assert_array_equal(line.get_ydata(), r.a)
        for line, r in zip(ax_c.get_lines(), runs.values()):
            np.testing.assert_array_equal(line.get_ydata(), r.C)
    finally:
        plt.close(fig)
    fig = plotting.plot_learning_curves(list(runs.values())[:2], quantities="a")
    try:
        assert len(fig.axes) == 1
        assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
            "half_mse, w=0.6, b=0.9",
            "half_mse, w=2, b=2",
        ]
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="quantities"):
        plotting.plot_learning_curves(runs, quantities=("z",))


def test_plot_loss_vs_prediction():
    import matplotlib.pyplot as plt

    names = ["msle", "mae", "mape", "hinge"]
    y_pred = np.linspace(0.05, 2.0, 50)
    fig = plotting.plot_loss_vs_prediction(names, y_true=1.0, y_pred=y_pred)
    try:
        visible = [ax for ax in fig.axes if ax.get_visible()]
        assert [ax.get_title() for ax in visible] == names
        mae_line = visible[1].get_lines()[0]
        np.testing.assert_allclose(mae_line.get_ydata(), np.abs(1.0 - y_pred))
        assert all(ax.get_xlabel() and ax.get_ylabel() and ax.get_legend() for ax in visible)
    finally:
        plt.close(fig)


def test_plot_loss_vs_prediction_default_ranges_and_two_class_softmax_losses():
    """Probability losses default to ŷ in (0, 1); log_likelihood and kl_divergence
    are drawn for two classes, ŷ = P(class 1): checked against NumPy formulas."""
    import matplotlib.pyplot as plt

    names = ["binary_cross_entropy", "log_likelihood", "kl_divergence", "hinge", "half_mse"]
    fig = plotting.plot_loss_vs_prediction(names, y_true=1.0)
    try:
        lines = {ax.get_title(): ax.get_lines()[0] for ax in fig.axes if ax.get_visible()}
        for name in names[:3]:
            x = lines[name].get_xdata()
            assert 0 < x.min() < 0.01 and 0.99 < x.max() < 1
            np.testing.assert_allclose(lines[name].get_ydata(), -np.log(x), rtol=1e-12)  # -ln ŷ for y = 1
        x = lines["hinge"].get_xdata()
        assert x.min() < 0 < 1 < x.max()
        np.testing.assert_allclose(lines["hinge"].get_ydata(), np.maximum(0, 1 - x), atol=1e-15)
        assert lines["half_mse"].get_xdata().max() > 1
    finally:
        plt.close(fig)
    fig = plotting.plot_loss_vs_prediction(["log_likelihood", "kl_divergence"], y_true=0.0)
    try:
        ll, kl = (ax.get_lines()[0] for ax in fig.axes if ax.get_visible())
        np.testing.assert_allclose(ll.get_ydata(), -np.log1p(-ll.get_xdata()), rtol=1e-12)  # class 0: -ln(1 - ŷ)
        np.testing.assert_allclose(kl.get_ydata(), -np.log1p(-kl.get_xdata()), rtol=1e-12)
    finally:
        plt.close(fig)
    fig = plotting.plot_loss_vs_prediction("kl_divergence", y_true=0.3)
    try:
        line = fig.axes[0].get_lines()[0]
        q, y = line.get_xdata(), 0.3
        np.testing.assert_allclose(
            line.get_ydata(), y * np.log(y / q) + (1 - y) * np.log((1 - y) / (1 - q)), rtol=1e-9, atol=1e-12
        )
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="y_pred.*kl_divergence.*\\[0, 1\\]"):
        plotting.plot_loss_vs_prediction(["mae", "kl_divergence"], y_pred=np.linspace(0.05, 2.0, 5))
    with pytest.raises(ValueError, match="y_true.*class 0 or 1"):
        plotting.plot_loss_vs_prediction("log_likelihood", y_true=0.5)
    plt.close("all")
