"""Contact sheet of a raw dataset: images with label contours/overlays (matplotlib, Agg backend)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def _load_case(folder: Path, case: str, ending: str, n_channels: int) -> tuple[np.ndarray, np.ndarray]:
    """A 2D view (H, W) or (H, W, 3) and its label; 3D volumes show their middle slice of channel 0."""
    if ending == ".png":
        from skimage import io

        return io.imread(str(folder / "imagesTr" / f"{case}_0000.png")), io.imread(str(folder / "labelsTr" / f"{case}.png"))
    import nibabel as nib

    img = np.asarray(nib.load(str(folder / "imagesTr" / f"{case}_0000{ending}")).dataobj)
    seg = np.asarray(nib.load(str(folder / "labelsTr" / f"{case}{ending}")).dataobj)
    z = int(np.argmax((seg > 0).sum(axis=(0, 1)))) if seg.any() else img.shape[2] // 2
    return img[:, :, z].T, seg[:, :, z].T


def contact_sheet(folder: str | Path, out: str | Path, max_cases: int = 8) -> Path:
    """Write a PNG with up to ``max_cases`` cases: image on top, image + label overlay below."""
    from xtiny.plotting import pyplot

    plt = pyplot()

    folder, out = Path(folder), Path(out)
    meta = json.loads((folder / "dataset.json").read_text())
    ending = meta["file_ending"]
    cases = sorted(f.name[: -len(ending)] for f in (folder / "labelsTr").glob("*" + ending))[:max_cases]
    fig, axes = plt.subplots(2, max(1, len(cases)), figsize=(2.2 * max(1, len(cases)), 4.6), squeeze=False)
    for col, case in enumerate(cases):
        image, label = _load_case(folder, case, ending, len(meta["channel_names"]))
        for row in (0, 1):
            ax = axes[row, col]
            ax.imshow(image, cmap="gray")
            if row:
                ax.imshow(np.ma.masked_equal(label, 0), cmap="autumn", alpha=0.45, interpolation="nearest")
            ax.set_axis_off()
        axes[0, col].set_title(case, fontsize=7)
    fig.suptitle(f"{folder.name.split('.staging')[0].lstrip('.')}: images (top) and labels (bottom)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
