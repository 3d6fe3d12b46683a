"""A second real 2D multi-class dataset that installs offline: axial slices of Colin27 with AAL lobe labels.

Source: Debian's package ``mricron-data`` (``/usr/share/mricron/templates``): ``ch2.nii.gz`` (Colin27 T1 with
skull, 181x217x181 at 1 mm) and ``aal.nii.gz`` (the 116 hand-drawn AAL regions, names in ``aal.nii.txt``), on one
grid. One case per axial slice with >= ``min_fraction`` AAL-labelled pixels. AAL labels grey matter only, so white
matter, CSF, skull and the outside are background. The 116 regions are grouped by NAME PREFIX
(:data:`AAL_CLASSES`, one table, which also follows the lobe digit of AAL's own region codes):

- 0 background: no AAL region
- 1 frontal: Precentral, Frontal_*, Rolandic_Oper, Supp_Motor_Area, Olfactory, Rectus
- 2 temporal_insula: Temporal_* (incl. Temporal_Pole_*), Heschl, Insula
- 3 parietal: Postcentral, Parietal_*, SupraMarginal, Angular, Precuneus, Paracentral_Lobule
- 4 occipital: Calcarine, Cuneus, Lingual, Occipital_*, Fusiform
- 5 limbic_subcortical: Cingulum_*, Hippocampus, ParaHippocampal, Amygdala, Caudate, Putamen, Pallidum, Thalamus
- 6 cerebellum: Cerebelum_* (AAL's spelling), Vermis_*

(each left and right, ``_L``/``_R``). One brain: slices are correlated, good for tests and demos only.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np

from xtiny.console import say
from xtiny.errors import XTinyError

MRICRON_TEMPLATES = Path("/usr/share/mricron/templates")
TEMPLATE_FILES = ("ch2.nii.gz", "aal.nii.gz", "aal.nii.txt")
INSTALL_FIX = "install Debian's mricron-data: sudo apt-get install mricron-data"

#: class name -> AAL region name prefixes; class ``i + 1`` is ``AAL_CLASSES[i]`` (0 is background).
AAL_CLASSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("frontal", ("Precentral", "Frontal_", "Rolandic_Oper", "Supp_Motor_Area", "Olfactory", "Rectus")),
    ("temporal_insula", ("Temporal_", "Heschl", "Insula")),
    ("parietal", ("Postcentral", "Parietal_", "SupraMarginal", "Angular", "Precuneus", "Paracentral_Lobule")),
    ("occipital", ("Calcarine", "Cuneus", "Lingual", "Occipital_", "Fusiform")),
    ("limbic_subcortical", ("Cingulum_", "Hippocampus", "ParaHippocampal", "Amygdala", "Caudate", "Putamen",
                            "Pallidum", "Thalamus")),
    ("cerebellum", ("Cerebelum_", "Vermis_")),
)


def _missing_files(folder: Path) -> list[str]:
    return [f for f in TEMPLATE_FILES if not (folder / f).is_file()]


def _apt_get(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(["/usr/bin/apt-get", *args], capture_output=True, text=True, env=env, check=False)


def _install_mricron_data() -> None:
    """``apt-get install mricron-data``; ``apt-get update`` first only when apt has no lists for it."""
    say("[xtiny] the Colin27/AAL templates are missing: installing Debian's mricron-data with apt-get ...",
        errors=True)
    done = _apt_get("install", "-y", "-q", "mricron-data")
    if done.returncode != 0 and ("Unable to locate package" in done.stderr
                                 or "has no installation candidate" in done.stderr):
        _apt_get("update", "-q")
        done = _apt_get("install", "-y", "-q", "mricron-data")
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise XTinyError(f"apt-get could not install mricron-data (exit {done.returncode}): {last}",
                         fix=INSTALL_FIX)


def mricron_templates(folder: str | Path = MRICRON_TEMPLATES) -> Path:
    """The folder with ``ch2.nii.gz``, ``aal.nii.gz`` and ``aal.nii.txt``.

    When the default folder lacks them and this process is root on Debian (``/usr/bin/apt-get``), installs
    ``mricron-data`` first; otherwise raises :class:`XTinyError` naming the folder and the missing files.
    """
    folder = Path(folder)
    missing = _missing_files(folder)
    if (missing and folder == MRICRON_TEMPLATES and Path("/usr/bin/apt-get").is_file()
            and hasattr(os, "geteuid") and os.geteuid() == 0):
        _install_mricron_data()
        missing = _missing_files(folder)
    if missing:
        raise XTinyError(f"the Colin27/AAL templates are missing: {folder} has no {', '.join(missing)}.",
                         fix=INSTALL_FIX)
    return folder


def aal_region_names(txt: str | Path) -> dict[int, str]:
    """``aal.nii.txt`` (lines ``value name code``) → ``{voxel value: region name}``."""
    names: dict[int, str] = {}
    for line in Path(txt).read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].isdigit():
            names[int(parts[0])] = parts[1]
    if not names:
        raise XTinyError(f"{txt} lists no AAL regions.", fix=f"reinstall it: {INSTALL_FIX}")
    return names


def aal_class_of(region: str) -> int:
    """The class (1..len(AAL_CLASSES)) of one AAL region name; exactly one prefix of :data:`AAL_CLASSES` must match."""
    hits = [i + 1 for i, (_, prefixes) in enumerate(AAL_CLASSES) if region.startswith(prefixes)]
    if len(hits) != 1:
        raise XTinyError(f"AAL region {region!r} matches {len(hits)} classes of AAL_CLASSES, not exactly one.",
                         fix="extend or fix xtiny.datasets.colin27.AAL_CLASSES.")
    return hits[0]


def aal_region_classes(txt: str | Path) -> dict[int, int]:
    """``{AAL voxel value: class}`` for every region listed in ``aal.nii.txt``."""
    return {value: aal_class_of(name) for value, name in aal_region_names(txt).items()}


def colin27_volumes(folder: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Colin27 T1 (float32) and its AAL class labels (uint8), x, y, z order as stored, on one grid."""
    import nibabel as nib

    folder = Path(folder)
    t1_img, aal_img = nib.load(str(folder / "ch2.nii.gz")), nib.load(str(folder / "aal.nii.gz"))
    if t1_img.shape != aal_img.shape or not np.allclose(t1_img.affine, aal_img.affine):
        raise XTinyError(f"ch2.nii.gz {t1_img.shape} and aal.nii.gz {aal_img.shape} in {folder} are not on one grid.",
                         fix=f"reinstall the original files: {INSTALL_FIX}")
    aal = np.asarray(aal_img.dataobj).astype(np.int64)
    classes = aal_region_classes(folder / "aal.nii.txt")
    unknown = sorted(set(np.unique(aal).tolist()) - set(classes) - {0})
    if unknown:
        raise XTinyError(f"aal.nii.gz holds values {unknown[:5]} that aal.nii.txt does not name.",
                         fix=f"reinstall the original files: {INSTALL_FIX}")
    lut = np.zeros(max(int(aal.max()), max(classes)) + 1, np.uint8)
    for value, cls in classes.items():
        lut[value] = cls
    return np.asarray(t1_img.get_fdata(), np.float32), lut[aal]


def _package_version() -> str:
    try:
        done = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "mricron-data"], capture_output=True,
                              text=True, check=False)
    except OSError:
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"


def build_colin27_dataset(*, raw_dir: str | Path, dataset_id: int = 520, min_fraction: float = 0.02,
                          preview: bool = False, in_plane_step: int = 1) -> Path:
    """Write ``Dataset{id}_Colin27AAL``: one PNG case per axial slice with >= ``min_fraction`` AAL-labelled pixels
    (``in_plane_step`` 2: every second row and column, a 2 mm in-plane grid for quick benches)."""
    from xtiny.datasets.rawio import check_id_free, dataset_folder_name
    from xtiny.datasets.slices import write_axial_slice_dataset

    raw_dir = Path(raw_dir)
    name = dataset_folder_name(dataset_id, "Colin27AAL")
    check_id_free(raw_dir, dataset_id, name)
    folder = mricron_templates()
    t1, labels = colin27_volumes(folder)
    names = aal_region_names(folder / "aal.nii.txt")
    regions = {cls: [n for n in names.values() if aal_class_of(n) == i + 1] for i, (cls, _) in enumerate(AAL_CLASSES)}
    grouping = "; ".join(f"{i + 1} {cls} = {', '.join(p + '*' for p in prefixes)}"
                         for i, (cls, prefixes) in enumerate(AAL_CLASSES))
    version = _package_version()
    return write_axial_slice_dataset(
        raw_dir, name, t1, labels, case_prefix="colin27", min_fraction=min_fraction, preview=preview,
        in_plane_step=in_plane_step,
        channel_names={"0": "T1"}, labels={"background": 0, **{cls: i + 1 for i, (cls, _) in enumerate(AAL_CLASSES)}},
        description=(f"Axial slices of the Colin27 T1 template with skull (ch2.nii.gz, 1 mm) from Debian's "
                     f"mricron-data {version}; labels = the 116 AAL regions (aal.nii.gz) grouped by region name "
                     f"prefix (left and right): 0 background (no AAL region: white matter, CSF, skull, outside); "
                     f"{grouping}. Full region lists per class under xtiny.regions."),
        reference="Holmes et al., J Comput Assist Tomogr 1998 (Colin27); Tzourio-Mazoyer et al., NeuroImage 2002 "
                  "(AAL); files from MRIcron (Rorden) as packaged by Debian (mricron-data)",
        license="see /usr/share/doc/mricron-data/copyright (Debian: BSD-3-clause); Colin27 and AAL keep their "
                "authors' terms; derived labels CC0",
        converted_by="xtiny datasets colin27",
        xtiny={"generator": "xtiny.datasets.colin27", "package": "mricron-data", "package_version": version,
               "templates": str(folder), "min_fraction": min_fraction, "in_plane_step": in_plane_step,
               "regions": regions},
    )
