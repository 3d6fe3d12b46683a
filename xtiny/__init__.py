"""XTiny: training-free width search, training and edge export of tiny nnU-Net U-Nets."""

__version__ = "0.1.0"

from xtiny.errors import XTinyError  # noqa: E402

__all__ = ["XTinyError", "__version__"]
