"""`xtiny datasets colin27`: Colin27 T1 + AAL lobe classes, built from Debian's real mricron-data files.

The templates are installed by `make test` (scripts/ensure_mricron_data.sh) or, as root on Debian, by the builder
itself; where neither can install them the tests skip. Ids 976-978.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from xtiny.cli import main
from xtiny.datasets.colin27 import (
    AAL_CLASSES,
    INSTALL_FIX,
    aal_region_classes,
    build_colin27_dataset,
    mricron_templates,
)
from xtiny.datasets.synth import generate_dataset
from xtiny.datasets.validate import validate_dataset
from xtiny.errors import XTinyError

NUM_CLASSES = len(AAL_CLASSES)


@pytest.fixture(scope="module")
def templates() -> Path:
    try:
        return mricron_templates()
    except XTinyError as exc:
        pytest.skip(f"Debian's mricron-data is not available: {exc}")


@pytest.fixture(scope="module")
def colin27(templates: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_colin27_dataset(raw_dir=tmp_path_factory.mktemp("raw"), dataset_id=976)


def test_name_grouping_agrees_with_aal_lobe_codes(templates: Path) -> None:
    # aal.nii.txt: "value name code"; the code's first digit is AAL's lobe (2 frontal, 3 insula, 4 limbic,
    # 5 occipital, 6 parietal, 7 central nuclei, 8 temporal, 9 cerebellum)
    lobe_to_class = {2: 1, 3: 2, 8: 2, 6: 3, 5: 4, 4: 5, 7: 5, 9: 6}
    rows = [line.split() for line in (templates / "aal.nii.txt").read_text().splitlines() if line.strip()]
    classes = aal_region_classes(templates / "aal.nii.txt")
    assert len(classes) == len(rows) == 116
    for value, name, code in rows:
        assert classes[int(value)] == lobe_to_class[int(code[0])], name


def test_cases_labels_and_dataset_json(colin27: Path) -> None:
    labels = sorted((colin27 / "labelsTr").glob("*.png"))
    assert len(labels) > 50
    seen: set[int] = set()
    for label in labels:
        lab = np.asarray(Image.open(label))
        img = np.asarray(Image.open(colin27 / "imagesTr" / f"{label.stem}_0000.png"))
        assert lab.shape == img.shape == (217, 181)
        assert lab.min() >= 0 and lab.max() <= NUM_CLASSES
        seen |= set(np.unique(lab).tolist())
    assert seen <= set(range(NUM_CLASSES + 1)) and len(seen - {0}) >= 5
    report = validate_dataset(colin27)
    assert report.ok, report.problems
    assert report.num_cases == len(labels)
    meta = json.loads((colin27 / "dataset.json").read_text())
    assert meta["labels"] == {"background": 0, **{name: i + 1 for i, (name, _) in enumerate(AAL_CLASSES)}}
    assert meta["numTraining"] == len(labels)
    assert "Cerebelum_*" in meta["description"] and "Thalamus_L" in meta["xtiny"]["regions"]["limbic_subcortical"]


def test_id_used_by_another_dataset_is_refused(colin27: Path) -> None:
    raw = colin27.parent
    generate_dataset("bus", dataset_id=977, num_cases=2, seed=0, size=32, raw_dir=raw)
    with pytest.raises(XTinyError, match="already used by"):
        build_colin27_dataset(raw_dir=raw, dataset_id=977)
    with pytest.raises(XTinyError, match="already used by"):
        generate_dataset("bus", dataset_id=976, num_cases=2, seed=0, size=32, raw_dir=raw)
    assert not (raw / "Dataset977_Colin27AAL").exists()


def test_missing_templates_name_the_folder_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(XTinyError, match="missing") as info:
        mricron_templates(tmp_path / "templates")
    assert str(tmp_path / "templates") in info.value.message and info.value.fix == INSTALL_FIX


def test_cli_colin27(templates: Path) -> None:
    assert main(["datasets", "colin27", "--id", "978"]) == 0
    assert validate_dataset(Path(os.environ["nnUNet_raw"]) / "Dataset978_Colin27AAL", max_cases=3).ok
