"""`xtiny evaluate` end to end on the synthetic BUS dataset, with real nnU-Net folders and predictor."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from xtiny.cli import main
from xtiny.errors import XTinyError


def _bus(request, monkeypatch) -> str:
    return request.getfixturevalue("planned_bus")


def _splits(name: str) -> list[str]:
    from nnunetv2.utilities.crossval_split import generate_crossval_split

    from xtiny.paths import nnunet_dirs

    pre = nnunet_dirs().preprocessed / name
    path = pre / "splits_final.json"
    if not path.is_file():  # what nnU-Net's trainer writes at the start of training
        cases = sorted(p.name[:-len(".png")] for p in (nnunet_dirs().raw / name / "labelsTr").glob("*.png"))
        path.write_text(json.dumps(generate_crossval_split(cases, seed=12345, n_splits=5)))
    return json.loads(path.read_text())[0]["val"]


def _untrained_nnunet_folder(name: str, configuration: str) -> None:
    """An nnU-Net results folder with an initialization-time checkpoint (what nnU-Net's trainer saves)."""
    from xtiny.family import add_width_family
    from xtiny.nnunet.networks import build_planned_network
    from xtiny.paths import nnunet_dirs

    add_width_family(name, "2d")
    train_dir = nnunet_dirs().results / name / f"nnUNetTrainer__nnUNetPlans__{configuration}"
    (train_dir / "fold_0").mkdir(parents=True, exist_ok=True)
    pre = nnunet_dirs().preprocessed / name
    shutil.copy(pre / "nnUNetPlans.json", train_dir / "plans.json")
    shutil.copy(pre / "dataset.json", train_dir / "dataset.json")
    net = build_planned_network(name, configuration, seed=0)
    torch.save({"network_weights": net.state_dict(), "trainer_name": "nnUNetTrainer",
                "init_args": {"configuration": configuration}, "inference_allowed_mirroring_axes": (0, 1)},
               train_dir / "fold_0" / "checkpoint_final.pth")


def _validation_only_folder(name: str, model: str, val: list[str]) -> None:
    """A model folder of another backend: only fold_0/validation predictions (here: the reference itself)."""
    from xtiny.paths import nnunet_dirs

    val_dir = nnunet_dirs().results / name / f"XTinyMonaiTrainer__nnUNetPlans__{model}" / "fold_0" / "validation"
    val_dir.mkdir(parents=True, exist_ok=True)
    for case in val:
        shutil.copy(nnunet_dirs().raw / name / "labelsTr" / f"{case}.png", val_dir / f"{case}.png")


def test_evaluate_command(request, monkeypatch, capsys):
    name = _bus(request, monkeypatch)
    val = _splits(name)
    _untrained_nnunet_folder(name, "2d_xtiny8")
    _validation_only_folder(name, "cmunext_s", val)
    assert main(["evaluate", "-d", name, "-c", "2d_xtiny8", "cmunext_s", "--no-latency"]) == 0
    out = capsys.readouterr().out
    assert "| XTiny C=8 |" in out and "| CMUNeXt-S |" in out
    from xtiny.artifacts import evaluation_dir

    summary = json.loads((evaluation_dir(name) / "summary_val_fold0.json").read_text())
    assert summary["num_cases"] == len(val)
    cm = summary["models"]["cmunext_s"]
    assert cm["foreground"]["dice"]["mean"] == pytest.approx(1.0)  # predictions = reference
    assert cm["prediction_source"].startswith("fold validation") and cm["cost"]["params"] > 400_000
    xt = summary["models"]["2d_xtiny8"]
    assert xt["prediction_source"] == "nnUNetPredictor" and 0 < xt["cost"]["params"] < 40_000
    assert xt["cost"]["flops"] == 2 * xt["cost"]["macs"]
    for f in summary["files"]["figures"] + [summary["files"]["csv"], summary["files"]["table"]]:
        assert (evaluation_dir(name) / f.split("/")[-1]).stat().st_size > 0
    csv_lines = (evaluation_dir(name) / "metrics_val_fold0.csv").read_text().splitlines()
    assert csv_lines[0].startswith("model,case,label,dice,hd95") and len(csv_lines) == 1 + 2 * len(val)


def test_missing_model_names_what_to_train(request, monkeypatch):
    from xtiny.evaluation.evaluate import evaluate_models

    name = _bus(request, monkeypatch)
    with pytest.raises(XTinyError, match=r"train it first: `xtiny train -d 901 -c 2d_xtiny4 --fold 0`"):
        evaluate_models(name, ["2d_xtiny4"])


def test_evaluate_trained_bus(request, monkeypatch):
    pytest.importorskip("xtiny.training.backends.nnunet_backend")
    from xtiny.evaluation.evaluate import InferenceSettings, evaluate_models

    name = _bus(request, monkeypatch)
    result = request.getfixturevalue("trained_bus")
    summary = evaluate_models(name, [result.configuration], fold=result.fold,
                              inference=InferenceSettings(latency=False))
    entry = summary["models"][result.configuration]
    assert entry["prediction_source"] == "nnUNetPredictor"
    assert entry["foreground"]["dice"]["n"] == summary["num_cases"]
