"""The deep MLP of the vanishing-gradient section (Затухающий градиент) and its named layers.

``build_mlp`` builds [n_0, n_1, ..., n_L, n_out] networks with hidden Dense
layers ``hidden_1`` ... ``hidden_L``, Nielsen's or another initialisation,
optional ResNet-style identity skips and GoogLeNet-style auxiliary heads;
``hidden_layers`` and ``aux_loss_weights`` read such a model back.

References:
    - [Nielsen, NNDL ch. 5](http://neuralnetworksanddeeplearning.com/chap5.html)
    - [He et al., 2016, Deep Residual Learning](https://arxiv.org/abs/1512.03385)
    - [Szegedy et al., 2015, Going Deeper with Convolutions (GoogLeNet)](https://arxiv.org/abs/1409.4842)
"""

from __future__ import annotations

import math
import re
from numbers import Real

import keras
import numpy as np

from source_lib import activations as _activations

__all__ = ["build_mlp", "hidden_layers", "aux_loss_weights"]

_HIDDEN = re.compile(r"^hidden_(\d+)$")


def _layer_seed(seed, index, which):
    """Seed of hidden layer ``index`` (the output layer is L + 1): kernel ``which=0``, bias 1.

    seed * 1000 + 2 * index + which. The notebooks' printed numbers depend on
    these seeds: do not change them.
    """
    return None if seed is None else int(seed) * 1000 + 2 * index + which


#: Tag of the auxiliary heads' seed stream (any constant; it only has to differ from other streams).
_AUX_STREAM = 0x617578  # "aux"


def _aux_seed(seed, index, which):
    """Seed of auxiliary head ``aux_<index>``: a stream of its own.

    ``_layer_seed`` covers almost every int as (seed, layer) varies, so an offset
    would make a head share the seed (and so the first values) of a hidden
    layer of the model built with another seed. The heads' seeds are hashed
    instead, from (seed, stream tag, index, which), by NumPy's SeedSequence,
    into 31 bits: a clash with the small ints of ``_layer_seed`` is as unlikely
    as one random 31-bit draw hitting them.
    """
    if seed is None:
        return None
    entropy = [int(seed) % 2**64, _AUX_STREAM, int(index), int(which)]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0] & 0x7FFFFFFF)


def _initializers(init, init_std, n_in, seed, index, seed_fn=_layer_seed):
    """(kernel_initializer, bias_initializer) for layer ``index`` with ``n_in`` inputs.

    ``seed_fn(seed, index, which)`` derives the two seeds (``_layer_seed`` for
    hidden and output layers, ``_aux_seed`` for auxiliary heads).
    """
    ks, bs = seed_fn(seed, index, 0), seed_fn(seed, index, 1)
    if isinstance(init, (tuple, list)):
        if len(init) != 2 or init[0] != "normal" or not isinstance(init[1], Real) or init[1] <= 0:
            raise ValueError(f"`init` as a tuple must be ('normal', std > 0), got {init!r}")
        init, init_std = "normal", float(init[1])
    if init == "nielsen":
        return (
            keras.initializers.RandomNormal(0.0, 1.0 / math.sqrt(n_in), seed=ks),
            keras.initializers.RandomNormal(0.0, 1.0, seed=bs),
        )
    if init == "glorot_uniform":
        return keras.initializers.GlorotUniform(seed=ks), keras.initializers.Zeros()
    if init == "he_normal":
        return keras.initializers.HeNormal(seed=ks), keras.initializers.Zeros()
    if init == "normal":
        if init_std is None or not isinstance(init_std, Real) or init_std <= 0:
            raise ValueError(f"init='normal' needs `init_std` > 0, got init_std={init_std!r}")
        return keras.initializers.RandomNormal(0.0, float(init_std), seed=ks), keras.initializers.Zeros()
    raise ValueError(
        "`init` must be 'nielsen', 'glorot_uniform', 'he_normal', 'normal' (with init_std) "
        f"or ('normal', std), got {init!r}"
    )


def build_mlp(
    sizes,
    activation="sigmoid",
    init="nielsen",
    residual=False,
    aux_outputs=False,
    seed=None,
    output_activation="sigmoid",
    init_std=None,
    name=None,
):
    """Build a deep fully connected network with named hidden layers.

    For ``sizes = [n_0, n_1, ..., n_L, n_out]`` the hidden layers compute

        h_l = g(W_l h_{l-1} + b_l),                 l = 1..L, h_0 = x,

    or, with ``residual=True`` and ``n_l == n_{l-1}`` (ResNet's identity skip),

        h_l = h_{l-1} + g(W_l h_{l-1} + b_l),

    so that the backward pass has a path that is not multiplied by g'. The
    output is ``a = f(W_out h_L + b_out)`` with ``f = output_activation``.

    Initialisations (W is ``n_out x n_in`` in the book's notation):

    - ``"nielsen"``: W ~ N(0, 1/n_in), b ~ N(0, 1) (NNDL ch. 3 and 5);
    - ``"glorot_uniform"``: W ~ U(-r, r), r = sqrt(6 / (n_in + n_out)), b = 0;
    - ``"he_normal"``: W ~ truncated N(0, 2/n_in), b = 0;
    - ``"normal"`` with ``init_std=s``, or ``("normal", s)``: W ~ N(0, s^2),
      b = 0 (Neelakantan et al.'s "simple init" is s = 0.1).

    Args:
        sizes: layer widths ``[inputs, hidden..., outputs]``, at least 3 ints.
        activation: hidden activation, a name known to
            ``source_lib.activations.get`` or a callable.
        init: initialisation scheme, see above.
        residual: add identity skips between consecutive equal-width hidden
            layers (the Add layers are named ``residual_l``).
        aux_outputs: GoogLeNet-style auxiliary classifier heads ``aux_l`` (one
            Dense layer with ``output_activation`` on h_l). ``True`` puts one
            on every hidden layer but the last (so it needs at least 2 hidden
            layers); a list of hidden-layer numbers (ints, 1-based) chooses
            them. The model then returns a dict of outputs,
            ``{"output": ..., "aux_l": ...}``; get loss weights from
            ``aux_loss_weights``.
        seed: int for reproducible weights, or ``None``. Each hidden layer
            and the output layer get their own derived seed; the auxiliary
            heads draw theirs from a separate stream, so adding heads leaves
            the other layers' weights as without them, and no head repeats
            a layer of a model built with another seed.
        output_activation: activation of the output layer (``"sigmoid"`` for
            Nielsen's setup, ``"softmax"`` for a softmax classifier).
        init_std: standard deviation for ``init="normal"``.
        name: model name.

    Returns:
        A ``keras.Model``. Hidden Dense layers are named ``hidden_1`` ...
        ``hidden_L``; the output layer is named ``output``.

    Raises:
        ValueError: for bad ``sizes``, ``init``/``init_std``, ``activation``,
            ``residual`` without equal-width layers, or ``aux_outputs``
            numbers outside 1..L (or ``True`` with L = 1).
        TypeError: for a non-int ``seed`` or ``aux_outputs`` entry.

    References:
        - [Nielsen, NNDL ch. 3, "Weight initialization"](
            http://neuralnetworksanddeeplearning.com/chap3.html): the
          ``"nielsen"`` initialisation, and ch. 5 for the networks it studies.
        - [Glorot & Bengio, 2010, Understanding the difficulty of training
            deep feedforward neural networks](
            https://proceedings.mlr.press/v9/glorot10a.html): ``"glorot_uniform"``.
        - [He et al., 2015, Delving Deep into Rectifiers](
            https://arxiv.org/abs/1502.01852): ``"he_normal"``.
        - [He et al., 2016, Deep Residual Learning for Image Recognition](
            https://arxiv.org/abs/1512.03385): ``residual`` identity skips.
        - [Szegedy et al., 2015, Going Deeper with Convolutions (GoogLeNet)](
            https://arxiv.org/abs/1409.4842): ``aux_outputs`` heads.
        - [Neelakantan et al., 2015, Adding Gradient Noise Improves Learning
            for Very Deep Networks](https://arxiv.org/abs/1511.06807): the
          "simple init" ``("normal", 0.1)``.
    """
    if not isinstance(sizes, (list, tuple)) or len(sizes) < 3:
        raise ValueError(f"`sizes` must list at least [inputs, hidden, outputs], got {sizes!r}")
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1:
            raise ValueError(f"`sizes` must hold positive ints, got {sizes!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise TypeError(f"`seed` must be an int or None, got {seed!r}")
    sizes = [int(s) for s in sizes]
    n_hidden = len(sizes) - 2
    act = _activations.get(activation)
    out_act = _output_activation(output_activation)
    if residual and not any(sizes[l] == sizes[l - 1] for l in range(2, n_hidden + 1)):
        raise ValueError(
            f"`residual=True` needs two consecutive hidden layers of equal width; sizes={sizes}"
        )

    aux_at = _aux_layers(aux_outputs, n_hidden)

    inputs = keras.Input(shape=(sizes[0],), name="inputs")
    h = inputs
    aux = {}
    for l in range(1, n_hidden + 1):
        k_init, b_init = _initializers(init, init_std, sizes[l - 1], seed, l)
        z = keras.layers.Dense(
            sizes[l], activation=act, kernel_initializer=k_init, bias_initializer=b_init, name=f"hidden_{l}"
        )(h)
        if residual and l >= 2 and sizes[l] == sizes[l - 1]:
            h = keras.layers.Add(name=f"residual_{l}")([h, z])
        else:
            h = z
        if l in aux_at:
            ak, ab = _initializers(init, init_std, sizes[l], seed, l, seed_fn=_aux_seed)
            aux[f"aux_{l}"] = keras.layers.Dense(
                sizes[-1], activation=out_act, kernel_initializer=ak, bias_initializer=ab, name=f"aux_{l}"
            )(h)
    k_init, b_init = _initializers(init, init_std, sizes[-2], seed, n_hidden + 1)
    out = keras.layers.Dense(
        sizes[-1], activation=out_act, kernel_initializer=k_init, bias_initializer=b_init, name="output"
    )(h)
    outputs = {"output": out, **aux} if aux else out
    return keras.Model(inputs, outputs, name=name or f"mlp_{n_hidden}x{activation if isinstance(activation, str) else 'f'}")


def _aux_layers(aux_outputs, n_hidden):
    """The sorted hidden-layer numbers that get an auxiliary head."""
    if aux_outputs is True:
        if n_hidden < 2:
            raise ValueError(
                "`aux_outputs=True` puts a head on every hidden layer but the last, and this network has "
                f"only {n_hidden} hidden layer: use aux_outputs=False, or a list such as [1]"
            )
        return list(range(1, n_hidden))
    if aux_outputs is False or aux_outputs is None:
        return []
    if isinstance(aux_outputs, (str, bytes)) or not isinstance(aux_outputs, (list, tuple, range, np.ndarray)):
        raise TypeError(
            f"`aux_outputs` must be True, False or a list of hidden-layer numbers, got {aux_outputs!r}"
        )
    for i in aux_outputs:
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"`aux_outputs` must hold int hidden-layer numbers, got {aux_outputs!r}")
        if not 1 <= i <= n_hidden:
            raise ValueError(f"`aux_outputs` must be hidden-layer numbers in 1..{n_hidden}, got {aux_outputs!r}")
    return sorted(set(int(i) for i in aux_outputs))


def _output_activation(name):
    """``source_lib.activations.get``, plus Keras's own names (e.g. ``"softmax"``)."""
    try:
        return _activations.get(name)
    except ValueError:
        return keras.activations.get(name)


def hidden_layers(model):
    """The model's hidden Dense layers ``hidden_1 ... hidden_L``, in order of l.

    The layers are found by name (``hidden_<l>``, as ``build_mlp`` names
    them) and sorted by the number l, not by their order in ``model.layers``.

    Args:
        model: a Keras model, usually from ``build_mlp``.

    Returns:
        A list of the L layers, ``hidden_1`` first.

    Raises:
        ValueError: if no layer is named ``hidden_<l>``.
    """
    found = []
    for layer in model.layers:
        m = _HIDDEN.match(layer.name)
        if m:
            found.append((int(m.group(1)), layer))
    if not found:
        raise ValueError(
            f"model {model.name!r} has no layers named 'hidden_<l>'; build it with build_mlp "
            "or pass `layers=` (a list of layer names)"
        )
    return [layer for _, layer in sorted(found, key=lambda t: t[0])]


def aux_loss_weights(model, aux_weight: float = 0.3) -> dict:
    """Loss weights for a model built with ``aux_outputs``.

    The training cost is C = C_output + aux_weight * sum_l C_aux_l: weight 1
    for ``output`` and ``aux_weight`` for each ``aux_l`` head (GoogLeNet used
    0.3 and dropped the heads after training). Use as
    ``model.compile(loss={n: loss for n in model.output_names},
    loss_weights=aux_loss_weights(model))`` (Keras wants one loss per output).

    Args:
        model: a model from ``build_mlp`` (with or without auxiliary heads).
        aux_weight: weight of each auxiliary head's cost.

    Returns:
        ``{output_name: weight}`` for every output of the model (just
        ``{"output": 1.0}`` without heads).

    Reference:
        - [Szegedy et al., 2015, Going Deeper with Convolutions, section 5](
            https://arxiv.org/abs/1409.4842)
    """
    names = list(model.output_names)
    return {n: (1.0 if n == "output" else float(aux_weight)) for n in names}
