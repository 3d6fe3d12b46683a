"""Candidate family in nnU-Net's plans: atomic/idempotent writes, 3d_fullres, errors, nnU-Net-identical networks."""

from __future__ import annotations

import copy
import json
import shutil

import pytest
import torch

from xtiny.errors import XTinyError
from xtiny.family import add_width_family, default_caps
from xtiny.meta_pass import count_parameters, meta_profile
from xtiny.nnunet.networks import build_planned_network
from xtiny.nnunet.plans import plans_path
from xtiny.paths import nnunet_dirs


def _plans(name: str) -> dict:
    return json.loads(plans_path(name).read_text())


def test_default_caps():
    assert default_caps([32, 64, 128, 256, 512]) == [512, 256, 128, 64, 32, 16, 8, 4, 2, 1]
    assert default_caps([32, 64, 128, 256, 320, 320]) == [320, 160, 80, 40, 20, 10, 5, 2, 1]


def test_family_written_atomically_and_idempotently(planned_bus):
    path = plans_path(planned_bus)
    before = _plans(planned_bus)
    names = add_width_family(planned_bus, "2d")
    base_fps = before["configurations"]["2d"]["architecture"]["arch_kwargs"]["features_per_stage"]
    assert names[0] == f"2d_xtiny{max(base_fps)}" and names[-1] == "2d_xtiny1" and "2d_xtiny8" in names
    after = _plans(planned_bus)
    for name, cfg in before["configurations"].items():  # existing configurations untouched
        assert after["configurations"][name] == cfg
    cfg8 = after["configurations"]["2d_xtiny8"]
    assert cfg8["inherits_from"] == "2d"
    assert cfg8["architecture"]["arch_kwargs"]["features_per_stage"] == [min(8, f) for f in base_fps]
    arch_base = copy.deepcopy(before["configurations"]["2d"]["architecture"])
    arch_base["arch_kwargs"]["features_per_stage"] = cfg8["architecture"]["arch_kwargs"]["features_per_stage"]
    assert cfg8["architecture"] == arch_base  # only features_per_stage differs
    bak = path.with_name(path.name + ".bak")
    assert bak.is_file()
    # rerun: nothing changes, the file is not rewritten
    stamp, content = path.stat().st_mtime_ns, path.read_bytes()
    assert add_width_family(planned_bus, "2d") == names
    assert add_width_family(planned_bus, "2d", caps=[8, 4]) == ["2d_xtiny8", "2d_xtiny4"]
    assert path.stat().st_mtime_ns == stamp and path.read_bytes() == content
    # nnU-Net resolves the candidate with the base's data
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    cm = PlansManager(str(path)).get_configuration("2d_xtiny8")
    assert cm.data_identifier == before["configurations"]["2d"]["data_identifier"]


def test_invalid_caps_and_conflicts(planned_bus):
    for caps in ([8, 0], [-4], [2.5]):
        with pytest.raises(XTinyError, match="positive"):
            add_width_family(planned_bus, "2d", caps=caps)
    with pytest.raises(XTinyError, match="3d_lowres"):
        add_width_family(planned_bus, "3d_lowres")
    # an existing configuration with the same name but other content is never changed
    path = plans_path(planned_bus)
    plans = _plans(planned_bus)
    plans["configurations"]["2d_xtiny3"] = {"inherits_from": "2d", "batch_size": 7}
    path.write_text(json.dumps(plans))
    try:
        with pytest.raises(XTinyError, match="already exists"):
            add_width_family(planned_bus, "2d", caps=[3])
        assert _plans(planned_bus)["configurations"]["2d_xtiny3"] == {"inherits_from": "2d", "batch_size": 7}
    finally:
        del plans["configurations"]["2d_xtiny3"]
        path.write_text(json.dumps(plans, indent=2))


def test_not_planned_dataset_error(nnunet_work):
    (nnunet_dirs().raw / "Dataset995_NotPlanned").mkdir(parents=True, exist_ok=True)
    with pytest.raises(XTinyError, match="nnUNetv2_plan_and_preprocess -d 995 -c 2d"):
        add_width_family("Dataset995_NotPlanned", "2d")


def test_network_matches_nnunet_trainer(planned_cardiac):
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    add_width_family(planned_cardiac, "2d", caps=[4])
    ours = build_planned_network(planned_cardiac, "2d_xtiny4", seed=3)
    dataset_json = json.loads((plans_path(planned_cardiac).parent / "dataset.json").read_text())
    pm = PlansManager(str(plans_path(planned_cardiac)))
    torch.manual_seed(3)
    theirs = nnUNetTrainer.build_network_architecture(
        pm, pm.get_configuration("2d_xtiny4"), 1, pm.get_label_manager(dataset_json).num_segmentation_heads, False)
    a, b = ours.state_dict(), theirs.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)
    assert max(m.out_channels for m in ours.modules() if isinstance(m, torch.nn.Conv2d)) <= 4
    # MAC counter: first conv at 64x64 = 64*64 * out(4) * in(1) * 3*3
    first = next(m for m in ours.modules() if isinstance(m, torch.nn.Conv2d))
    assert first.in_channels == 1
    assert meta_profile(ours, (1, 64, 64))["macs"] > 64 * 64 * 4 * 9
    assert count_parameters(ours) == sum(p.numel() for p in theirs.parameters())


def _fake_3d_dataset(source: str) -> str:
    """Plans-only 3D dataset: the 2d plans of ``source`` plus a constructed 3d_fullres configuration."""
    name = "Dataset996_Plans3d"
    src, dst = plans_path(source).parent, nnunet_dirs().preprocessed / name
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(parents=True)
    shutil.copy(src / "dataset.json", dst / "dataset.json")
    plans = json.loads((src / "nnUNetPlans.json").read_text())
    plans["dataset_name"] = name
    cfg = copy.deepcopy(plans["configurations"]["2d"])
    arch = cfg["architecture"]["arch_kwargs"]
    arch.update(n_stages=4, features_per_stage=[32, 64, 128, 320], conv_op="torch.nn.modules.conv.Conv3d",
                norm_op="torch.nn.modules.instancenorm.InstanceNorm3d", kernel_sizes=[[3, 3, 3]] * 4,
                strides=[[1, 1, 1]] + [[2, 2, 2]] * 3, n_conv_per_stage=[2] * 4, n_conv_per_stage_decoder=[2] * 3)
    cfg.update(data_identifier="nnUNetPlans_3d_fullres", patch_size=[16, 16, 16], spacing=[1.0, 1.0, 1.0])
    plans["configurations"] = {"3d_fullres": cfg}
    (dst / "nnUNetPlans.json").write_text(json.dumps(plans, indent=2))
    return name


def test_3d_fullres_family(planned_bus):
    name = _fake_3d_dataset(planned_bus)
    names = add_width_family(name, "3d_fullres", caps=[160, 8, 1])
    assert names == ["3d_fullres_xtiny160", "3d_fullres_xtiny8", "3d_fullres_xtiny1"]
    cfg = _plans(name)["configurations"]["3d_fullres_xtiny160"]
    assert cfg["inherits_from"] == "3d_fullres"
    assert cfg["architecture"]["arch_kwargs"]["features_per_stage"] == [32, 64, 128, 160]
    net = build_planned_network(name, "3d_fullres_xtiny8", seed=0)
    out = net(torch.zeros(1, 1, 16, 16, 16))
    assert out.shape[2:] == (16, 16, 16)
    assert default_caps([32, 64, 128, 320]) == [320, 160, 80, 40, 20, 10, 5, 2, 1]
