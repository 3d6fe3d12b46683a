"""Shared fixture helpers for tests/test_export*.py and tests/test_edge*.py: one exported model per session."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path


def has_training_backend() -> bool:
    return importlib.util.find_spec("xtiny.training.nnunet_backend") is not None


def write_untrained_checkpoint(dataset_name: str, configuration: str = "2d") -> str:
    """Fallback while the training backend is not there: nnU-Net's network from the plans (He init), saved in
    nnU-Net's results layout and checkpoint format. Returns the trainer name."""
    import torch
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    from xtiny.nnunet_api import plans_path
    from xtiny.paths import nnunet_dirs

    plans = json.loads(plans_path(dataset_name).read_text())
    dataset_json = json.loads((plans_path(dataset_name).parent / "dataset.json").read_text())
    config = PlansManager(plans).get_configuration(configuration)
    torch.manual_seed(0)
    net = get_network_from_plans(config.network_arch_class_name, config.network_arch_init_kwargs,
                                 config.network_arch_init_kwargs_req_import, len(dataset_json["channel_names"]),
                                 len(dataset_json["labels"]), allow_init=True, deep_supervision=False)
    folder = nnunet_dirs().results / dataset_name / f"nnUNetTrainer__nnUNetPlans__{configuration}"
    (folder / "fold_0").mkdir(parents=True, exist_ok=True)
    (folder / "plans.json").write_text(json.dumps(plans))
    (folder / "dataset.json").write_text(json.dumps(dataset_json))
    torch.save({"network_weights": net.state_dict(), "trainer_name": "nnUNetTrainer", "current_epoch": 0,
                "init_args": {"configuration": configuration, "fold": 0}, "logging": {},
                "inference_allowed_mirroring_axes": (0, 1)}, folder / "fold_0" / "checkpoint_final.pth")
    return "nnUNetTrainer"


def planned(request) -> str:
    """``planned_bus``; nnU-Net's planner calls ``torch.set_num_threads(nnUNet_n_proc_DA)``, which fails on the
    conftest's 0, so planning runs with 1 (restored afterwards) until xtiny.nnunet_api handles it."""
    import os

    before = os.environ.get("nnUNet_n_proc_DA")
    os.environ["nnUNet_n_proc_DA"] = "1"
    try:
        return request.getfixturevalue("planned_bus")
    finally:
        if before is not None:
            os.environ["nnUNet_n_proc_DA"] = before


def exported_model(request, tmp_root: Path) -> dict:
    """Train (``trained_bus``) or fall back to an untrained checkpoint, export every format once."""
    from xtiny.export import export_model

    if has_training_backend():
        dataset = planned(request)
        configuration = request.getfixturevalue("trained_bus").configuration
    else:
        dataset, configuration = planned(request), "2d"
        write_untrained_checkpoint(dataset, configuration)
    out = tmp_root / "export"
    report = export_model(dataset, configuration, 0, output_dir=out, max_val_cases=2, calibration_patches=4)
    return {"dataset": dataset, "configuration": configuration, "out": out, "report": report}
