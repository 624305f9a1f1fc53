"""The course's matplotlib figures.

Every function returns the matplotlib ``Figure`` it drew, with labelled axes
and a legend wherever more than one line shares a plot, so notebooks can show
it and tests can inspect it. Import is cheap: pyplot is loaded on first use.
"""

from __future__ import annotations

__all__ = [
    "activation_grid",
    "derivative_overlay",
    "layer_statistics",
    "plot_learning_curves",
    "plot_loss_vs_prediction",
    "plot_layer_speeds",
    "plot_speed_history",
]


def _plt():
    import matplotlib.pyplot as plt

    return plt


# --- activations (activation and derivative grids) ---------------------------


def _activation_items(activations):
    """Normalise `activations` to a list of (label, callable-or-name) pairs.

    Accepts a name from `source_lib.activations.ACTIVATIONS`, a list of names
    and/or (label, callable) pairs, or a dict {label: name-or-callable}.
    """
    if isinstance(activations, str) or callable(activations):
        activations = [activations]
    if isinstance(activations, dict):
        return list(activations.items())
    items = []
    for item in activations:
        if isinstance(item, tuple):
            items.append((str(item[0]), item[1]))
        elif isinstance(item, str):
            items.append((item, item))
        elif callable(item):
            items.append((getattr(item, "__name__", "f"), item))
        else:
            raise TypeError(f"activations: expected a name, a callable or (label, fn), got {item!r}")
    if not items:
        raise ValueError("activations: need at least one activation")
    return items


def activation_grid(activations, x=None, ncols=4, derivative=True, panel_size=(3.2, 2.6)):
    """One panel per activation: f(x) and, by default, its derivative f'(x).

    f' comes from autodiff (`source_lib.activations.gradient_profile`), so the
    figure checks nothing the students are asked to derive. Each panel has a
    title, labelled axes, a zero line and a legend (f and f').

    Args:
        activations: names, (label, fn) pairs or a {label: fn} dict.
        x: the points (default `np.linspace(-5, 5, 401)`).
        ncols: panels per row.
        derivative: also draw f'(x) (dashed).
        panel_size: (width, height) in inches of one panel.

    Returns:
        The matplotlib Figure.
    """
    import numpy as np

    from source_lib.activations import gradient_profile

    plt = _plt()
    items = _activation_items(activations)
    x = np.linspace(-5.0, 5.0, 401) if x is None else np.asarray(x, dtype=np.float64)
    ncols = max(1, min(int(ncols), len(items)))
    nrows = -(-len(items) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size[0] * ncols, panel_size[1] * nrows),
                             squeeze=False, constrained_layout=True)
    for ax, (label, fn) in zip(axes.flat, items):
        f, df = gradient_profile(fn, x)
        ax.axhline(0.0, color="0.75", lw=0.8)
        ax.axvline(0.0, color="0.75", lw=0.8)
        ax.plot(x, f, lw=2, label="f(x)")
        if derivative:
            ax.plot(x, df, lw=1.6, ls="--", label="f′(x)")
        ax.set_title(label)
        ax.set_xlabel("x")
        ax.set_ylabel("f(x), f′(x)" if derivative else "f(x)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", loc="upper left")
    for ax in list(axes.flat)[len(items):]:
        ax.set_visible(False)
    return fig


def derivative_overlay(activations, x=None, ax=None, marks=None):
    """The derivatives f'(x) of several activations on one axes (autodiff).

    Horizontal dotted lines mark `marks`: by default 1 and, when the sigmoid
    is one of the curves, 0.25 (its largest slope), so the figure reads like
    the lecture's derivative table and draws no guide without its curve.

    Args:
        activations: a name from `source_lib.activations.ACTIVATIONS`, a list
            of names, callables and/or (label, fn) pairs, or a dict
            {label: name-or-callable}; one curve each.
        x: the points z, any array-like (default `np.linspace(-6, 6, 601)`);
            the derivatives are taken in float64 by
            `source_lib.activations.gradient_profile`.
        ax: a matplotlib Axes to draw on; by default a new figure is made.
        marks: levels drawn as labelled dotted horizontal lines (an empty
            tuple for none); None for the default above.

    Returns:
        The matplotlib Figure (the one that holds `ax` when `ax` is given).
    """
    import numpy as np

    from source_lib.activations import gradient_profile

    plt = _plt()
    items = _activation_items(activations)
    x = np.linspace(-6.0, 6.0, 601) if x is None else np.asarray(x, dtype=np.float64)
    if marks is None:
        from source_lib.activations import sigmoid

        has_sigmoid = any(fn == "sigmoid" or fn is sigmoid for _, fn in items)
        marks = (0.25, 1.0) if has_sigmoid else (1.0,)
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.5, 4.2), constrained_layout=True)
    else:
        fig = ax.figure
    for level in marks:
        ax.axhline(level, color="0.5", lw=0.8, ls=":")
        ax.annotate(f"{level:g}", (x[0], level), xytext=(2, 2), textcoords="offset points",
                    fontsize="small", color="0.4")
    for label, fn in items:
        ax.plot(x, gradient_profile(fn, x)[1], lw=1.8, label=label)
    ax.axhline(0.0, color="0.75", lw=0.8)
    ax.set_xlabel("z")
    ax.set_ylabel("f′(z)")
    ax.set_title("Derivatives of the activations (autodiff)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", ncol=2)
    return fig


def layer_statistics(stats, title="Activations through the layers", reference=(0.0, 1.0)):
    """Mean and standard deviation of the activations, layer by layer.

    Args:
        stats: {label: (means, stds)}, one entry per activation; `means[k]` and
            `stds[k]` describe the output of layer k + 1.
        title: the figure's title.
        reference: (mean, std) drawn as dotted lines (SELU's fixed point 0, 1);
            None for none.

    Returns:
        The matplotlib Figure, two panels: mean per layer, std per layer.
    """
    import numpy as np

    plt = _plt()
    fig, (ax_m, ax_s) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    for label, (means, stds) in stats.items():
        layers = np.arange(1, len(means) + 1)
        ax_m.plot(layers, means, marker="o", ms=3, label=label)
        ax_s.plot(layers, stds, marker="o", ms=3, label=label)
    if reference is not None:
        ax_m.axhline(reference[0], color="0.4", ls=":", lw=1)
        ax_s.axhline(reference[1], color="0.4", ls=":", lw=1)
    ax_m.set(xlabel="layer", ylabel="mean of activations", title="Mean")
    ax_s.set(xlabel="layer", ylabel="std of activations", title="Standard deviation")
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_m, ax_s):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(title)
    return fig


# --- losses (learning curves of the single-neuron slowdown) ------------------


def _record_items(records):
    """Normalise `records` to a list of (label, SlowdownRecord) pairs."""
    if hasattr(records, "a") and hasattr(records, "epoch"):
        records = [records]
    if isinstance(records, dict):
        items = [(str(k), v) for k, v in records.items()]
    else:
        items = [(r.label, r) for r in records]
    if not items:
        raise ValueError("records: need at least one SlowdownRecord")
    for label, r in items:
        if not (hasattr(r, "a") and hasattr(r, "epoch")):
            raise TypeError(f"records: expected SlowdownRecord values, got {type(r).__name__} for {label!r}")
    return items


_QUANTITY_LABELS = {
    "a": "output a = σ(wx + b)",
    "C": "loss C",
    "w": "weight w",
    "b": "bias b",
}


def plot_learning_curves(records, quantities=("a", "C"), panel_size=(4.8, 3.4), title=None):
    """Learning curves of the single-neuron slowdown (Nielsen, NNDL ch. 3).

    One panel per quantity, epochs on the x axis, one line per run. The runs'
    legend (attached to the first panel) sits under the panels, where it
    covers no curve.

    Args:
        records: a `source_lib.slowdown.SlowdownRecord`, a list of them
            (labelled by loss and starting w, b) or a dict {label: record}.
        quantities: which of "a", "C", "w", "b" to draw, one panel each.
        panel_size: (width, height) in inches of one panel.
        title: an optional title over the whole figure.

    Returns:
        The matplotlib Figure.
    """
    plt = _plt()
    items = _record_items(records)
    if isinstance(quantities, str):
        quantities = (quantities,)
    unknown = [q for q in quantities if q not in _QUANTITY_LABELS]
    if unknown or not quantities:
        raise ValueError(f"quantities: choose from {list(_QUANTITY_LABELS)}; got {list(quantities)!r}")
    fig, axes = plt.subplots(1, len(quantities), figsize=(panel_size[0] * len(quantities), panel_size[1]),
                             squeeze=False, constrained_layout=True)
    for ax, q in zip(axes[0], quantities):
        for label, r in items:
            ax.plot(r.epoch, getattr(r, q), label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(_QUANTITY_LABELS[q])
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize="small", loc="upper left", bbox_to_anchor=(0.0, -0.2),
                      ncol=2 if len(items) > 1 else 1)
    if title:
        fig.suptitle(title)
    return fig


_PROBABILITY_LOSSES = ("binary_cross_entropy", "log_likelihood", "kl_divergence")
_DEFAULT_PREDICTIONS = {
    "binary_cross_entropy": (0.001, 0.999),
    "log_likelihood": (0.001, 0.999),
    "kl_divergence": (0.001, 0.999),
    "hinge": (-2.0, 3.0),
}
_OTHER_PREDICTIONS = (0.01, 3.0)


def _loss_items(losses):
    """Normalise `losses` to a list of (label, name-or-callable) pairs."""
    if isinstance(losses, str) or callable(losses):
        losses = [losses]
    if isinstance(losses, dict):
        items = [(str(k), v) for k, v in losses.items()]
    else:
        items = []
        for item in losses:
            if isinstance(item, tuple):
                items.append((str(item[0]), item[1]))
            elif isinstance(item, str):
                items.append((item, item))
            else:
                items.append((getattr(item, "__name__", type(item).__name__), item))
    if not items:
        raise ValueError("losses: need at least one loss")
    return items


def _loss_curve(label, fn, kind, y_true, y_pred):
    """The per-sample loss of each point of `y_pred` (1-D) against the target `y_true`."""
    import keras
    import numpy as np

    n = y_pred.size
    if kind in _PROBABILITY_LOSSES and (y_pred.min() < 0.0 or y_pred.max() > 1.0):
        raise ValueError(
            f"y_pred: {label} ({kind}) takes probabilities, so y_pred must lie in [0, 1]; "
            f"got min {y_pred.min():g}, max {y_pred.max():g} (leave y_pred=None for the default (0, 1))."
        )
    if kind == "log_likelihood":  # two classes: ŷ = P(class 1), y_true = the class, 0 or 1
        if y_true not in (0.0, 1.0):
            raise ValueError(
                f"y_true: {label} (log_likelihood) is drawn for two classes, ŷ = P(class 1), so y_true "
                f"must be the class 0 or 1; got {y_true:g}."
            )
        return fn(np.full(n, int(y_true)), np.stack([1.0 - y_pred, y_pred], axis=-1))
    if kind == "kl_divergence":  # Bernoulli(y) against Bernoulli(ŷ)
        if not 0.0 <= y_true <= 1.0:
            raise ValueError(f"y_true: {label} (kl_divergence) takes a probability in [0, 1]; got {y_true:g}.")
        return fn(np.tile([1.0 - y_true, y_true], (n, 1)), np.stack([1.0 - y_pred, y_pred], axis=-1))
    if isinstance(fn, keras.losses.Loss):  # its per-sample values, not the batch mean
        return fn.call(np.full((n, 1), y_true), y_pred.reshape(-1, 1))
    return fn(np.full((n, 1), y_true), y_pred.reshape(-1, 1))


def plot_loss_vs_prediction(losses, y_true=1.0, y_pred=None, ncols=3, panel_size=(3.4, 2.8)):
    """One panel per loss: the per-sample loss L(y_true, ŷ) of one output against ŷ.

    Each source_lib loss is drawn on its own default range of ŷ unless
    `y_pred` is given: the probability losses (``binary_cross_entropy``,
    ``log_likelihood``, ``kl_divergence``) on (0, 1) (0.001 to 0.999),
    ``hinge`` on [-2, 3], the others and any other callable on [0.01, 3].
    The softmax losses are drawn for **two classes**, with ŷ the predicted
    probability of class 1: ``log_likelihood`` is -ln a_y for the outputs
    (1 - ŷ, ŷ) and class y_true (0 or 1), and ``kl_divergence`` compares the
    distributions (1 - y, y) and (1 - ŷ, ŷ). For the probability losses a
    `y_pred` outside [0, 1] raises a ``ValueError``.

    Args:
        losses: names from `source_lib.losses.LOSSES`, (label, fn) pairs or a
            dict {label: name-or-fn}. A function other than a source_lib loss
            is called as fn(y_true, y_pred) with arrays of shape (points, 1);
            a ``keras.losses.Loss`` object through its per-sample ``call``.
        y_true: the target, one number (for "hinge" use -1 or +1, for
            "log_likelihood" the class 0 or 1).
        y_pred: the predictions ŷ for every panel (default: each loss's range
            above, 300 points).
        ncols: panels per row.
        panel_size: (width, height) in inches of one panel.

    Returns:
        The matplotlib Figure.

    Raises:
        ValueError: no losses, a `y_pred` outside [0, 1] for a probability
            loss, or a `y_true` the loss cannot take.
    """
    import numpy as np

    from source_lib import losses as _losses

    plt = _plt()
    items = _loss_items(losses)
    y_true = float(y_true)
    given = None if y_pred is None else np.asarray(y_pred, dtype=np.float64).ravel()
    nrows = -(-len(items) // ncols)
    ncols = min(ncols, len(items))
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size[0] * ncols, panel_size[1] * nrows), squeeze=False,
                             constrained_layout=True)
    try:
        for ax, (label, loss) in zip(axes.flat, items):
            fn = _losses.get(loss)
            kind = next((name for name, f in _losses.LOSSES.items() if f is fn), None)
            x = given if given is not None else np.linspace(*_DEFAULT_PREDICTIONS.get(kind, _OTHER_PREDICTIONS), 300)
            values = np.asarray(_loss_curve(label, fn, kind, y_true, x))
            ax.plot(x, values, label=f"{label}(y={y_true:g}, ŷ)")
            ax.axvline(y_true, color="grey", linestyle=":", label=f"ŷ = y = {y_true:g}")
            ax.set_title(label)
            ax.set_xlabel("prediction ŷ = P(class 1)" if kind in ("log_likelihood", "kl_divergence") else "prediction ŷ")
            ax.set_ylabel("loss L")
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
    except Exception:
        plt.close(fig)
        raise
    for ax in list(axes.flat)[len(items):]:
        ax.set_visible(False)
    return fig


# --- vanishing gradient (per-layer speeds) -----------------------------------


def plot_layer_speeds(speeds_by_label, log=True, title="Speed of learning per hidden layer", ax=None):
    """Grouped bars of the per-layer speeds ||dC/db_l||, one colour per network.

    Nielsen's picture of the vanishing gradient: for each hidden layer l
    (x axis) one bar per network (for example per depth, or per activation),
    so the faster later layers and the slow first ones stand side by side.

    Args:
        speeds_by_label: ``{label: speeds}`` with ``speeds`` a sequence of the
            per-layer speeds (layer 1 first), e.g. ``{"2 hidden": s2,
            "3 hidden": s3, "4 hidden": s4}``; a single sequence is drawn as one
            network. Networks of different depth are fine.
        log: logarithmic y axis (the speeds span orders of magnitude).
        title: axes title.
        ax: an existing matplotlib ``Axes`` to draw into.

    Returns:
        The matplotlib ``Figure``.
    """
    import numpy as np

    plt = _plt()
    if not isinstance(speeds_by_label, dict):
        speeds_by_label = {"speed": speeds_by_label}
    if not speeds_by_label:
        raise ValueError("`speeds_by_label` is empty")
    series = {str(k): np.asarray(v, dtype=float).ravel() for k, v in speeds_by_label.items()}
    depth = max(len(v) for v in series.values())
    if ax is None:
        fig, ax = plt.subplots(figsize=(2.2 + 0.9 * depth * len(series) ** 0.5, 4), constrained_layout=True)
    else:
        fig = ax.figure
    width = 0.8 / len(series)
    for i, (label, s) in enumerate(series.items()):
        x = np.arange(1, len(s) + 1) + (i - (len(series) - 1) / 2) * width
        ax.bar(x, s, width=width, label=label)
    ax.set_xticks(np.arange(1, depth + 1))
    ax.set_xlabel("hidden layer l (input side → output side)")
    ax.set_ylabel(r"speed of learning $\|\partial C/\partial b_l\|$")
    if log:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, never on them
    ax.grid(axis="y", alpha=0.3)
    return fig


def plot_speed_history(history, epochs=None, title="Speed of learning during training", ax=None):
    """Per-layer speeds over the epochs of training, on a log y axis.

    Args:
        history: a ``source_lib.vanishing.GradientNormHistory`` callback after
            ``fit``, or an array of shape ``(records, L)``.
        epochs: the epoch of each record (taken from the callback if omitted;
            ``0..records-1`` for an array).
        title: axes title.
        ax: an existing matplotlib ``Axes`` to draw into.

    Returns:
        The matplotlib ``Figure``.
    """
    import numpy as np

    plt = _plt()
    if hasattr(history, "speeds"):
        epochs = history.epochs if epochs is None else epochs
        speeds = np.asarray(history.speeds, dtype=float)
    else:
        speeds = np.asarray(history, dtype=float)
    if speeds.ndim != 2 or speeds.shape[0] == 0:
        raise ValueError(f"`history` must hold speeds of shape (records, layers), got shape {speeds.shape}")
    epochs = np.arange(speeds.shape[0]) if epochs is None else np.asarray(epochs)
    if len(epochs) != speeds.shape[0]:
        raise ValueError(f"`epochs` has {len(epochs)} entries for {speeds.shape[0]} records")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    else:
        fig = ax.figure
    for layer in range(speeds.shape[1]):
        ax.plot(epochs, speeds[:, layer], label=f"hidden layer {layer + 1}")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(r"speed of learning $\|\partial C/\partial b_l\|$")
    ax.set_title(title)
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return fig
