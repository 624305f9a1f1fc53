"""Annealed gradient noise (Добавление «шума» в значение градиента), Neelakantan et al. 2015.

Reference:
    - [Neelakantan et al., 2015, Adding Gradient Noise Improves Learning for
        Very Deep Networks](https://arxiv.org/abs/1511.06807)
"""

from __future__ import annotations

import math
from numbers import Real

import keras
from keras import ops

__all__ = ["AnnealedGradientNoise"]


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
