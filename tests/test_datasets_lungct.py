"""`xtiny datasets lungct`: the RT-STRUCT rasteriser, a build from made-up archives (a tiny DICOM CT series and
RT-STRUCT written here with pydicom, tiny NRRDs written with SimpleITK), the exit-2 errors that write nothing, and
a build from the real pinned archives when they are in the download cache (`make test` fetches them:
scripts/ensure_lungct_archives.sh). Ids 940-949.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from xtiny.cli import main
from xtiny.datasets import lungct
from xtiny.datasets.lungct_archives import (
    LUNGCT_ARCHIVES,
    PYCERR,
    PYRADIOMICS,
    PinnedArchive,
    lungct_cache_dir,
)
from xtiny.datasets.rtstruct import fill_polygon
from xtiny.errors import XTinyError

PIXEL_MM, SLICE_MM, SIZE, SLICES = 0.8, 3.0, 48, 12
RADIUS_MM, CONTOURED = 12.0, range(3, 9)  # a cylinder of radius 12 mm through slices 3..8 (6 slices of 3 mm)
CYLINDER_ML = np.pi * RADIUS_MM**2 * len(CONTOURED) * SLICE_MM / 1000.0


def _circle(center: tuple[float, float], radius: float, n: int = 96) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.column_stack([center[0] + radius * np.cos(t), center[1] + radius * np.sin(t)])


# ---------------------------------------------------------------- the rasteriser
def test_fill_polygon_area_and_border() -> None:
    from scipy import ndimage

    t = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    radius = 22 + 6 * np.cos(3 * t) + 3 * np.sin(5 * t)  # a made-up non-convex blob
    poly = np.column_stack([50.3 + radius * np.cos(t), 47.6 + radius * np.sin(t)])
    mask = fill_polygon(poly, (100, 100))
    x, y = poly[:, 0], poly[:, 1]
    area = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
    assert abs(mask.sum() - area) / area < 0.01
    border = np.argwhere(mask & ~ndimage.binary_erosion(mask))[:, ::-1]  # (col, row) of the mask's edge pixels
    dense = np.concatenate([np.linspace(a, b, 10, endpoint=False) for a, b in zip(poly, np.roll(poly, -1, 0), strict=True)])
    dist = np.sqrt(((dense[:, None, :] - border[None, :, :]) ** 2).sum(-1)).min(axis=1)
    assert dist.mean() < 1.0 and dist.max() < 1.5
    assert not fill_polygon(poly + 500, (100, 100)).any()  # outside the image: nothing, no error


# ---------------------------------------------------------------- made-up archives
def _dicom(path: Path, ds, sop_class: str) -> None:  # noqa: ANN001 - a pydicom Dataset
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop_class, ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.save_as(str(path), enforce_file_format=True)


def write_dicom_patient(folder: Path, *, roi_name: str = "GTV-1", hole: bool = False) -> None:
    """A CT series (SLICES x SIZE x SIZE, 0.8 mm pixels, 3 mm slices, written in shuffled order) with a soft-tissue
    cylinder, and an RT-STRUCT contouring it on slices CONTOURED (with an inner hole contour when ``hole``)."""
    from pydicom.dataset import Dataset
    from pydicom.uid import CTImageStorage, RTStructureSetStorage

    folder.mkdir(parents=True)
    origin = np.array([-16.0, -12.0, 40.0])
    center = origin[:2] + PIXEL_MM * np.array([24.3, 23.7])
    rr, cc = np.mgrid[0:SIZE, 0:SIZE]
    disc = (origin[0] + cc * PIXEL_MM - center[0]) ** 2 + (origin[1] + rr * PIXEL_MM - center[1]) ** 2 < RADIUS_MM**2
    for k in np.random.default_rng(0).permutation(SLICES):
        ds = Dataset()
        ds.Modality, ds.Rows, ds.Columns = "CT", SIZE, SIZE
        ds.PixelSpacing, ds.SliceThickness = [PIXEL_MM, PIXEL_MM], SLICE_MM
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [float(origin[0]), float(origin[1]), float(origin[2] - SLICE_MM * k)]
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1000
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.PixelData = np.where(disc & (k in CONTOURED), 1040, 200).astype(np.uint16).tobytes()
        _dicom(folder / f"DCM_IMG_{k:05d}.dcm", ds, CTImageStorage)
    rs = Dataset()
    rs.Modality = "RTSTRUCT"
    roi = Dataset()
    roi.ROINumber, roi.ROIName = 1, roi_name
    rs.StructureSetROISequence = [roi]
    contours = []
    for k in CONTOURED:
        rings = [RADIUS_MM] + ([RADIUS_MM / 2] if hole else [])
        for radius in rings:
            xy = _circle(tuple(center), radius)
            c = Dataset()
            c.ContourGeometricType, c.NumberOfContourPoints = "CLOSED_PLANAR", len(xy)
            c.ContourData = [float(v) for p in xy for v in (p[0], p[1], origin[2] - SLICE_MM * k)]
            contours.append(c)
    rc = Dataset()
    rc.ReferencedROINumber, rc.ContourSequence = 1, contours
    rs.ROIContourSequence = [rc]
    _dicom(folder / "DCM_RS_00000.dcm", rs, RTStructureSetStorage)


def write_nrrd_pair(folder: Path, name: str, radius_vox: int) -> None:
    import SimpleITK as sitk

    zz, yy, xx = np.mgrid[0:10, 0:48, 0:48]
    ball = (zz - 5) ** 2 * 4 + (yy - 24) ** 2 + (xx - 20) ** 2 < radius_vox**2
    for kind, array in (("image", np.where(ball, 40, -800).astype(np.int16)), ("label", ball.astype(np.int16))):
        image = sitk.GetImageFromArray(array)
        image.SetSpacing((0.6, 0.6, 5.0))
        sitk.WriteImage(image, str(folder / f"{name}_{kind}.nrrd"))


def _pin(archive: PinnedArchive, path: Path) -> PinnedArchive:
    return dataclasses.replace(archive, size=path.stat().st_size,
                               sha256=hashlib.sha256(path.read_bytes()).hexdigest())


def make_archives(cache: Path, *, roi_name: str = "GTV-1") -> tuple[PinnedArchive, ...]:
    """Archives named and laid out like the real ones (3 DICOM patients, lung1/lung2 NRRDs), with their pins."""
    work = cache / "src"
    for i in (1, 2, 3):
        write_dicom_patient(work / PYCERR.data_prefix / f"pat_{i}", roi_name=roi_name, hole=i == 3)
    (work / PYRADIOMICS.data_prefix / "data").mkdir(parents=True)
    write_nrrd_pair(work / PYRADIOMICS.data_prefix / "data", "lung1", 6)
    write_nrrd_pair(work / PYRADIOMICS.data_prefix / "data", "lung2", 9)
    with zipfile.ZipFile(cache / PYCERR.filename, "w") as zf:
        for f in sorted((work / "cerr").rglob("*.dcm")):
            zf.write(f, f.relative_to(work).as_posix())
        zf.writestr("cerr/__init__.py", "")  # code stays packed
    with tarfile.open(cache / PYRADIOMICS.filename, "w:gz") as tf:
        tf.add(work / PYRADIOMICS.data_prefix, arcname=PYRADIOMICS.data_prefix.rstrip("/"))
    return _pin(PYCERR, cache / PYCERR.filename), _pin(PYRADIOMICS, cache / PYRADIOMICS.filename)


@pytest.fixture(scope="module")
def made_up(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple[PinnedArchive, ...]]:
    cache = tmp_path_factory.mktemp("lungct-cache")
    return cache, make_archives(cache)


@pytest.fixture(scope="module")
def built(made_up) -> lungct.LungCTDatasets:  # noqa: ANN001
    cache, archives = made_up
    raw = Path(os.environ["nnUNet_raw"])
    return lungct.build_lungct_dataset(raw_dir=raw, dataset_id=940, cache=cache, fetch=False, archives=archives)


def test_made_up_build_volumes_spacing_and_licence(built: lungct.LungCTDatasets) -> None:
    import nibabel as nib

    assert built.cases == ("cerr_pat1", "cerr_pat2", "cerr_pat3", "pyrad_lung1", "pyrad_lung2")
    for case in ("cerr_pat1", "cerr_pat2"):
        label = nib.load(built.volumes / "labelsTr" / f"{case}.nii.gz")
        assert tuple(float(z) for z in label.header.get_zooms()) == (1.0, 1.0, 3.0)  # x, y, z of SPACING_ZYX
        ml = float(np.asarray(label.dataobj).sum()) * np.prod(label.header.get_zooms()) / 1000.0
        assert ml == pytest.approx(CYLINDER_ML, rel=0.03) and built.tumour_ml[case] == pytest.approx(ml)
        image = np.asarray(nib.load(built.volumes / "imagesTr" / f"{case}_0000.nii.gz").dataobj)
        assert image.dtype == np.float32 and image[np.asarray(label.dataobj) > 0].mean() > 0  # tumour is tissue
    ring = np.pi * (RADIUS_MM**2 - (RADIUS_MM / 2) ** 2) * len(CONTOURED) * SLICE_MM / 1000.0  # even-odd: a hole
    assert built.tumour_ml["cerr_pat3"] == pytest.approx(ring, rel=0.03)
    meta = json.loads((built.volumes / "dataset.json").read_text())
    assert meta["labels"] == {"background": 0, "tumour": 1} and meta["file_ending"] == ".nii.gz"
    assert "CC BY-NC 3.0" in meta["licence"] and "BSD" in meta["licence"]
    assert meta["xtiny"]["spacing_zyx_mm"] == [3.0, 1.0, 1.0]


def test_folds_are_by_patient_and_validate_passes(built: lungct.LungCTDatasets, capsys) -> None:  # noqa: ANN001
    import nibabel as nib

    from xtiny.nnunet.splits import splits_file

    slices = sorted(p.name[: -len(".png")] for p in (built.slices / "labelsTr").glob("*.png"))
    with_tumour = [f"{case}_z{z:03d}" for case in built.cases for z in np.flatnonzero(
        np.asarray(nib.load(built.volumes / "labelsTr" / f"{case}.nii.gz").dataobj).any(axis=(0, 1)))]
    assert slices == sorted(with_tumour)  # one 2D case per axial slice holding tumour
    patients = json.loads((built.slices / "dataset.json").read_text())["xtiny"]["patients"]
    assert patients == {s: s.split("_z")[0] for s in slices}  # per-patient Dice in xtiny evaluate reads these
    for folder in (built.volumes, built.slices):
        assert main(["datasets", "validate", str(folder)]) == 0
        splits = json.loads(splits_file(folder.name).read_text())
        assert splits == json.loads((folder / "splits_final.json").read_text())
        assert len(splits) == 5
        cases = {p.name.split(".")[0] for p in (folder / "labelsTr").iterdir()}
        for fold in splits:
            patients = [{c.split("_z")[0] for c in fold[part]} for part in ("train", "val")]
            assert not patients[0] & patients[1] and set(fold["train"]) | set(fold["val"]) == cases
    assert "valid nnU-Net raw dataset" in capsys.readouterr().out


# ---------------------------------------------------------------- errors: exit 2, nothing written
def _raw_listing() -> list[str]:
    raw = Path(os.environ["nnUNet_raw"])
    return sorted(p.name for p in raw.iterdir() if p.name.startswith(("Dataset94", ".Dataset94")))


def _exits_2_writing_nothing(args: list[str], capsys) -> str:  # noqa: ANN001
    before = _raw_listing()
    assert main(["datasets", "lungct", *args]) == 2
    assert _raw_listing() == before
    return capsys.readouterr().err


def test_in_plane_step_below_1_exits_2(capsys) -> None:  # noqa: ANN001
    err = _exits_2_writing_nothing(["--id", "942", "--in-plane-step", "0"], capsys)
    assert "in-plane step 0" in err


def test_missing_contour_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # noqa: ANN001
    monkeypatch.setenv("XTINY_CACHE", str(tmp_path))
    archives = make_archives(tmp_path / "lungct", roi_name="GTV-2")
    monkeypatch.setattr(lungct, "LUNGCT_ARCHIVES", archives)
    err = _exits_2_writing_nothing(["--id", "942"], capsys)
    assert "no contour named 'GTV-1'" in err and "GTV-2" in err


def test_wrong_checksum_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # noqa: ANN001
    monkeypatch.setenv("XTINY_CACHE", str(tmp_path))
    (tmp_path / "lungct").mkdir()
    for archive in LUNGCT_ARCHIVES:
        (tmp_path / "lungct" / archive.filename).write_bytes(b"not the archive")
    err = _exits_2_writing_nothing(["--id", "944"], capsys)
    assert "not the pinned" in err and PYCERR.sha256 in err


def test_archive_that_is_no_archive_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # noqa: ANN001
    monkeypatch.setenv("XTINY_CACHE", str(tmp_path))
    (tmp_path / "lungct").mkdir()
    junk = tmp_path / "lungct" / PYCERR.filename
    junk.write_bytes(b"neither zip nor tar")
    monkeypatch.setattr(lungct, "LUNGCT_ARCHIVES", (_pin(PYCERR, junk),))  # the pin matches: the content is bad
    err = _exits_2_writing_nothing(["--id", "944"], capsys)
    assert "is not a zip or tar archive" in err


def test_unfetchable_archive_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # noqa: ANN001
    monkeypatch.setenv("XTINY_CACHE", str(tmp_path))
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # offline: pip finds nothing
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    err = _exits_2_writing_nothing(["--id", "946"], capsys)
    assert "could not fetch pycerr==2.5.1" in err and "--fetch-only" in err
    assert not list((tmp_path / "lungct").iterdir())  # no partial download kept


def test_unsafe_archive_member_is_refused(tmp_path: Path) -> None:
    from xtiny.datasets.converters._archive import extract_selected

    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("cerr/datasets/radiomics_phantom_dicom/../../../escape.dcm", "x")
    with pytest.raises(XTinyError, match="unsafe member"):
        extract_selected(evil, tmp_path / "out", PYCERR.keeps)
    assert not (tmp_path / "out").exists() and not (tmp_path.parent / "escape.dcm").exists()


# ---------------------------------------------------------------- the real archives
def test_real_archives_build(tmp_path: Path) -> None:
    cache = lungct_cache_dir()
    missing = [a.filename for a in LUNGCT_ARCHIVES if not (cache / a.filename).is_file()]
    if missing:
        pytest.skip(f"{', '.join(missing)} not in {cache}: run scripts/ensure_lungct_archives.sh "
                    "(or `xtiny datasets lungct --fetch-only`) where PyPI is reachable")
    built = lungct.build_lungct_dataset(raw_dir=tmp_path / "raw", dataset_id=948, cache=cache, fetch=False)
    assert built.cases == ("cerr_pat1", "cerr_pat2", "cerr_pat3", "cerr_pat4", "pyrad_lung1", "pyrad_lung2")
    # the contours' own volumes (before resampling: 358.7, 6.46, 11.6, 123.4 mL; lung1/2 labels 1.36, 48.4 mL)
    expected = {"cerr_pat1": 358.7, "cerr_pat2": 6.46, "cerr_pat3": 11.6, "cerr_pat4": 123.4,
                "pyrad_lung1": 1.36, "pyrad_lung2": 48.4}
    for case, ml in expected.items():
        assert built.tumour_ml[case] == pytest.approx(ml, rel=0.06), case
    for folder in (built.volumes, built.slices):
        from xtiny.datasets.validate import validate_dataset

        report = validate_dataset(folder)
        assert report.ok and not report.problems, report.problems


def test_in_plane_step_2_halves_the_slices(made_up, tmp_path: Path) -> None:  # noqa: ANN001
    from PIL import Image

    cache, archives = made_up
    one = lungct.build_lungct_dataset(raw_dir=tmp_path, dataset_id=944, cache=cache, fetch=False, archives=archives)
    two = lungct.build_lungct_dataset(raw_dir=tmp_path, dataset_id=946, cache=cache, fetch=False, archives=archives,
                                      in_plane_step=2)
    assert json.loads((two.slices / "dataset.json").read_text())["xtiny"]["in_plane_mm"] == 2.0
    for case in sorted(p.name for p in (two.slices / "labelsTr").iterdir()):
        fine = np.asarray(Image.open(one.slices / "labelsTr" / case))
        coarse = np.asarray(Image.open(two.slices / "labelsTr" / case))
        assert coarse.shape == (fine.shape[0] // 2, fine.shape[1] // 2)
        assert abs(4 * int(coarse.sum()) - int(fine.sum())) <= 0.25 * fine.sum() + 8  # the tumour keeps its area
    assert main(["datasets", "validate", str(two.slices)]) == 0
    assert lungct.block_mean(np.arange(16, dtype=float).reshape(1, 4, 4), 2).tolist() == [[[2.5, 4.5], [10.5, 12.5]]]
