"""`xtiny datasets validate`: one broken dataset per problem, the specific message and exit code 2."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from skimage import io

from xtiny.cli import main
from xtiny.datasets.rawio import write_case
from xtiny.datasets.synth import generate_dataset
from xtiny.datasets.validate import validate_dataset


@pytest.fixture(scope="module")
def good_bus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_dataset("bus", dataset_id=990, num_cases=3, seed=1, size=32,
                            raw_dir=tmp_path_factory.mktemp("raw"))


@pytest.fixture()
def bus(good_bus: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(good_bus, tmp_path / good_bus.name))


def _meta(folder: Path) -> dict:
    return json.loads((folder / "dataset.json").read_text())


def _set_meta(folder: Path, **changes: object) -> None:
    meta = _meta(folder)
    meta.update(changes)
    (folder / "dataset.json").write_text(json.dumps(meta))


def _expect(folder: Path, capsys: pytest.CaptureFixture[str], *needles: str) -> None:
    assert main(["datasets", "validate", str(folder)]) == 2
    err = capsys.readouterr().err
    for needle in needles:
        assert needle in err, err


def test_good_dataset_passes(good_bus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "validate", str(good_bus)]) == 0
    assert "valid nnU-Net raw dataset (3 cases" in capsys.readouterr().out
    assert validate_dataset(good_bus).ok


def _missing_channel(f: Path) -> None:
    shutil.copy(f / "imagesTr" / "synthbus_0000_0000.png", f / "imagesTr" / "synthbus_0000_0001.png")


def _shape_mismatch(f: Path) -> None:
    io.imsave(str(f / "labelsTr" / "synthbus_0001.png"), np.zeros((20, 32), np.uint8), check_contrast=False)


def _bad_label(f: Path) -> None:
    io.imsave(str(f / "labelsTr" / "synthbus_0002.png"), np.full((32, 32), 5, np.uint8), check_contrast=False)


def _not_2d(f: Path) -> None:
    io.imsave(str(f / "imagesTr" / "synthbus_0000_0000.png"), np.zeros((32, 32, 2), np.uint8),
              check_contrast=False)


def _empty(f: Path) -> None:
    for sub in ("imagesTr", "labelsTr"):
        shutil.rmtree(f / sub)
        (f / sub).mkdir()


def _missing_label(f: Path) -> None:
    (f / "labelsTr" / "synthbus_0001.png").unlink()


def _num_training(f: Path) -> None:
    _set_meta(f, numTraining=7)


def _escape(f: Path) -> None:
    _set_meta(f, dataset={"a": {"images": ["../../etc/passwd"], "label": "labelsTr/synthbus_0000.png"}})


def _duplicate(f: Path) -> None:
    entry = '{"images": ["imagesTr/synthbus_0000_0000.png"], "label": "labelsTr/synthbus_0000.png"}'
    text = (f / "dataset.json").read_text().rstrip().rstrip("}")
    (f / "dataset.json").write_text(text + f', "dataset": {{"c1": {entry}, "c1": {entry}}}}}')


def _missing_keys(f: Path) -> None:
    meta = _meta(f)
    del meta["labels"]
    (f / "dataset.json").write_text(json.dumps(meta))


def _non_consecutive(f: Path) -> None:
    _set_meta(f, labels={"background": 0, "lesion": 2})


@pytest.mark.parametrize("breaker, needles", [
    (_missing_channel, ["missing channel file 0001 of case 'synthbus_0001'"]),
    (_shape_mismatch, ["shape mismatch", "synthbus_0001.png"]),
    (_bad_label, ["label values [5] are not in dataset.json labels [0, 1]"]),
    (_not_2d, ["not a 2D grey/RGB image"]),
    (_empty, ["the dataset has no training cases"]),
    (_missing_label, ["label file of case 'synthbus_0001' is missing"]),
    (_num_training, ["numTraining is 7 but 3 cases were found"]),
    (_escape, ["outside the dataset folder"]),
    (_duplicate, ["duplicate case id or key 'c1'"]),
    (_missing_keys, ["lacks required keys ['labels']"]),
    (_non_consecutive, ["not consecutive"]),
])
def test_broken_dataset_is_reported(bus: Path, capsys: pytest.CaptureFixture[str],
                                    breaker: Callable[[Path], None], needles: list[str]) -> None:
    breaker(bus)
    _expect(bus, capsys, *needles, "Fix:")


def test_nan_and_spacing_in_nifti(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "Dataset991_Nan"
    vol = np.ones((4, 6, 6), np.float32)
    write_case(folder, "c0", [vol], np.zeros_like(vol, np.uint8), ".nii.gz")
    bad = vol.copy()
    bad[0, 0, 0] = np.nan
    write_case(folder, "c1", [bad], np.zeros_like(vol, np.uint8), ".nii.gz")
    write_case(folder, "c2", [vol], np.zeros_like(vol, np.uint8), ".nii.gz", spacing_zyx=(1.0, 1.0, 1.0))
    from xtiny.datasets.rawio import write_nifti

    write_nifti(folder / "labelsTr" / "c2.nii.gz", np.zeros_like(vol, np.uint8), (3.0, 1.0, 1.0), np.uint8)
    from xtiny.datasets.rawio import write_dataset_json

    write_dataset_json(folder, channel_names={"0": "MR"}, labels={"background": 0, "x": 1}, num_training=3,
                       file_ending=".nii.gz")
    _expect(folder, capsys, "case 'c1' image contains NaN or inf", "spacing mismatch")


def test_failed_dataset_is_not_installed(tmp_path: Path) -> None:
    from xtiny.datasets.rawio import staged_dataset
    from xtiny.errors import XTinyError

    with pytest.raises(XTinyError, match="no training cases"):
        with staged_dataset(tmp_path, "Dataset992_Broken") as stage:
            (stage / "dataset.json").write_text(json.dumps(
                {"channel_names": {"0": "x"}, "labels": {"background": 0}, "numTraining": 0, "file_ending": ".png"}))
            (stage / "imagesTr").mkdir()
            (stage / "labelsTr").mkdir()
    assert list(tmp_path.iterdir()) == []
