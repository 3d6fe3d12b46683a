"""Distillation: a 1-epoch KD student from a 1-epoch teacher under both backends (real nnU-Net, real files), its loss
parts logged, its predictions through nnUNetv2_predict and the edge bundle; bad teachers and settings exit 2 and
write nothing."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.export_fixtures import copy_raw_images
from xtiny.cli import main

STUDENT = "2d_xtiny4"
BUDGET = ["--epochs", "1", "--iterations", "6", "--val-iterations", "1"]


@pytest.fixture(scope="module")
def teacher_bus(planned_bus: str, nnunet_work: Path):
    """``planned_bus`` with its width family and a 1-epoch ``2d`` teacher trained on fold 0. Every model folder and
    teacher record this module makes is removed afterwards (later test modules expect those widths untrained)."""
    import shutil

    from xtiny.family import add_width_family

    results = nnunet_work / "results"
    before = {p for p in results.glob("*/*") if p.is_dir()} | set(results.glob("*/xtiny/kd_teacher_*.json"))
    add_width_family(planned_bus, "2d")
    assert main(["train", "-d", planned_bus, "-c", "2d", *BUDGET]) == 0
    yield planned_bus
    made = ({p for p in results.glob("*/*") if p.is_dir()} | set(results.glob("*/xtiny/kd_teacher_*.json"))) - before
    for path in sorted(made, key=Path.is_dir):  # files first: a new xtiny/ folder holds the new teacher records
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def _kd_folders(dataset: str, configuration: str) -> list[Path]:
    from xtiny.nnunet.trained import trainer_folders

    return [p for t, p in trainer_folders(dataset, configuration).items() if "KD" in t]


def test_kd_student_both_backends_logs_its_parts_and_predicts(teacher_bus: str, tmp_path: Path, capsys) -> None:
    from PIL import Image

    from xtiny.export import ExportSettings, export_model
    from xtiny.export.evaluate import dice
    from xtiny.nnunet.checkpoints import load_checkpoint
    from xtiny.nnunet.trained import find_trainer_folder, model_folder
    from xtiny.training.backends.distill import teacher_record_path

    assert main(["train", "-d", teacher_bus, "-c", STUDENT, *BUDGET, "--teacher", "2d", "--kd-alpha", "0.5",
                 "--kd-temperature", "2", "--kd-loss", "cwd"]) == 0
    out = capsys.readouterr().out
    trainer = "nnUNetTrainer_XTinyKD_cwd_a0p5_T2_1ep_6it_1val"
    assert trainer in out and "distilled from" in out and "cwd KD" in out
    record = json.loads(teacher_record_path(teacher_bus, 0).read_text())
    teacher_ckpt = find_trainer_folder(teacher_bus, "2d", "nnUNetTrainer_XTiny_1ep_6it_1val") / "fold_0" / \
        "checkpoint_final.pth"
    assert Path(record["checkpoint"]) == teacher_ckpt and record["configuration"] == "2d"

    fold = model_folder(teacher_bus, trainer, STUDENT) / "fold_0"
    ckpt = load_checkpoint(fold / "checkpoint_final.pth")
    assert ckpt["trainer_name"] == trainer
    log = ckpt["logging"]
    seg, kd, total = log["train_seg_losses"][0], log["train_kd_losses"][0], log["train_losses"][0]
    assert kd > 0 and math.isfinite(kd), "the KD term must be present and positive for a random student"
    assert total == pytest.approx(0.5 * seg + 0.5 * kd, rel=1e-4, abs=1e-5)
    training_log = next(fold.glob("training_log_*.txt")).read_text()
    assert "KD: teacher 2d" in training_log and "cwd KD" in training_log and "KD loss parts" in training_log

    # MONAI backend, same teacher, the fg loss with default alpha and T: its own trainer name, the same loss parts
    from xtiny.training.backends.distill import KD_DEFAULT_ALPHA as A
    from xtiny.training.backends.distill import KD_DEFAULT_TEMPERATURE as T
    from xtiny.training.backends.trainer_classes import budget_trainer_name

    assert main(["train", "-d", teacher_bus, "-c", STUDENT, *BUDGET, "--teacher", "2d", "--backend", "monai",
                 "--kd-loss", "fg"]) == 0
    monai_trainer = budget_trainer_name(1, 6, 1, backend="monai", kd=(A, T), kd_loss="fg")
    assert monai_trainer.startswith("XTinyMonaiTrainerKD_fg_a")
    monai_ckpt = load_checkpoint(model_folder(teacher_bus, monai_trainer, STUDENT) / "fold_0" / "checkpoint_final.pth")
    mlog = monai_ckpt["logging"]
    assert mlog["train_kd_losses"][0] > 0
    assert mlog["train_losses"][0] == pytest.approx((1 - A) * mlog["train_seg_losses"][0] + A * mlog["train_kd_losses"][0],
                                                    rel=1e-4, abs=1e-5)
    assert monai_ckpt["xtiny"]["kd"]["teacher"] == str(teacher_ckpt) and monai_ckpt["xtiny"]["kd"]["loss"] == "fg"

    # the nnU-Net cwd KD student through nnU-Net's own CLI (its trainer class found by name) and the edge bundle
    cases = ["synthbus_0000", "synthbus_0003"]
    inputs = copy_raw_images(teacher_bus, cases, tmp_path / "in")
    did = str(int(teacher_bus[len("Dataset"):len("Dataset") + 3]))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(["nnUNetv2_predict", "-i", str(inputs), "-o", str(tmp_path / "nnunet"), "-d", did,
                           "-c", STUDENT, "-f", "0", "-tr", trainer, "-device", "cpu", "-npp", "1", "-nps", "1",
                           "--disable_tta"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    export_model(teacher_bus, STUDENT, 0, ExportSettings(formats=("onnx", "bundle"), trainer=trainer,
                                                         max_val_cases=1, calibration_patches=2),
                 output_dir=tmp_path / "export", log=lambda *_: None)
    assert main(["predict", str(tmp_path / "export"), "-i", str(inputs), "-o", str(tmp_path / "edge"),
                 "--no-mirroring"]) == 0
    for case in cases:
        ref = np.asarray(Image.open(tmp_path / "nnunet" / f"{case}.png"))
        ours = np.asarray(Image.open(tmp_path / "edge" / f"{case}.png"))
        assert ref.shape == ours.shape and dice(ref, ours, [1]) >= 0.99, case


@pytest.mark.parametrize("backend, loss", [("monai", "cwd")])  # ("nnunet", "pixel") too costs ~25 s more
def test_the_other_kd_terms_train_with_their_parts_logged(teacher_bus: str, backend: str, loss: str) -> None:
    """With the test above (nnU-Net cwd, MONAI fg) and the online family runs of test_family_run (nnU-Net fg, MONAI
    pixel), every KD term trains a student on the MONAI backend and cwd/fg on nnU-Net's (nnU-Net's pixel student
    is the trainer this module tested before the KD terms became a choice: same code, the loss looked up by name)."""
    from xtiny.nnunet.checkpoints import load_checkpoint
    from xtiny.training.backends.monai_backend import train_monai
    from xtiny.training.backends.nnunet_backend import train_nnunet
    from xtiny.training.spec import TrainSpec

    spec = TrainSpec(backend=backend, epochs=1, iterations_per_epoch=2, val_iterations=1, kd=(0.25, 3.0), kd_loss=loss)
    train = train_monai if backend == "monai" else train_nnunet
    result = train(teacher_bus, STUDENT, spec, teacher="2d")
    assert result.trainer_name == spec.trainer_name and (f"_{loss}_" in spec.trainer_name) == (loss != "pixel")
    assert result.extra["kd_loss"] == loss and (result.extra["kd_alpha"], result.extra["kd_temperature"]) == (0.25, 3.0)
    log = load_checkpoint(result.checkpoint)["logging"]
    seg, kd, total = log["train_seg_losses"][0], log["train_kd_losses"][0], log["train_losses"][0]
    assert kd > 0 and math.isfinite(kd)
    assert total == pytest.approx(0.75 * seg + 0.25 * kd, rel=1e-4, abs=1e-5)


def test_bad_teachers_and_settings_exit_2_and_write_nothing(teacher_bus: str, planned_cardiac: str,
                                                            tmp_path: Path, capsys) -> None:
    from xtiny.nnunet.checkpoints import load_checkpoint, save_checkpoint_atomically
    from xtiny.nnunet.trained import find_trainer_folder
    from xtiny.training.backends.distill import teacher_record_path

    student = "2d_xtiny2"
    teacher_ckpt = find_trainer_folder(teacher_bus, "2d", "nnUNetTrainer_XTiny_1ep_6it_1val") / "fold_0" / \
        "checkpoint_final.pth"
    record = teacher_record_path(teacher_bus, 0)
    before = record.read_bytes() if record.is_file() else None

    # a teacher of another dataset (a real one: synthetic cardiac, trained for 1 epoch)
    from xtiny.family import add_width_family

    add_width_family(planned_cardiac, "2d")
    assert main(["train", "-d", planned_cardiac, "-c", "2d", "--epochs", "1", "--iterations", "2",
                 "--val-iterations", "1"]) == 0
    other = find_trainer_folder(planned_cardiac, "2d", "nnUNetTrainer_XTiny_1ep_2it_1val") / "fold_0" / \
        "checkpoint_final.pth"
    # the same teacher with one label more (its dataset.json and output channels differ from the student's)
    relabelled = load_checkpoint(teacher_ckpt)
    relabelled["init_args"]["dataset_json"] = {**relabelled["init_args"]["dataset_json"],
                                               "labels": {"background": 0, "lesion": 1, "cyst": 2}}
    save_checkpoint_atomically(relabelled, tmp_path / "relabelled.pth")
    (tmp_path / "corrupt.pth").write_bytes(b"not a checkpoint")
    capsys.readouterr()

    cases = [
        (["--teacher", "2d", "--kd-alpha", "1.5"], "--kd-alpha must lie in [0, 1]"),
        (["--teacher", "2d", "--kd-loss", "logits"], "unknown --kd-loss 'logits'"),
        (["--teacher", "2d", "--kd-loss", "cwd", "--kd-temperature", "-1"], "--kd-temperature must be > 0"),
        (["--kd-loss", "fg"], "no --teacher"),
        (["--teacher", "2d", "--kd-temperature", "0"], "--kd-temperature must be > 0"),
        (["--kd-alpha", "0.3"], "no --teacher"),
        (["--teacher", str(other)], f"was trained on {planned_cardiac}, not on {teacher_bus}"),
        (["--teacher", str(tmp_path / "relabelled.pth")], "has labels"),
        (["--teacher", str(tmp_path / "missing.pth")], "checkpoint not found"),
        (["--teacher", str(tmp_path / "corrupt.pth")], "not a readable nnU-Net checkpoint"),
        (["--teacher", str(teacher_ckpt), "--fold", "1"], "has seen the student's validation cases"),
        (["--teacher", "3d_fullres"], "no trained '3d_fullres' fold 0"),
    ]
    for backend in ("nnunet", "monai"):
        for extra, message in cases:
            code = main(["train", "-d", teacher_bus, "-c", student, *BUDGET, "--backend", backend, *extra])
            err = capsys.readouterr().err
            assert code == 2 and message in err, (backend, extra, err[-800:])
    train_only = [  # the online-KD flags of xtiny train, outside a family run
        (["--distill", "online"], "needs a family run with the full configuration"),
        (["--kd-warmup", "0.1"], "--kd-warmup set without --distill online"),
        (["--teacher", "2d", "--distill", "online"], "--teacher and --distill online both set"),
    ]
    for extra, message in train_only:
        code = main(["train", "-d", teacher_bus, "-c", student, *BUDGET, *extra])
        err = capsys.readouterr().err
        assert code == 2 and message in err, ("train", extra, err[-800:])
    # xtiny run checks --kd-loss before any stage
    dataset_results = teacher_record_path(teacher_bus, 0).parents[1]
    results_before = set(dataset_results.rglob("*"))
    for extra, message in ((["--kd-loss", "cwd"], "without --distill"),
                           (["--distill", "--kd-loss", "logits"], "unknown --kd-loss 'logits'")):
        code = main(["run", "-d", teacher_bus, "--epochs", "1", *extra])
        err = capsys.readouterr().err
        assert code == 2 and message in err, ("run", extra, err[-800:])
    assert set(dataset_results.rglob("*")) == results_before
    # xtiny confirm makes the same checks before it reads the search or trains anything
    from xtiny.artifacts import confirm_json_path
    from xtiny.paths import nnunet_dirs

    confirm_json = confirm_json_path(teacher_bus)
    confirm_before = confirm_json.read_bytes() if confirm_json.is_file() else None
    kd_before = set((nnunet_dirs().results / teacher_bus).glob("*KD*"))
    for extra, message in cases:
        code = main(["confirm", "-d", teacher_bus, *BUDGET, *extra])
        err = capsys.readouterr().err
        assert code == 2 and message in err, ("confirm", extra, err[-800:])
    assert (confirm_json.read_bytes() if confirm_json.is_file() else None) == confirm_before
    assert set((nnunet_dirs().results / teacher_bus).glob("*KD*")) == kd_before
    assert _kd_folders(teacher_bus, student) == []
    assert (record.read_bytes() if record.is_file() else None) == before
    assert not teacher_record_path(teacher_bus, 1).exists()


def test_kd_trainer_names_and_kd_term() -> None:
    import torch

    from xtiny.training.backends.distill import kd_loss
    from xtiny.training.backends.trainer_classes import (
        budget_trainer_class,
        budget_trainer_name,
        parse_budget,
        parse_kd,
        parse_kd_loss,
        parse_kd_warmup,
    )

    name = budget_trainer_name(5, 20, 2, kd=(0.25, 1.5), kd_loss="pixel")  # pixel is never named: old names hold
    assert name == "nnUNetTrainer_XTinyKD_a0p25_T1p5_5ep_20it_2val"
    assert parse_budget(name) == (5, 20, 2) and parse_kd(name) == (0.25, 1.5)
    assert budget_trainer_name(kd=(0.5, 2), backend="monai") == "XTinyMonaiTrainerKD_fg_a0p5_T2"  # the default: fg
    assert parse_budget("XTinyMonaiTrainerKD_a0p5_T2") == (1000, 250, 50)
    assert parse_kd("nnUNetTrainer_XTiny_5ep") is None and parse_budget("nnUNetTrainer_XTiny") is None
    cls = budget_trainer_class(name)
    assert (cls.kd_alpha, cls.kd_temperature, cls.budget_epochs) == (0.25, 1.5, 5)
    assert cls.kd_loss_name == "pixel" and cls.kd_warmup is None
    # the loss (when not pixel) and online KD's warm-up are in the name too, and the class is found by it
    cwd = budget_trainer_name(5, 20, 2, kd=(0.5, 2), kd_loss="cwd")
    assert cwd == "nnUNetTrainer_XTinyKD_cwd_a0p5_T2_5ep_20it_2val" and parse_kd_loss(cwd) == "cwd"
    assert parse_kd_loss(name) == "pixel" and parse_kd_loss("nnUNetTrainer_XTiny_5ep") is None
    online = budget_trainer_name(2, 3, 1, kd=(0.5, 2), kd_loss="fg", kd_warmup=0.25)
    assert online == "nnUNetTrainer_XTinyKD_online_w0p25_fg_a0p5_T2_2ep_3it_1val"
    assert (parse_kd(online), parse_kd_loss(online), parse_kd_warmup(online), parse_budget(online)) == \
        ((0.5, 2.0), "fg", 0.25, (2, 3, 1))
    assert (budget_trainer_class(cwd).kd_loss_name, budget_trainer_class(online).kd_warmup) == ("cwd", 0.25)
    assert parse_budget("nnUNetTrainer_XTinyKD_pixel_a0p5_T2_5ep") is None  # pixel is never named

    torch.manual_seed(0)
    t = torch.randn(2, 3, 8, 8)
    assert kd_loss(t, t, 2.0, loss="pixel").item() == pytest.approx(0.0, abs=1e-6)  # identical outputs: no KL
    s = torch.randn(2, 3, 8, 8)
    by_hand = (torch.softmax(t / 2, 1) * (torch.log_softmax(t / 2, 1) - torch.log_softmax(s / 2, 1))).sum(1).mean() * 4
    assert kd_loss(s, t, 2.0, loss="pixel").item() == pytest.approx(by_hand.item(), rel=1e-5)
    # region-based: per-channel binary KL, zero for equal logits, positive otherwise
    assert kd_loss(t, t, 1.0, region_based=True, loss="pixel").item() == pytest.approx(0.0, abs=1e-6)
    p, q = torch.sigmoid(t), torch.sigmoid(s)
    binary = (p * (p / q).log() + (1 - p) * ((1 - p) / (1 - q)).log()).sum(1).mean()
    assert kd_loss(s, t, 1.0, region_based=True, loss="pixel").item() == pytest.approx(binary.item(), rel=1e-4)


def test_cwd_and_fg_kd_terms_by_hand() -> None:
    import torch

    from xtiny.training.backends.distill import (
        KD_LOSS_FUNCTIONS,
        KD_LOSSES,
        cwd_kd_loss,
        fg_kd_loss,
        foreground_weights,
        kd_loss,
    )

    assert tuple(KD_LOSS_FUNCTIONS.names()) == KD_LOSSES == ("pixel", "cwd", "fg")
    torch.manual_seed(1)
    t, s = torch.randn(2, 3, 6, 5), torch.randn(2, 3, 6, 5)
    # cwd: 0 for identical logits, blind to a per-channel constant, the direct formula otherwise
    assert cwd_kd_loss(t, t, 2.0).item() == pytest.approx(0.0, abs=1e-6)
    shift = torch.randn(2, 3, 1, 1) * 5
    assert cwd_kd_loss(s + shift, t, 2.0).item() == pytest.approx(cwd_kd_loss(s, t, 2.0).item(), rel=1e-5)
    total = 0.0
    for b in range(2):
        for c in range(3):
            p = torch.softmax(t[b, c].flatten() / 2, 0)
            q = torch.softmax(s[b, c].flatten() / 2, 0)
            total += float((p * (p / q).log()).sum())
    assert kd_loss(s, t, 2.0, loss="cwd").item() == pytest.approx(4 * total / 6, rel=1e-5)
    # sigmoid logits: the same spatial softmax per channel
    assert cwd_kd_loss(s, t, 2.0, region_based=True).item() == pytest.approx(4 * total / 6, rel=1e-5)

    # fg: the teacher's argmax != 0 is foreground; fg and bg each get half of every sample's weight
    teacher = torch.zeros(2, 2, 4, 4)
    teacher[0, 1, :1, :] = 5.0  # sample 0: 4 foreground voxels of 16
    teacher[1, 1] = -5.0  # sample 1: no foreground at all (the guard: equal weights)
    w = foreground_weights(teacher)
    fg = teacher.argmax(1) != 0
    assert w[0][fg[0]].sum().item() == pytest.approx(0.5) and w[0][~fg[0]].sum().item() == pytest.approx(0.5)
    assert w[0][fg[0]][0].item() == pytest.approx(0.5 / 4) and w[0][~fg[0]][0].item() == pytest.approx(0.5 / 12)
    assert torch.allclose(w[1], torch.full((4, 4), 1 / 16))
    student = torch.randn(2, 2, 4, 4)
    voxel_kl = (torch.softmax(teacher, 1) * (torch.log_softmax(teacher, 1) - torch.log_softmax(student, 1))).sum(1)
    by_hand = ((voxel_kl * w).flatten(1).sum(1)).mean()
    assert fg_kd_loss(student, teacher, 1.0).item() == pytest.approx(by_hand.item(), rel=1e-5)
    assert fg_kd_loss(teacher, teacher, 3.0).item() == pytest.approx(0.0, abs=1e-6)
    # a batch without any foreground is the pixel KL (finite, no division by zero)
    none = torch.full((1, 2, 4, 4), -1.0) * torch.tensor([-1.0, 1.0]).view(1, 2, 1, 1)
    assert fg_kd_loss(student[:1], none, 2.0).item() == pytest.approx(kd_loss(student[:1], none, 2.0).item(), rel=1e-5)
    # region-based: foreground where any channel's sigmoid > 0.5, binary KL weighted the same way
    regions = torch.full((1, 2, 4, 4), -3.0)
    regions[0, 1, 0, 0] = 3.0
    rw = foreground_weights(regions, region_based=True)
    assert rw[0, 0, 0].item() == pytest.approx(0.5) and rw.sum().item() == pytest.approx(1.0)
    assert fg_kd_loss(regions, regions, 1.0, region_based=True).item() == pytest.approx(0.0, abs=1e-6)
    assert fg_kd_loss(student[:1], regions, 1.0, region_based=True).item() > 0
