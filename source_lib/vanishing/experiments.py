"""The section's two experiments: gradient noise on a deep MLP, and layer speeds against depth.

References:
    - [Neelakantan et al., 2015, section 4.1](https://arxiv.org/abs/1511.06807)
    - [Nielsen, NNDL ch. 5](http://neuralnetworksanddeeplearning.com/chap5.html)
"""

from __future__ import annotations

import keras
import numpy as np

from source_lib.vanishing.models import build_mlp
from source_lib.vanishing.noise import AnnealedGradientNoise
from source_lib.vanishing.speeds import layer_speeds

__all__ = ["run_noise_experiment", "depth_sweep"]


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
