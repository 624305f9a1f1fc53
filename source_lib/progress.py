"""Compact progress for the long cells of the lecture notebooks.

A cell that trains for half a minute with ``verbose=0`` looks hung. Keras's own
``verbose=1`` prints one bar per epoch of every ``fit``, hundreds of lines for a
cell that trains ten models. ``EpochProgress`` is one line for the whole cell:
a tqdm bar over all the epochs of all its ``fit`` calls, with the elapsed and
the remaining time. ``steps`` is the same line over a plain loop.

Both write plain text to ``sys.stdout`` (tqdm's text bar, not a widget): it
looks the same in Jupyter, on Colab, in a terminal and in the HTML that
nbconvert renders, and a notebook shows no red stderr text for it.
"""

from __future__ import annotations

import sys

import keras
from tqdm.std import tqdm

__all__ = ["EpochProgress", "steps"]

_BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar:20}| {n_fmt}/{total_fmt} {unit} [{elapsed}<{remaining}{postfix}]"


def _bar(total, description, unit, file, iterable=None):
    return tqdm(iterable, total=total, desc=description, unit=unit, file=file or sys.stdout,
                bar_format=_BAR_FORMAT, mininterval=1.0, dynamic_ncols=False, ncols=100)


class EpochProgress(keras.callbacks.Callback):
    """One progress line over the epochs of one or several ``fit`` calls.

    Pass the same instance to every ``fit`` of a cell, with ``total`` the
    number of epochs of all of them together; after each epoch the bar moves
    by one and shows the epoch's training loss. Use it as a context manager
    (or call ``close``) so that the line is finished when the cell ends.

    Args:
        total: the epochs of all the ``fit`` calls together, for example
            ``runs * epochs``.
        description: the text before the bar.
        file: where the bar is written (default ``sys.stdout``).

    Example:
        >>> with EpochProgress(total=2 * 3, description="2 models") as bar:
        ...     for model in models:
        ...         model.fit(x, y, epochs=3, verbose=0, callbacks=[bar])
    """

    def __init__(self, total: int, description: str = "training", file=None):
        super().__init__()
        if isinstance(total, bool) or not isinstance(total, int) or total < 1:
            raise ValueError(f"`total` must be a positive int (the epochs of all the fits), got {total!r}")
        self.bar = _bar(total, description, "epochs", file)

    def on_epoch_end(self, epoch, logs=None):
        if logs and "loss" in logs:
            self.bar.set_postfix_str(f"loss {float(logs['loss']):.3f}", refresh=False)
        self.bar.update(1)

    def set_description(self, text: str) -> None:
        """Change the text before the bar, for example to name the model now training."""
        self.bar.set_description_str(text, refresh=False)

    def close(self) -> None:
        """Finish the line (idempotent)."""
        self.bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def steps(iterable, description: str, total: int | None = None, unit: str = "runs", file=None):
    """Iterate over `iterable` with one progress line (elapsed and remaining time).

    Args:
        iterable: what the loop goes over.
        description: the text before the bar.
        total: the number of items, if `iterable` has no ``len``.
        unit: what one item is, shown after the count.
        file: where the bar is written (default ``sys.stdout``).

    Returns:
        An iterator over the items of `iterable` (a ``tqdm`` object).
    """
    return _bar(total, description, unit, file, iterable=iterable)
