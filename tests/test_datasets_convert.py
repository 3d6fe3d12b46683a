"""Converters: tiny fake trees in each dataset's published layout convert into datasets that validate."""

from __future__ import annotations

import csv
import io as pyio
import tarfile
from pathlib import Path

import numpy as np
import pytest
from skimage import io

from xtiny.cli import main
from xtiny.datasets.converters import convert
from xtiny.datasets.rawio import write_nifti
from xtiny.datasets.validate import validate_dataset
from xtiny.errors import XTinyError

RNG = np.random.default_rng(0)


def _png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    io.imsave(str(path), array, check_contrast=False)


def _mask(shape: tuple[int, int]) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    m[4:10, 5:12] = 255
    return m


def _busbra(root: Path) -> None:
    for i in (1, 2):
        _png(root / "BUSBRA" / "Images" / f"bus_000{i}-l.png", RNG.integers(0, 255, (16, 20), dtype=np.uint8))
        _png(root / "BUSBRA" / "Masks" / f"mask_000{i}-l.png", _mask((16, 20)))


def _isic(root: Path) -> None:
    for i in (0, 1):
        _png(root / "ISIC2018_Task1-2_Training_Input" / f"ISIC_000000{i}.jpg",
             RNG.integers(0, 255, (16, 16, 3), dtype=np.uint8))
        _png(root / "ISIC2018_Task1_Training_GroundTruth" / f"ISIC_000000{i}_segmentation.png", _mask((16, 16)))


def _fives(root: Path) -> None:
    for split in ("train", "test"):
        _png(root / split / "Original" / "1_A.png", RNG.integers(0, 255, (16, 16, 3), dtype=np.uint8))
        _png(root / split / "Ground truth" / "1_A.png", _mask((16, 16)))


def _brats(root: Path) -> None:
    for case in ("BraTS2021_00000", "BraTS2021_00002"):
        (root / case).mkdir(parents=True)
        for m in ("t1", "t1ce", "t2", "flair"):
            write_nifti(root / case / f"{case}_{m}.nii.gz", RNG.random((6, 8, 8)).astype(np.float32), (1, 1, 1))
        seg = np.zeros((6, 8, 8), np.uint8)
        seg[2:4, 2:6, 2:6], seg[3, 3:5, 3:5], seg[2, 2, 2] = 2, 4, 1
        write_nifti(root / case / f"{case}_seg.nii.gz", seg, (1, 1, 1), np.uint8)


def _acdc(root: Path) -> None:
    folder = root / "training" / "patient001"
    folder.mkdir(parents=True)
    (folder / "Info.cfg").write_text("ED: 1\nES: 12\n")
    for frame in ("01", "12"):
        write_nifti(folder / f"patient001_frame{frame}.nii.gz", RNG.random((3, 8, 8)).astype(np.float32),
                    (10, 1.5, 1.5))
        write_nifti(folder / f"patient001_frame{frame}_gt.nii.gz", RNG.integers(0, 4, (3, 8, 8)), (10, 1.5, 1.5),
                    np.uint8)


def _echonet(root: Path) -> None:
    av = pytest.importorskip("av")
    (root / "Videos").mkdir(parents=True)
    with av.open(str(root / "Videos" / "0X1.avi"), "w") as out:
        stream = out.add_stream("mjpeg", rate=25)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuvj420p"
        for _ in range(4):
            frame = av.VideoFrame.from_ndarray(RNG.integers(0, 255, (32, 32, 3), dtype=np.uint8), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with (root / "VolumeTracings.csv").open("w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["FileName", "X1", "Y1", "X2", "Y2", "Frame"])
        for frame, half in ((1, 8), (3, 5)):
            w.writerow(["0X1.avi", 16, 4, 16, 28, frame])
            for y in range(6, 26, 4):
                w.writerow(["0X1.avi", 16 - half, y, 16 + half, y, frame])
    (root / "FileList.csv").write_text("FileName,EF,ESV,EDV,FrameHeight,FrameWidth,FPS,NumberOfFrames,Split\n"
                                       "0X1,50,10,20,32,32,25,4,TRAIN\n")


@pytest.mark.parametrize("name, build, cases", [
    ("busbra", _busbra, 2), ("isic2018", _isic, 2), ("fives", _fives, 2), ("brats2021", _brats, 2),
    ("acdc", _acdc, 2), ("echonet", _echonet, 2),
])
def test_converter_output_validates(tmp_path: Path, name: str, build, cases: int) -> None:
    src = tmp_path / "src"
    src.mkdir()
    build(src)
    folder = convert(name, src, raw_dir=tmp_path / "raw", dataset_id=980)
    report = validate_dataset(folder)
    assert report.ok, report.problems
    assert report.num_cases == cases


def test_brats_labels_follow_nnunet(tmp_path: Path) -> None:
    _brats(tmp_path / "src")
    folder = convert("brats2021", tmp_path / "src", raw_dir=tmp_path / "raw")
    import nibabel as nib

    seg = np.asarray(nib.load(str(folder / "labelsTr" / "BraTS2021_00000.nii.gz")).dataobj)
    assert set(np.unique(seg)) == {0, 1, 2, 3}
    assert validate_dataset(folder).labels == [0, 1, 2, 3]


def test_cli_convert_and_archive_safety(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _busbra(tmp_path / "src")
    archive = tmp_path / "busbra.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(tmp_path / "src" / "BUSBRA", arcname="BUSBRA")
    assert main(["datasets", "convert", "busbra", str(archive), "--id", "981"]) == 0
    assert "Dataset981_BUSBRA" in capsys.readouterr().out
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tf:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 1
        tf.addfile(info, pyio.BytesIO(b"x"))
    assert main(["datasets", "convert", "busbra", str(evil), "--id", "982"]) == 2
    assert "unsafe member '../escape.txt'" in capsys.readouterr().err
    assert not (tmp_path / "escape.txt").exists()


def test_empty_source_is_refused(tmp_path: Path) -> None:
    (tmp_path / "BUSBRA" / "Images").mkdir(parents=True)
    (tmp_path / "BUSBRA" / "Masks").mkdir(parents=True)
    with pytest.raises(XTinyError, match="no Images/bus_"):
        convert("busbra", tmp_path, raw_dir=tmp_path / "raw", dataset_id=983)
    assert not (tmp_path / "raw" / "Dataset983_BUSBRA").exists()
