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

# --- vanishing gradient (per-layer speeds) -----------------------------------
