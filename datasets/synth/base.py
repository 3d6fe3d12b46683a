"""What every synthetic kind module provides: a :class:`KindSpec` and a ``generate_case`` function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

#: ``generate_case(rng, size) -> (image, label)``. 2D kinds: image ``(H, W)`` or ``(H, W, 3)`` uint8,
#: label ``(H, W)`` uint8. 3D kinds: image ``(C, Z, Y, X)`` float32, label ``(Z, Y, X)`` uint8.
CaseGenerator = Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class KindSpec:
    """The nnU-Net description of one synthetic kind."""

    name: str  # CamelCase suffix: Dataset{id}_Synth{name}
    mimics: str  # the paper dataset it imitates
    channel_names: dict[str, str]
    labels: dict[str, int | list[int]]
    file_ending: str = ".png"
    regions_class_order: tuple[int, ...] | None = None
    spacing: tuple[float, ...] = field(default=(1.0, 1.0, 1.0))  # 3D kinds only, (z, y, x) in mm

    @property
    def is_3d(self) -> bool:
        return self.file_ending != ".png"
