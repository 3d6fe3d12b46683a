"""MONAI backend: tiny training on the nnU-Net-preprocessed data, nnU-Net checkpoint format, resume, predictor."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def monai_result(planned_bus):
    from xtiny.family import add_width_family
    from xtiny.training.backends.monai_backend import train_monai
    from xtiny.training.spec import TrainSpec

    add_width_family(planned_bus, "2d")
    return train_monai(planned_bus, "2d_xtiny8", TrainSpec(backend="monai", epochs=2, iterations_per_epoch=3,
                                                           val_iterations=1))


def test_monai_result_layout_checkpoint_and_dice(monai_result):
    import torch

    r = monai_result
    assert r.backend == "monai" and r.trainer_name == "XTinyMonaiTrainer_2ep_3it_1val"
    assert r.output_folder.name == "XTinyMonaiTrainer_2ep_3it_1val__nnUNetPlans__2d_xtiny8"
    assert (r.output_folder / "plans.json").is_file() and (r.output_folder / "dataset.json").is_file()
    assert not (r.fold_folder / "checkpoint_latest.pth").exists()
    ckpt = torch.load(r.checkpoint, map_location="cpu", weights_only=False)
    for key in ("network_weights", "optimizer_state", "init_args", "trainer_name", "current_epoch",
                "inference_allowed_mirroring_axes"):
        assert key in ckpt
    assert ckpt["current_epoch"] == 2 and ckpt["init_args"]["configuration"] == "2d_xtiny8"
    assert len(ckpt["logging"]["train_losses"]) == 2
    assert r.validation_dice is not None and 0.0 <= r.validation_dice <= 1.0


def test_monai_checkpoint_predicts_with_nnunet_predictor(monai_result):
    import numpy as np
    import torch
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    predictor = nnUNetPredictor(device=torch.device("cpu"), perform_everything_on_device=False, allow_tqdm=False)
    predictor.initialize_from_trained_model_folder(str(monai_result.output_folder), use_folds=(0,))
    image = np.random.default_rng(0).normal(size=(1, 1, 64, 64)).astype(np.float32)
    seg = predictor.predict_single_npy_array(image, {"spacing": [999, 1, 1]})
    assert seg.shape == (1, 64, 64)


def test_monai_continue_resumes_from_latest(monai_result):
    """Simulate an interruption after epoch 1: only checkpoint_latest (epoch 1) exists; --continue finishes."""
    import torch

    from xtiny.nnunet.checkpoints import save_checkpoint_atomically
    from xtiny.training.backends.monai_backend import train_monai
    from xtiny.training.spec import TrainSpec

    r = monai_result
    ckpt = torch.load(r.checkpoint, map_location="cpu", weights_only=False)
    ckpt["current_epoch"] = 1
    ckpt["logging"] = {k: v[:1] for k, v in ckpt["logging"].items()}
    save_checkpoint_atomically(ckpt, r.fold_folder / "checkpoint_latest.pth")
    r.checkpoint.unlink()
    again = train_monai(r.output_folder.parent.name, "2d_xtiny8",
                        TrainSpec(backend="monai", epochs=2, iterations_per_epoch=3, val_iterations=1),
                        continue_training=True)
    assert again.checkpoint.is_file()
    resumed = torch.load(again.checkpoint, map_location="cpu", weights_only=False)
    assert resumed["current_epoch"] == 2 and len(resumed["logging"]["train_losses"]) == 2


def test_monai_validation_counts_voxels_as_nnunet_does(monai_result, planned_bus):
    """summary.json's per-case n_ref / n_pred (what per-patient Dice pools) count the raw label and the exported
    prediction."""
    import json

    import numpy as np
    from PIL import Image

    from xtiny.paths import nnunet_dirs

    summary = json.loads((monai_result.fold_folder / "validation" / "summary.json").read_text())
    labels = nnunet_dirs().raw / planned_bus / "labelsTr"
    assert summary["metric_per_case"]
    for entry in summary["metric_per_case"]:
        case = entry["reference_file"]
        reference = np.asarray(Image.open(labels / f"{case}.png"))
        predicted = np.asarray(Image.open(monai_result.fold_folder / "validation" / f"{case}.png"))
        for label, metrics in entry["metrics"].items():
            assert metrics["n_ref"] == int((reference == int(label)).sum())
            assert metrics["n_pred"] == int((predicted == int(label)).sum())
