"""Matplotlib set-up shared by every XTiny figure."""

from __future__ import annotations


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend with matplotlib's default style.

    nnU-Net's training logger calls ``seaborn.set(font_scale=2.5)`` when it is imported, which would blow up the
    fonts of every later figure in the same process; the default style is restored before each figure.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.style.use("default")
    return plt
