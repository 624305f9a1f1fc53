"""The lecture's slide diagrams, drawn with matplotlib.

The slides of part 3 show four pictures: the chain of four one-neuron layers
("Глубина НС"), a ResNet block with its residual connection, an LSTM cell and
a fragment of GoogLeNet ("«Восстановление» затухающего градиента"). These
functions draw them from boxes and arrows, so the notebooks need no image
files and the figures follow the notebooks' notation. Each returns its
matplotlib ``Figure``.
"""

from __future__ import annotations

__all__ = ["neuron_chain", "resnet_block", "lstm_cell", "googlenet_fragment"]

_LAYER = "#dbe9f6"  # weight layers
_ACT = "#fde2c4"  # activations and gates
_OP = "#e8e8e8"  # sums, products, concatenations
_AUX = "#f6d5d5"  # what exists only during training
_GRAD = "tab:red"  # the backward path


def _canvas(width, height, xlim, ylim):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height), constrained_layout=True)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def _box(ax, x, y, text, w=1.6, h=0.6, fc=_LAYER, fontsize=10, round_=True):
    """A labelled box centred at (x, y)."""
    from matplotlib.patches import FancyBboxPatch

    style = "round,pad=0.02,rounding_size=0.12" if round_ else "square,pad=0.02"
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle=style, fc=fc, ec="0.25", lw=1.1))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def _circle(ax, x, y, text, r=0.32, fc=_OP, fontsize=11):
    """A labelled circle centred at (x, y) (a neuron, a sum, a product)."""
    from matplotlib.patches import Circle

    ax.add_patch(Circle((x, y), r, fc=fc, ec="0.25", lw=1.1))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, start, end, text=None, color="0.2", offset=(0.0, 0.15), ls="-", rad=0.0, fontsize=9, **text_kw):
    """An arrow from `start` to `end`, with an optional label near its middle."""
    ax.annotate("", xy=end, xytext=start,
                arrowprops=dict(arrowstyle="-|>", color=color, lw=1.3, ls=ls, shrinkA=0, shrinkB=0,
                                connectionstyle=f"arc3,rad={rad}"))
    if text:
        mx, my = (start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1]
        ax.text(mx, my, text, ha="center", va="bottom", fontsize=fontsize, color=color, **text_kw)


def neuron_chain():
    """The lecture's chain of four one-neuron layers and the path of dC/db_1.

    Forward (black): z_l = w_l a_{l-1} + b_l, a_l = sigma(z_l), from the input x
    to the cost C. Backward (red, dashed): the factors that the gradient of
    the first bias collects on its way back,

        dC/db_1 = sigma'(z_1) w_2 sigma'(z_2) w_3 sigma'(z_3) w_4 sigma'(z_4) dC/da_4.

    Returns:
        The matplotlib Figure.

    Reference:
        - [Nielsen, NNDL ch. 5, "What's causing the vanishing gradient problem?"](
            http://neuralnetworksanddeeplearning.com/chap5.html)
    """
    fig, ax = _canvas(11, 3.0, (-0.6, 12.2), (-1.7, 1.3))
    xs = [2.0, 4.6, 7.2, 9.8]
    ax.text(0.0, 0.0, "x", ha="center", va="center", fontsize=13)
    _arrow(ax, (0.25, 0.0), (xs[0] - 0.35, 0.0), "$w_1$")
    for l, x in enumerate(xs, start=1):
        _circle(ax, x, 0.0, rf"$\sigma$", r=0.35, fc=_ACT, fontsize=13)
        ax.text(x, 0.5, f"$b_{l}$", ha="center", va="bottom", fontsize=10)
        ax.text(x, -0.55, rf"$a_{l} = \sigma(z_{l})$", ha="center", va="top", fontsize=9)
        if l < 4:
            _arrow(ax, (x + 0.35, 0.0), (xs[l] - 0.35, 0.0), f"$w_{l + 1}$")
    _arrow(ax, (xs[-1] + 0.35, 0.0), (11.55, 0.0), None)
    ax.text(11.85, 0.0, "C", ha="center", va="center", fontsize=13)
    # the backward path with its factors
    factors = [r"$\times\,\partial C/\partial a_4$", r"$\times\,\sigma'(z_4)\,w_4$", r"$\times\,\sigma'(z_3)\,w_3$",
               r"$\times\,\sigma'(z_2)\,w_2$"]
    stops = [11.6] + xs[::-1]
    for k in range(4):
        _arrow(ax, (stops[k], -1.2), (stops[k + 1], -1.2), factors[k], color=_GRAD, ls="--", offset=(0.0, 0.05))
    ax.text(xs[0] - 0.15, -1.2, r"$\times\,\sigma'(z_1) = \partial C/\partial b_1$", ha="right", va="center",
            fontsize=9, color=_GRAD)
    ax.set_title("Four layers with one sigmoid neuron each: forward (black) and the gradient's way back (red)",
                 fontsize=11)
    return fig


def resnet_block():
    """A ResNet block: two weight layers F(x) and the identity connection, out = ReLU(F(x) + x).

    Returns:
        The matplotlib Figure.

    Reference:
        - [He et al., 2016, Deep Residual Learning for Image Recognition, fig. 2](
            https://arxiv.org/abs/1512.03385)
    """
    fig, ax = _canvas(4.6, 5.2, (-2.2, 2.8), (-0.4, 6.4))
    _arrow(ax, (0, 6.2), (0, 5.3), None)
    ax.text(0.15, 6.05, "x", ha="left", va="center", fontsize=12)
    _box(ax, 0, 5.0, "weight layer")
    _arrow(ax, (0, 4.7), (0, 4.25))
    _box(ax, 0, 3.95, "ReLU", w=1.0, h=0.5, fc=_ACT)
    _arrow(ax, (0, 3.7), (0, 3.25))
    _box(ax, 0, 2.95, "weight layer")
    ax.text(-1.0, 3.95, "F(x)", ha="right", va="center", fontsize=11)
    _arrow(ax, (0, 2.65), (0, 1.92))
    _circle(ax, 0, 1.6, "+", r=0.3)
    ax.text(0.4, 1.25, "F(x) + x", ha="left", va="center", fontsize=10)
    _arrow(ax, (0, 1.3), (0, 0.85))
    _box(ax, 0, 0.6, "ReLU", w=1.0, h=0.5, fc=_ACT)
    _arrow(ax, (0, 0.35), (0, -0.3))
    # the identity (skip) connection
    ax.plot([0, 1.8, 1.8], [5.85, 5.85, 1.6], color=_GRAD, lw=1.6)
    _arrow(ax, (1.8, 1.6), (0.3, 1.6), color=_GRAD)
    ax.text(1.9, 3.7, "x\nidentity", ha="left", va="center", fontsize=10, color=_GRAD)
    ax.set_title("ResNet block: the gradient also flows\nthrough the identity path (red)", fontsize=11)
    return fig


def lstm_cell():
    """An LSTM cell: forget, input and output gates around the additive cell-state path.

    c_t = f_t * c_{t-1} + i_t * c~_t and h_t = o_t * tanh(c_t), with the gates
    f, i, o = sigma(W [h_{t-1}, x_t] + b) and c~_t = tanh(W_c [h_{t-1}, x_t] + b_c).
    The cell state runs along the top; on its way back each step multiplies
    the gradient only by the forget gate f_t.

    Returns:
        The matplotlib Figure.

    Reference:
        - [Hochreiter & Schmidhuber, 1997, Long Short-Term Memory](
            https://www.bioinf.jku.at/publications/older/2604.pdf)
        - [Olah, 2015, Understanding LSTM Networks](https://colah.github.io/posts/2015-08-Understanding-LSTMs/)
    """
    fig, ax = _canvas(8.5, 4.6, (-1.3, 10.3), (-1.4, 4.9))
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((0.2, -0.2), 8.6, 4.4, boxstyle="round,pad=0.05,rounding_size=0.3",
                                fc="#f7f7f7", ec="0.5", lw=1))
    top = 3.6
    # the cell state path
    ax.text(-0.4, top, "$c_{t-1}$", ha="right", va="center", fontsize=12, color=_GRAD)
    _arrow(ax, (-0.35, top), (2.18, top), color=_GRAD)
    _circle(ax, 2.5, top, r"$\times$", r=0.3)
    _arrow(ax, (2.82, top), (5.18, top), color=_GRAD)
    _circle(ax, 5.5, top, "+", r=0.3)
    _arrow(ax, (5.82, top), (9.6, top), color=_GRAD)
    ax.text(9.7, top, "$c_t$", ha="left", va="center", fontsize=12, color=_GRAD)
    # the gates, fed by [h_{t-1}, x_t]
    gates = [(2.5, r"$\sigma$", "$f_t$ forget"), (4.3, r"$\sigma$", "$i_t$ input"), (5.5, "tanh", r"$\tilde c_t$"),
             (7.0, r"$\sigma$", "$o_t$ output")]
    for x, label, name in gates:
        _box(ax, x, 1.0, label, w=0.8, h=0.5, fc=_ACT, fontsize=11)
        ax.text(x, 0.6, name, ha="center", va="top", fontsize=9)
    ax.plot([-0.4, 7.0], [0.25, 0.25], color="0.2", lw=1.2)
    for x, *_ in gates:
        _arrow(ax, (x, 0.25), (x, 0.75))
    ax.text(-0.5, 0.25, "$h_{t-1}$", ha="right", va="center", fontsize=12)
    _arrow(ax, (1.2, -1.1), (1.2, 0.25))
    ax.text(1.2, -1.25, "$x_t$", ha="center", va="top", fontsize=12)
    _arrow(ax, (2.5, 1.25), (2.5, top - 0.3))  # f_t into the product with c_{t-1}
    _circle(ax, 4.9, 2.3, r"$\times$", r=0.3)  # i_t * c~_t
    _arrow(ax, (4.3, 1.25), (4.7, 2.06))
    _arrow(ax, (5.5, 1.25), (5.1, 2.06))
    _arrow(ax, (4.9, 2.6), (5.32, top - 0.25))
    # output: h_t = o_t * tanh(c_t)
    _box(ax, 8.2, 2.6, "tanh", w=0.8, h=0.45, fc=_ACT)
    _arrow(ax, (8.2, top), (8.2, 2.83))
    _circle(ax, 8.2, 1.0, r"$\times$", r=0.3)
    _arrow(ax, (8.2, 2.37), (8.2, 1.3))
    _arrow(ax, (7.4, 1.0), (7.9, 1.0))
    _arrow(ax, (8.5, 1.0), (9.6, 1.0))
    ax.text(9.7, 1.0, "$h_t$", ha="left", va="center", fontsize=12)
    ax.text(3.9, top + 0.3, r"$c_t = f_t \odot c_{t-1} + i_t \odot \tilde c_t$", ha="center", va="bottom",
            fontsize=10, color=_GRAD)
    ax.set_title("LSTM cell: the cell state (red) is passed on additively, multiplied only by the forget gate",
                 fontsize=11)
    return fig


def googlenet_fragment():
    """A fragment of GoogLeNet: an Inception module and one of the two auxiliary classifiers.

    The four parallel branches (1x1; 1x1 then 3x3; 1x1 then 5x5; 3x3 max
    pooling then 1x1) are concatenated. After the module (in GoogLeNet: after
    Inception 4a and 4d) an auxiliary classifier (5x5 average pooling, 1x1
    convolution, two fully connected layers, softmax) adds its loss with weight
    0.3 during training, sending a strong gradient into the middle of the
    network; it is dropped at inference.

    Returns:
        The matplotlib Figure.

    Reference:
        - [Szegedy et al., 2015, Going Deeper with Convolutions, figs. 2 and 3](https://arxiv.org/abs/1409.4842)
    """
    fig, ax = _canvas(11, 5.2, (-0.5, 15.3), (-0.6, 7.0))
    _box(ax, 4.5, 6.4, "previous layer", w=2.6, fc=_OP)
    branches = [(1.2, ["1×1 conv"]), (3.4, ["1×1 conv", "3×3 conv"]), (5.6, ["1×1 conv", "5×5 conv"]),
                (7.8, ["3×3 max pool", "1×1 conv"])]
    for (x, layers), start in zip(branches, (3.3, 4.1, 4.9, 5.7)):  # fanned out so no arrow crosses a box
        _arrow(ax, (start, 6.1), (x, 5.2 if len(layers) == 2 else 3.8))
        ys = [4.9, 3.5] if len(layers) == 2 else [3.5]
        for y, name in zip(ys, layers):
            _box(ax, x, y, name, w=1.9, fc=_ACT if "pool" in name else _LAYER, fontsize=9)
        if len(layers) == 2:
            _arrow(ax, (x, 4.6), (x, 3.8))
        _arrow(ax, (x, 3.2), (4.5, 2.25))
    _box(ax, 4.5, 1.95, "filter concatenation", w=3.4, fc=_OP)
    ax.text(-0.3, 4.2, "Inception\nmodule", ha="left", va="center", fontsize=10, rotation=90)
    _arrow(ax, (4.5, 1.65), (4.5, 0.6))
    _box(ax, 4.5, 0.3, "more Inception modules → main softmax", w=5.6, fc=_OP, fontsize=9)
    # the auxiliary classifier
    aux = ["5×5 avg pool", "1×1 conv", "FC", "FC", "softmax (auxiliary)"]
    ax.plot([6.2, 9.4, 9.4], [1.95, 1.95, 6.35], color=_GRAD, lw=1.3)  # around the branches, not across them
    _arrow(ax, (9.4, 6.35), (10.2, 6.35), color=_GRAD)
    for k, name in enumerate(aux):
        y = 6.35 - 1.25 * k
        _box(ax, 12.0, y, name, w=3.6, h=0.55, fc=_AUX, fontsize=9)
        if k:
            _arrow(ax, (12.0, y + 0.975), (12.0, y + 0.275), color=_GRAD)
    ax.text(12.0, -0.05, "training only: its loss enters\nwith weight 0.3", ha="center", va="center", fontsize=9,
            color=_GRAD)
    ax.set_title("Fragment of GoogLeNet: an Inception module and an auxiliary output (red)", fontsize=11)
    return fig
