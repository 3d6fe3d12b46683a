"""3d_fullres end to end on real nnU-Net-preprocessed volumes: width search picks a ``3d_fullres_xtiny*``
configuration, nnU-Net trains it, the edge bundle predicts 3D NIfTI like nnU-Net's predictor."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from tests.export_fixtures import edge_predict_without_torch, nnunet_predict

DATASET_ID = 908


def _volume(rng: np.random.Generator, n: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(z, y, x) volume: one bright ellipsoid (label 1) in a noisy body."""
    z, y, x = np.meshgrid(*[np.arange(n) - n / 2 + 0.5] * 3, indexing="ij")
    c = rng.uniform(-4, 4, 3)
    blob = ((z - c[0]) / 7) ** 2 + ((y - c[1]) / 6) ** 2 + ((x - c[2]) / 8) ** 2 < 1
    image = 100 + 10 * rng.standard_normal((n, n, n)) + 120 * blob
    return image.astype(np.float32), blob.astype(np.uint8)


def test_run_3d_search_train_export_report_predict(nnunet_work: Path, tmp_path: Path) -> None:
    """`xtiny run -c 3d_fullres`: the pick is a 3d_fullres_xtiny configuration, the report shows that search, and
    the run's edge bundle predicts 3D NIfTI like nnU-Net's predictor on the run's checkpoint."""
    import json

    import nibabel

    from xtiny.cli import main
    from xtiny.datasets.rawio import dataset_folder_name, write_case, write_dataset_json
    from xtiny.export.evaluate import dice
    from xtiny.search import SearchSettings, run_search

    raw = nnunet_work / "raw" / dataset_folder_name(DATASET_ID, "Blob3d")
    rng = np.random.default_rng(0)
    for i in range(8):
        image, label = _volume(rng)
        write_case(raw, f"blob_{i:03d}", [image], label, ".nii.gz", (1.0, 1.0, 1.0))
    write_dataset_json(raw, channel_names={"0": "MR"}, labels={"background": 0, "blob": 1}, num_training=8,
                       file_ending=".nii.gz")
    caps = [16, 8, 4, 2, 1]  # a narrow family: the pick trains, exports and predicts in seconds
    assert main(["run", "-d", str(DATASET_ID), "-c", "3d_fullres", "-k", "4", "--seeds", "1", "--caps",
                 *map(str, caps), "--epochs", "3", "--iterations", "10", "--val-iterations", "1", "--formats",
                 "onnx,bundle", "--no-confirm"]) == 0
    name = raw.name
    stages = json.loads((nnunet_work / "results" / name / "xtiny" / "run.json").read_text())["stages"]
    pick = stages["search"]["outputs"]["chosen"]
    assert "confirm" not in stages and stages["train_pick"]["outputs"]["configuration"] == pick  # --no-confirm
    search = json.loads(Path(stages["search"]["outputs"]["search_json_path"]).read_text())
    assert pick.startswith("3d_fullres_xtiny") and len(search["candidates"]) >= 5
    assert [c["cap"] for c in search["candidates"]] == caps  # the run searched the family it was given
    assert run_search(name, "3d_fullres", SearchSettings(k=4, seeds=1, device="cpu", caps=caps),
                      progress=False)["chosen"] == pick  # cached

    report = Path(stages["report"]["outputs"]["report_path"]).read_text()
    assert "Width search at initialization" in report and "no width search yet" not in report
    assert f"<b>{pick}</b>" in report and "search_3d_fullres" in stages["search"]["outputs"]["search_json_path"]

    trainer = stages["train_pick"]["outputs"]["trainer"]
    inputs = tmp_path / "in"
    inputs.mkdir()
    cases = ["blob_000", "blob_005"]
    for case in cases:
        shutil.copy(raw / "imagesTr" / f"{case}_0000.nii.gz", inputs)
    result = edge_predict_without_torch(Path(stages["export"]["outputs"]["bundle_dir"]), inputs, tmp_path / "edge")
    assert result.returncode == 0, result.stderr[-2000:]
    nnunet_predict(name, pick, trainer, inputs, tmp_path / "nnunet")
    for case in cases:
        ref = np.asarray(nibabel.load(str(tmp_path / "nnunet" / f"{case}.nii.gz")).dataobj)
        ours = np.asarray(nibabel.load(str(tmp_path / "edge" / f"{case}.nii.gz")).dataobj)
        assert ours.shape == ref.shape == (32, 32, 32)
        assert ref.sum() > 100, f"{case}: nnU-Net predicts almost no foreground; the comparison would be empty"
        assert dice(ref, ours, [1]) >= 0.99, case
