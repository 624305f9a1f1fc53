"""The course's matplotlib figures.

Every function returns the matplotlib ``Figure`` it drew, with labelled axes
and a legend wherever more than one line shares a plot, so notebooks can show
it and tests can inspect it. Import is cheap: pyplot is loaded on first use.
"""

from __future__ import annotations


def _plt():
    import matplotlib.pyplot as plt

    return plt


# --- activations (activation and derivative grids) ---------------------------

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

    One panel per quantity, epochs on the x axis, one line per run.

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
    fig, axes = plt.subplots(
        1, len(quantities), figsize=(panel_size[0] * len(quantities), panel_size[1]), squeeze=False
    )
    for ax, q in zip(axes[0], quantities):
        for label, r in items:
            ax.plot(r.epoch, getattr(r, q), label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(_QUANTITY_LABELS[q])
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_loss_vs_prediction(losses, y_true=1.0, y_pred=None, ncols=3, panel_size=(3.4, 2.8)):
    """One panel per loss: the per-sample loss L(y_true, ŷ) of one output against ŷ.

    Args:
        losses: names from `source_lib.losses.LOSSES`, (label, fn) pairs or a
            dict {label: name-or-fn}. Each fn is called as fn(y_true, y_pred)
            with arrays of shape (points, 1).
        y_true: the target, one number (for "hinge" use -1 or +1).
        y_pred: the predictions ŷ (default `np.linspace(0.01, 3, 300)`).
        ncols: panels per row.
        panel_size: (width, height) in inches of one panel.

    Returns:
        The matplotlib Figure.
    """
    import numpy as np

    from source_lib import losses as _losses

    plt = _plt()
    if isinstance(losses, str) or callable(losses):
        losses = [losses]
    if isinstance(losses, dict):
        items = list(losses.items())
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
    y_pred = np.linspace(0.01, 3.0, 300) if y_pred is None else np.asarray(y_pred, dtype=np.float64)
    y_true_arr = np.full((y_pred.size, 1), float(y_true))
    nrows = -(-len(items) // ncols)
    ncols = min(ncols, len(items))
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size[0] * ncols, panel_size[1] * nrows), squeeze=False)
    for ax, (label, loss) in zip(axes.flat, items):
        fn = _losses.get(loss)
        values = np.asarray(fn(y_true_arr, y_pred.reshape(-1, 1)))
        ax.plot(y_pred, values, label=f"{label}(y={float(y_true):g}, ŷ)")
        ax.axvline(float(y_true), color="grey", linestyle=":", label=f"ŷ = y = {float(y_true):g}")
        ax.set_title(label)
        ax.set_xlabel("prediction ŷ")
        ax.set_ylabel("loss L")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    for ax in list(axes.flat)[len(items):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


# --- vanishing gradient (per-layer speeds) -----------------------------------
