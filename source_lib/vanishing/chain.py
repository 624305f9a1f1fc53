"""The lecture's chain of one-neuron sigmoid layers and its product formula for dC/db_1.

Reference:
    - [Nielsen, NNDL ch. 5, "What's causing the vanishing gradient problem?"](
        http://neuralnetworksanddeeplearning.com/chap5.html)
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

__all__ = ["single_neuron_chain", "biases_for_zero_z"]


def _as_chain(name, value, n):
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"`{name}` must be a number or a sequence of {n} numbers, got {value!r}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must be finite, got {value!r}")
    return arr


def biases_for_zero_z(w, x=1.0, n_layers: int = 4) -> np.ndarray:
    """Biases that make every weighted input z_l = w_l a_{l-1} + b_l equal 0.

    b_1 = -w_1 x, and for l > 1, b_l = -w_l sigma(0) = -w_l / 2 (every a_l is
    then sigma(0) = 1/2). With w = 100 this is Nielsen's exploding-gradient
    example: every factor w sigma'(0) of the product formula is
    100 * 0.25 = 25.

    Args:
        w: the weights w_1..w_L, or one number for every layer.
        x: the input a_0.
        n_layers: the chain length L when ``w`` is a number.

    Returns:
        float64 array ``(L,)`` of the biases b_1..b_L.

    Reference:
        - [Nielsen, NNDL ch. 5, "The exploding gradient problem"](
            http://neuralnetworksanddeeplearning.com/chap5.html)
    """
    w = _as_chain("w", w, n_layers if np.ndim(w) == 0 else len(w))
    b = -w * 0.5
    b[0] = -w[0] * float(x)
    return b


def single_neuron_chain(w, b, x=1.0, y=0.0, loss="quadratic"):
    """A chain of one-neuron sigmoid layers: the lecture's has 4 (L = 4).

    z_l = w_l a_{l-1} + b_l, a_l = sigma(z_l), a_0 = x, and the cost
    C = 1/2 (a_L - y)^2 (``loss="quadratic"``) or
    C = -[y ln a_L + (1 - y) ln(1 - a_L)] (``loss="cross_entropy"``).
    Backpropagation gives the lecture's product formula (L = 4)

        dC/db_1 = sigma'(z_1) w_2 sigma'(z_2) w_3 sigma'(z_3) w_4 sigma'(z_4) dC/da_4,

    and in general dC/db_l = sigma'(z_l) * prod_{k>l} (w_k sigma'(z_k)) * dC/da_L.
    Everything here is float64 and comes from TensorFlow autodiff: the
    gradients dC/db_l, the derivatives sigma'(z_l) and dC/da_L. The product of
    the factors is returned next to the autodiff gradient so they can be
    compared.

    The chain length L is 4 when ``w`` and ``b`` are both numbers; otherwise
    it is the length of the one that is a sequence (both sequences must have
    the same length).

    Args:
        w: the weights w_1..w_L (a number is used for every layer).
        b: the biases b_1..b_L (a number is used for every layer).
        x: the input a_0.
        y: the target.
        loss: ``"quadratic"`` or ``"cross_entropy"``.

    Returns:
        A dict of float64 NumPy arrays: ``z``, ``a``, ``w``, ``b`` (per layer),
        ``sigma_prime`` (sigma'(z_l)), ``factors`` (w_k sigma'(z_k) for
        k = 2..L), ``dC_da4`` (dC/da_L, a scalar; the key keeps the lecture's
        name), ``cost`` (scalar), ``grad_b`` (dC/db_l by autodiff) and
        ``grad_b_product`` (the product formula).

    Reference:
        - [Nielsen, NNDL ch. 5, "What's causing the vanishing gradient problem?"](
            http://neuralnetworksanddeeplearning.com/chap5.html)
    """
    if np.ndim(w) > 0:
        n = len(w)
    elif np.ndim(b) > 0:
        n = len(b)
    else:
        n = 4  # the lecture's chain
    w = _as_chain("w", w, n)
    b = _as_chain("b", b, n)
    if loss not in ("quadratic", "cross_entropy"):
        raise ValueError(f"`loss` must be 'quadratic' or 'cross_entropy', got {loss!r}")
    x = tf.constant(float(x), tf.float64)
    y = tf.constant(float(y), tf.float64)
    b_vars = [tf.Variable(v, dtype=tf.float64) for v in b]

    with tf.GradientTape(persistent=True) as tape:
        a = x
        zs, acts = [], []
        for w_l, b_l in zip(w, b_vars):
            z = w_l * a + b_l
            a = tf.sigmoid(z)
            zs.append(z)
            acts.append(a)
        a4 = acts[-1]  # computed from the watched b_vars, so the tape already tracks it
        if loss == "quadratic":
            cost = 0.5 * tf.square(a4 - y)
        else:
            cost = -(y * tf.math.log(a4) + (1.0 - y) * tf.math.log1p(-a4))
    grad_b = np.array([float(g) for g in tape.gradient(cost, b_vars)])
    dC_da4 = float(tape.gradient(cost, a4))
    del tape

    z_np = np.array([float(z) for z in zs])
    z_t = tf.constant(z_np)
    with tf.GradientTape() as t2:
        t2.watch(z_t)
        s = tf.sigmoid(z_t)
    sigma_prime = t2.gradient(s, z_t).numpy()

    factors = w[1:] * sigma_prime[1:]
    product = np.array([sigma_prime[l] * np.prod(factors[l:]) * dC_da4 for l in range(n)])
    return {
        "z": z_np,
        "a": np.array([float(v) for v in acts]),
        "w": w,
        "b": b,
        "sigma_prime": sigma_prime,
        "factors": factors,
        "dC_da4": dC_da4,
        "cost": float(cost),
        "grad_b": grad_b,
        "grad_b_product": product,
    }
