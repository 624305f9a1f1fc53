"""The vanishing gradient (Затухающий градиент), measured and repaired.

The lecture's sections "Затухающий градиент" (the vanishing gradient),
"Добавление «шума» в значение градиента" (gradient noise), "Глубина НС"
(network depth) and "«Восстановление» затухающего градиента" (repairing the
vanishing gradient), one module per idea:

- :mod:`~source_lib.vanishing.models`: ``build_mlp``, a deep fully connected
  Keras model with named hidden layers (``hidden_1`` ... ``hidden_L``), a
  choice of activation and initialisation, optional ResNet-style identity
  skips and GoogLeNet-style auxiliary heads; ``hidden_layers``, ``aux_loss_weights``.
- :mod:`~source_lib.vanishing.speeds`: ``layer_speeds``, Nielsen's "speed of
  learning" of each hidden layer, the norm of the mean over examples of dC/db
  (by autodiff); ``NIELSEN_SPEEDS``, the book's figures.
- :mod:`~source_lib.vanishing.training`: ``GradientNormHistory``, a Keras
  callback that records those speeds during ``fit``; ``full_batch_dataset``
  and ``train_with_speeds``, Nielsen's full-batch training run.
- :mod:`~source_lib.vanishing.noise`: ``AnnealedGradientNoise`` wraps any Keras
  optimizer and adds N(0, sigma_t^2) noise, sigma_t^2 = eta / (1 + t)^gamma.
- :mod:`~source_lib.vanishing.chain`: ``single_neuron_chain``, the lecture's
  chain of 4 one-neuron layers with the factors of its product formula for
  dC/db_1; ``biases_for_zero_z``.
- :mod:`~source_lib.vanishing.experiments`: ``run_noise_experiment``, a
  scaled-down version of Neelakantan et al.'s 20-layer MNIST experiment, and
  ``depth_sweep``, layer speeds against depth for several activations.

Every public name is importable from here (``from source_lib.vanishing import build_mlp``).

References:
    - [Nielsen, Neural Networks and Deep Learning, ch. 5](
        http://neuralnetworksanddeeplearning.com/chap5.html)
    - [Neelakantan et al., 2015, Adding Gradient Noise Improves Learning for
        Very Deep Networks](https://arxiv.org/abs/1511.06807)
    - [He et al., 2016, Deep Residual Learning](https://arxiv.org/abs/1512.03385)
    - [Szegedy et al., 2015, Going Deeper with Convolutions (GoogLeNet)](
        https://arxiv.org/abs/1409.4842)
"""

from source_lib.vanishing.chain import biases_for_zero_z, single_neuron_chain
from source_lib.vanishing.experiments import depth_sweep, run_noise_experiment
from source_lib.vanishing.models import aux_loss_weights, build_mlp, hidden_layers
from source_lib.vanishing.noise import AnnealedGradientNoise
from source_lib.vanishing.speeds import NIELSEN_SPEEDS, half_squared_error, layer_speeds, nielsen_cross_entropy
from source_lib.vanishing.training import GradientNormHistory, full_batch_dataset, train_with_speeds

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
