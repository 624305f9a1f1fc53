"""The lecture's regularised objective E = C + lambda R (Регуляризация), measured on a Keras model.

:func:`regularised_objective` evaluates the data term C (the compiled loss),
the penalty R computed from the weights, and E = C + Keras's own penalty
``sum(model.losses)``, so a notebook can show that E - C is lambda R.
``source_lib.losses`` re-exports it.

Reference:
    - [Goodfellow, Bengio & Courville, "Deep Learning", sec. 7.1](https://www.deeplearningbook.org/contents/regularization.html)
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
from keras import ops

__all__ = ["regularised_objective"]


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
    """model.loss as a callable: source_lib names through ``losses.get``, other strings through Keras."""
    from source_lib import losses

    if isinstance(loss, str):
        key = loss.removeprefix("source_lib>")
        return losses.get(key) if key in losses.LOSSES else keras.losses.get(loss)
    if callable(loss):
        return loss
    raise ValueError(
        f"regularised_objective needs one loss (a name or a callable); model.loss is {loss!r} "
        f"of type {type(loss).__name__}."
    )


def _penalised_weights(model):
    """``[(kind, factor, variable)]`` for every kernel/bias with an L1 or L2 regulariser."""
    weights = {"kernel_regularizer": "kernel", "bias_regularizer": "bias"}
    regularised = []
    for layer in _walk_layers(model):
        found = _regularizers(layer)
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
            config = reg.get_config() if isinstance(reg, keras.regularizers.Regularizer) else None
            if config is None or isinstance(reg, keras.regularizers.L1L2) or set(config) - {"l1", "l2"} or len(config) != 1:
                raise ValueError(
                    f"regularised_objective handles keras.regularizers.L1 or L2 only; "
                    f"layer {layer.name!r} has {attr}={type(reg).__name__}({config or ''})."
                )
            (kind, factor), = config.items()
            regularised.append((kind, float(factor), getattr(layer, weights[attr])))
    return regularised


def regularised_objective(model, x, y) -> dict:
    """The lecture's E(X, Y, w) = C(X, Y, w) + lambda R(w) of a compiled model.

        E = C + lambda R,   R = sum w^2 (L2)  or  R = sum |w| (L1).

    C is the compiled loss averaged over the samples; R is computed here from
    the regularised kernels and biases; E is C plus Keras's own penalty
    ``sum(model.losses)``, what ``model.fit`` minimises, so E - C = lambda R
    checks Keras's bookkeeping against the formula (any other term in
    ``model.losses``, an ``add_loss``, gives a ``UserWarning``). Keras's
    ``L2(l2)`` adds ``l2 * sum w^2``: Nielsen's ``lambda/(2n) sum w^2`` is
    ``L2(lambda / (2 n))``. ``model.loss`` may be a callable, a Keras loss
    name or a source_lib name such as ``"half_mse"``.

    Args:
        model: a compiled Keras model whose regularised layers all use one
            kind, L1 or L2, with one factor.
        x, y: the data (one batch; C is averaged over all of it).

    Returns:
        ``dict(C=..., R=..., E=..., lam=..., kind="l1"|"l2")`` of Python floats.

    Raises:
        ValueError: no loss or no regulariser, mixed kinds/factors, an L1L2
            or custom regulariser, or one other than kernel_/bias_regularizer.

    Reference:
        - [Goodfellow, Bengio & Courville, "Deep Learning", sec. 7.1](https://www.deeplearningbook.org/contents/regularization.html)
    """
    if getattr(model, "loss", None) is None:
        raise ValueError("model must be compiled with a loss (model.compile(loss=...)).")
    loss = _resolve_compiled_loss(model.loss)
    regularised = _penalised_weights(model)
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
