"""Baselines (UNeXt here) train with the MONAI backend on the 2d data and evaluate next to the XTiny pick."""

from __future__ import annotations

import pytest

BUDGET = {"backend": "monai", "epochs": 1, "iterations_per_epoch": 3, "val_iterations": 0, "device": "cpu"}
TRAINER = "XTinyMonaiTrainer_1ep_3it_0val"


@pytest.fixture(scope="module")
def trained_pair(planned_bus):
    from xtiny.family import add_width_family
    from xtiny.training.backends.monai_backend import train_monai
    from xtiny.training.spec import TrainSpec

    add_width_family(planned_bus, "2d")
    return {c: train_monai(planned_bus, c, TrainSpec(**BUDGET)) for c in ("unext", "2d_xtiny8")}


def test_baseline_lands_in_nnunet_layout_with_raw_predictions(planned_bus, trained_pair):
    import torch

    from xtiny.atomic import read_json
    from xtiny.evaluation.locate import split_cases
    from xtiny.paths import nnunet_dirs

    r = trained_pair["unext"]
    assert r.output_folder.name == f"{TRAINER}__nnUNetPlans__unext"
    assert r.validation_dice is not None
    ckpt = torch.load(r.checkpoint, map_location="cpu", weights_only=False)
    assert ckpt["xtiny"]["model"] == "unext" and ckpt["xtiny"]["data_configuration"] == "2d"
    ending = read_json(nnunet_dirs().raw / planned_bus / "dataset.json")["file_ending"]
    for case in split_cases(planned_bus, ["2d"], 0, "val"):
        assert (r.fold_folder / "validation" / f"{case}{ending}").is_file()


def test_evaluate_pick_and_baseline_together(planned_bus, trained_pair):
    from xtiny.evaluation.evaluate import InferenceSettings, evaluate_models
    from xtiny.models import build_model

    summary = evaluate_models(planned_bus, ["2d_xtiny8", "unext"], trainer=TRAINER,
                              inference=InferenceSettings(latency=False), log=lambda *_: None)
    models = summary["models"]
    assert models["2d_xtiny8"]["prediction_source"] == "nnUNetPredictor"
    assert models["unext"]["prediction_source"] == "fold validation/ folder"
    assert models["unext"]["cost"]["params"] == sum(p.numel() for p in build_model("unext", 1, 2).parameters())
    assert models["unext"]["cost"]["flops"] > 0
    for entry in models.values():
        assert entry["foreground"]["dice"]["mean"] is not None


def test_cli_refuses_baseline_with_nnunet_backend(planned_bus, capsys):
    from xtiny.cli import main

    assert main(["train", "-d", planned_bus, "-c", "unext", "--epochs", "1"]) == 2
    assert "--backend monai" in capsys.readouterr().err
