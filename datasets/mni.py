"""A real 2D multi-class dataset that installs offline: axial slices of nilearn's MNI ICBM152 2009a template.

Classes (argmax of background+CSF, GM, WM probability inside the brain mask): 0 background/CSF, 1 grey
matter, 2 white matter. One average brain: slices are correlated, good for tests and demos only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xtiny.errors import XTinyError


def _require_nilearn():  # noqa: ANN202 - returns a module
    try:
        import nilearn
        from nilearn import datasets
    except ImportError as exc:
        raise XTinyError("the MNI dataset needs nilearn, which is not installed.",
                         fix="pip install 'xtiny[mni]' (or pip install nilearn).") from exc
    return nilearn, datasets


def tissue_volumes(resolution: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """T1 volume and 3-class tissue labels (x, y, z order as stored), both on the template grid."""
    _, datasets = _require_nilearn()
    t1 = np.asarray(datasets.load_mni152_template(resolution=resolution).get_fdata(), np.float32)
    gm = np.asarray(datasets.load_mni152_gm_template(resolution=resolution).get_fdata(), np.float32)
    wm = np.asarray(datasets.load_mni152_wm_template(resolution=resolution).get_fdata(), np.float32)
    mask = np.asarray(datasets.load_mni152_brain_mask(resolution=resolution).get_fdata()) > 0
    rest = np.clip(1 - gm - wm, 0, 1)
    labels = np.argmax(np.stack([rest, gm, wm]), axis=0).astype(np.uint8)
    labels[~mask] = 0
    return t1, labels


def build_mni_dataset(*, raw_dir: str | Path, dataset_id: int = 510, min_tissue: float = 0.02,
                      resolution: int = 1, preview: bool = False) -> Path:
    """Write ``Dataset{id}_MNITissue``: one PNG case per axial slice whose tissue fraction >= ``min_tissue``."""
    nilearn, _ = _require_nilearn()
    from xtiny.datasets.rawio import check_id_free, dataset_folder_name
    from xtiny.datasets.slices import write_axial_slice_dataset

    t1, labels = tissue_volumes(resolution)
    raw_dir = Path(raw_dir)
    name = dataset_folder_name(dataset_id, "MNITissue")
    check_id_free(raw_dir, dataset_id, name)
    return write_axial_slice_dataset(
        raw_dir, name, t1, labels, case_prefix="mni", min_fraction=min_tissue, preview=preview,
        channel_names={"0": "T1"}, labels={"background": 0, "GM": 1, "WM": 2},
        description=(f"Axial slices of the MNI ICBM152 2009a symmetric template ({resolution} mm) shipped with "
                     f"nilearn {nilearn.__version__}; labels = argmax(background+CSF, GM, WM) in the brain mask."),
        reference="Fonov et al., NeuroImage 2011 (ICBM 2009a); nilearn.datasets.load_mni152_*",
        license="ICBM152 template licence (see nilearn); derived labels CC0",
        converted_by="xtiny datasets mni", xtiny={"generator": "xtiny.datasets.mni", "package": "nilearn",
                                                   "package_version": nilearn.__version__, "resolution": resolution},
    )
