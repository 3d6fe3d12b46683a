"""Synthetic family and the MNI dataset: deterministic, valid, fast; one kind through nnU-Net planning."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from xtiny.cli import main
from xtiny.datasets.synth import KINDS, generate_case, generate_dataset
from xtiny.datasets.validate import validate_dataset


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_validates(tmp_path: Path, kind: str) -> None:
    folder = generate_dataset(kind, dataset_id=970, num_cases=2, seed=0, size=32, raw_dir=tmp_path)
    assert folder.name.startswith("Dataset970_Synth")
    report = validate_dataset(folder)
    assert report.ok, report.problems
    labels = set()
    for i in range(2):
        labels |= set(np.unique(generate_case(kind, 0, i, 2, 32)[1]).tolist())
    assert labels >= {0, 1}


def test_deterministic_and_seed_dependent() -> None:
    a, la = generate_case("cardiac", 5, 1, 3, 48)
    b, lb = generate_case("cardiac", 5, 1, 3, 48)
    c, _ = generate_case("cardiac", 6, 1, 3, 48)
    assert np.array_equal(a, b) and np.array_equal(la, lb) and not np.array_equal(a, c)
    assert set(np.unique(la).tolist()) == {0, 1, 2, 3}


def test_rerun_skips_identical_and_regenerates_changed(tmp_path: Path) -> None:
    folder = generate_dataset("bus", dataset_id=971, num_cases=2, seed=0, size=32, raw_dir=tmp_path)
    stamp = (folder / "dataset.json").stat().st_mtime_ns
    generate_dataset("bus", dataset_id=971, num_cases=2, seed=0, size=32, raw_dir=tmp_path)
    assert (folder / "dataset.json").stat().st_mtime_ns == stamp
    generate_dataset("bus", dataset_id=971, num_cases=3, seed=0, size=32, raw_dir=tmp_path)
    assert len(list((folder / "labelsTr").iterdir())) == 3
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]


def test_cli_synth_preview_and_id_clash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("nnUNet_raw", str(tmp_path))
    assert main(["datasets", "synth", "derm", "--cases", "3", "--size", "32", "--id", "972", "--preview"]) == 0
    assert (tmp_path / "Dataset972_SynthDerm" / "preview.png").is_file()
    assert main(["datasets", "synth", "bus", "--cases", "2", "--size", "32", "--id", "972"]) == 2
    assert "already used by" in capsys.readouterr().err


def test_256px_cases_are_written_whole(tmp_path: Path) -> None:
    """Generation speed is measured by bench/bench_fast_paths.py (200 cases, 2 workers, < 30 s)."""
    from PIL import Image

    folder = generate_dataset("fundus", dataset_id=973, num_cases=4, seed=0, size=256, raw_dir=tmp_path, workers=1)
    images = sorted((folder / "imagesTr").glob("*.png"))
    labels = sorted((folder / "labelsTr").glob("*.png"))
    assert len(labels) == 4 and len(images) >= 4
    for label in labels:
        assert np.asarray(Image.open(label)).shape[:2] == (256, 256)


@pytest.mark.slow  # ~60-100 s on a busy 2-core box (nnU-Net spawns worker pools)
def test_brain3d_plans_3d_fullres(tmp_path: Path) -> None:
    from xtiny.nnunet.planning import plan_and_preprocess

    generate_dataset("brain3d", dataset_id=974, num_cases=3, seed=0, size=16, raw_dir=Path(os.environ["nnUNet_raw"]))
    name = plan_and_preprocess(974, configurations=("3d_fullres",), num_processes=2)
    assert (Path(os.environ["nnUNet_preprocessed"]) / name / "nnUNetPlans_3d_fullres").is_dir()


def test_mni_dataset(tmp_path: Path) -> None:
    pytest.importorskip("nilearn")
    from xtiny.datasets.mni import build_mni_dataset

    folder = build_mni_dataset(raw_dir=tmp_path, dataset_id=975, resolution=2, min_tissue=0.3)
    report = validate_dataset(folder, max_cases=3)
    assert report.ok, report.problems
    assert report.labels == [0, 1, 2] and report.num_cases > 5
    assert "nilearn" in (folder / "dataset.json").read_text()
