"""The edge predictor on NIfTI volumes whose spacing differs from the training spacing (so it crops, resamples
to the plans' spacing and back) agrees with nnU-Net's predictor and writes labels in the input's geometry."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.export_fixtures import edge_predict_without_torch, nnunet_predict

DATASET_ID = 907
# in-plane spacings (mm) per case: the median (1.0) becomes nnU-Net's target, the others are resampled
SPACINGS = [1.0, 0.8, 1.25, 1.0, 0.8, 1.25, 1.0, 1.0, 0.8, 1.25]


def _case(rng: np.random.Generator, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """(z, y, x) MR-like volume: a bright ellipse (label 1) of fixed physical size on a noisy body, zero border."""
    n = int(round(60 / spacing))
    y, x = np.meshgrid(*[(np.arange(n) - n / 2 + 0.5) * spacing] * 2, indexing="ij")
    image = np.zeros((4, n, n), np.float32)
    label = np.zeros((4, n, n), np.uint8)
    for z in range(4):
        cy, cx = rng.uniform(-6, 6, 2)
        blob = ((y - cy) / 14) ** 2 + ((x - cx) / 10) ** 2 < 1
        body = (y / 27) ** 2 + (x / 27) ** 2 < 1  # zero outside: nnU-Net crops to the nonzero box
        image[z] = body * (100 + 10 * rng.standard_normal((n, n))) + blob * 120
        label[z] = blob & body
    return image, label


@pytest.fixture(scope="module")
def nifti_bundle(nnunet_work: Path, tmp_path_factory):
    from xtiny.datasets.rawio import dataset_folder_name, write_dataset_json, write_nifti
    from xtiny.export import ExportSettings, export_model
    from xtiny.family import add_width_family
    from xtiny.nnunet.planning import plan_and_preprocess
    from xtiny.training.backends.nnunet_backend import train_nnunet
    from xtiny.training.spec import TrainSpec

    raw = nnunet_work / "raw" / dataset_folder_name(DATASET_ID, "AnisoMR")
    rng = np.random.default_rng(0)
    for folder in ("imagesTr", "labelsTr"):
        (raw / folder).mkdir(parents=True, exist_ok=True)
    for i, spacing in enumerate(SPACINGS):
        image, label = _case(rng, spacing)
        write_nifti(raw / "imagesTr" / f"mr_{i:03d}_0000.nii.gz", image, (4.0, spacing, spacing))
        write_nifti(raw / "labelsTr" / f"mr_{i:03d}.nii.gz", label, (4.0, spacing, spacing), dtype=np.uint8)
    write_dataset_json(raw, channel_names={"0": "MR"}, labels={"background": 0, "lesion": 1},
                       num_training=len(SPACINGS), file_ending=".nii.gz")
    name = plan_and_preprocess(DATASET_ID, configurations=("2d",), num_processes=2)
    add_width_family(name, "2d", caps=[8])
    trained = train_nnunet(name, "2d_xtiny8", TrainSpec(epochs=2, iterations_per_epoch=25, val_iterations=2))
    out = tmp_path_factory.mktemp("nifti-export")
    export_model(name, "2d_xtiny8", 0, ExportSettings(formats=("onnx", "bundle"), trainer=trained.trainer_name,
                                                      max_val_cases=2, calibration_patches=4),
                 output_dir=out, log=lambda *_: None)
    return {"dataset": name, "raw": raw, "trainer": trained.trainer_name, "bundle": out / "edge"}


def test_edge_resamples_nifti_like_nnunet(nifti_bundle, tmp_path):
    import nibabel

    from xtiny.edge import load_bundle
    from xtiny.export.evaluate import dice

    pre = load_bundle(nifti_bundle["bundle"]).preprocess
    assert pre["file_ending"] == ".nii.gz" and pre["spacing"][-2:] == [1.0, 1.0]
    inputs = tmp_path / "in"
    inputs.mkdir()
    picked = ["mr_001", "mr_002", "mr_003"]  # 0.8 mm (upsampled), 1.25 mm (downsampled), 1.0 mm (as is)
    for case in picked:
        shutil.copy(nifti_bundle["raw"] / "imagesTr" / f"{case}_0000.nii.gz", inputs)
    result = edge_predict_without_torch(nifti_bundle["bundle"], inputs, tmp_path / "edge")
    assert result.returncode == 0, result.stderr[-2000:]
    nnunet_predict(nifti_bundle["dataset"], "2d_xtiny8", nifti_bundle["trainer"], inputs, tmp_path / "nnunet")
    for case in picked:
        source = nibabel.load(str(inputs / f"{case}_0000.nii.gz"))
        ours = nibabel.load(str(tmp_path / "edge" / f"{case}.nii.gz"))
        ref = nibabel.load(str(tmp_path / "nnunet" / f"{case}.nii.gz"))
        assert ours.shape == source.shape == ref.shape
        np.testing.assert_allclose(ours.affine, source.affine, atol=1e-4)
        np.testing.assert_allclose(ours.header.get_zooms(), source.header.get_zooms(), atol=1e-5)
        a, b = np.asarray(ref.dataobj), np.asarray(ours.dataobj)
        assert a.sum() > 50, f"{case}: nnU-Net predicts almost no foreground; the comparison would be empty"
        assert dice(a, b, [1]) >= 0.99, case
