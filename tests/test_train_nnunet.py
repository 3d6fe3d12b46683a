"""nnU-Net backend: a real (tiny) nnU-Net training of 2d_xtiny8, its results layout, and nnU-Net's predictor."""

from __future__ import annotations

import os

os.environ.setdefault("nnUNet_def_n_proc", "2")  # nnU-Net's validation export pool: 2 processes on 2 cores

import pytest

from xtiny.errors import XTinyError


def test_trained_result_layout_and_dice(trained_bus):
    r = trained_bus
    assert r.trainer_name == "nnUNetTrainer_XTiny_1ep_20it_2val"
    assert r.output_folder.name == f"{r.trainer_name}__nnUNetPlans__2d_xtiny8"
    assert r.checkpoint == r.output_folder / "fold_0" / "checkpoint_final.pth"
    assert r.checkpoint.is_file()
    for name in ("plans.json", "dataset.json"):
        assert (r.output_folder / name).is_file()
    assert (r.output_folder / "fold_0" / "validation" / "summary.json").is_file()
    assert r.validation_dice is not None and 0.0 <= r.validation_dice <= 1.0
    assert not list(r.checkpoint.parent.glob("*.tmp*")), "atomic checkpoint writes leave no temp files"


def test_checkpoint_loads_in_nnunet_predictor_and_predicts(trained_bus, nnunet_work):
    import numpy as np
    import torch
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    checkpoint = torch.load(trained_bus.checkpoint, map_location="cpu", weights_only=False)
    assert checkpoint["trainer_name"] == trained_bus.trainer_name
    assert checkpoint["init_args"]["configuration"] == "2d_xtiny8"
    predictor = nnUNetPredictor(device=torch.device("cpu"), perform_everything_on_device=False, allow_tqdm=False)
    predictor.initialize_from_trained_model_folder(str(trained_bus.output_folder), use_folds=(0,))
    assert max(predictor.configuration_manager.network_arch_init_kwargs["features_per_stage"]) == 8
    raw = nnunet_work / "raw" / trained_bus.output_folder.parent.name / "imagesTr"
    image_file = sorted(raw.iterdir())[0]
    image, props = SimpleITKIO().read_images([str(image_file)])
    seg = predictor.predict_single_npy_array(image, props)
    assert seg.shape == image.shape[1:] and set(np.unique(seg)) <= {0, 1}


def test_trainer_found_by_nnunet_by_name(trained_bus):
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name

    cls = recursive_find_trainer_class_by_name(trained_bus.trainer_name)
    assert cls.__name__ == trained_bus.trainer_name
    assert (cls.budget_epochs, cls.budget_iterations, cls.budget_val_iterations) == (1, 20, 2)


def test_bad_input_is_xtiny_error(planned_bus):
    from xtiny.training.backends.nnunet_backend import train_nnunet
    from xtiny.training.spec import TrainSpec

    tiny = TrainSpec(epochs=1, iterations_per_epoch=1, val_iterations=1)
    with pytest.raises(XTinyError, match="not in"):
        train_nnunet(planned_bus, "2d_xtiny3", tiny)
    with pytest.raises(XTinyError, match="no checkpoint"):
        train_nnunet(planned_bus, "2d", tiny, continue_training=True)
    with pytest.raises(XTinyError, match="budget"):
        TrainSpec(epochs=1, iterations_per_epoch=1, val_iterations=0)
    with pytest.raises(XTinyError, match="fold"):
        TrainSpec(fold="x", epochs=1)
    with pytest.raises(XTinyError, match="monai training spec"):
        train_nnunet(planned_bus, "2d", TrainSpec(backend="monai", epochs=1))
    with pytest.raises(XTinyError, match="teacher"):
        train_nnunet(planned_bus, "2d", TrainSpec(epochs=1, kd=(0.5, 2.0)))


def test_cli_auto_without_search_and_unknown_config(planned_bus, capsys):
    from xtiny.artifacts import search_json_path
    from xtiny.cli import main

    if not search_json_path(planned_bus).is_file():
        assert main(["train", "-d", planned_bus, "-c", "auto", "--epochs", "1"]) == 2
        assert "xtiny search" in capsys.readouterr().err
    assert main(["train", "-d", planned_bus, "-c", "3d_fullres", "--epochs", "1"]) == 2
    assert "3d_fullres" in capsys.readouterr().err
