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


def save_png(fig, path, dpi: int = 110):
    """Render ``fig`` as PNG, close it and write it atomically to ``path``; returns the path."""
    import io

    import matplotlib.pyplot as plt

    from xtiny.atomic import atomic_write_bytes

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())
