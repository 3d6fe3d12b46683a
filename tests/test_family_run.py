"""Family runs: several configurations of one base learn from one batch stream (real nnU-Net and MONAI trainings on
tiny data). Every member must be usable alone by nnU-Net's CLI, `xtiny evaluate` and `xtiny export`; a killed run
resumes every member from one epoch; bad inputs exit 2 and write nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.export_fixtures import copy_raw_images
from xtiny.cli import main

FAMILY = "2d_xtiny4,2d_xtiny8,2d"
BUDGET = ["--epochs", "2", "--iterations", "3", "--val-iterations", "1"]
TRAINER = "nnUNetTrainer_XTiny_2ep_3it_1val"


@pytest.fixture(scope="module")
def family_dataset(nnunet_work: Path) -> str:
    """A small bus dataset (id 958: planned_bus's 12 cases), with the width family 16/8/4 in its plans."""
    from tests.conftest import planned_synthetic
    from xtiny.family import add_width_family

    name = planned_synthetic("bus", 958, 12, 64)  # planned_bus's data: a copy, not a planning
    add_width_family(name, "2d", caps=[16, 8, 4])
    return name


def _files(root: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()} if root.exists() else {}


def _fold(dataset: str, configuration: str, trainer: str = TRAINER) -> Path:
    from xtiny.nnunet.trained import model_folder

    return model_folder(dataset, trainer, configuration) / "fold_0"


def test_family_members_are_solo_results_usable_by_nnunet_evaluate_and_export(family_dataset: str, nnunet_work: Path,
                                                                             tmp_path: Path, capsys) -> None:
    from xtiny.nnunet.checkpoints import load_checkpoint
    from xtiny.training.backends.family_plan import member_seed

    assert main(["train", "-d", family_dataset, "-c", FAMILY, *BUDGET]) == 0
    out = capsys.readouterr().out
    assert "3 networks on one batch stream" in out
    widths = {}
    for configuration in FAMILY.split(","):
        fold = _fold(family_dataset, configuration)
        for name in ("checkpoint_final.pth", "progress.png", "validation/summary.json", "family_run.json"):
            assert (fold / name).is_file(), (configuration, name)
        assert not (fold / "checkpoint_latest.pth").exists() and not list(fold.glob("*.family-pending"))
        checkpoint = load_checkpoint(fold / "checkpoint_final.pth")
        assert checkpoint["trainer_name"] == TRAINER and checkpoint["current_epoch"] == 2
        assert checkpoint["init_args"]["configuration"] == configuration
        assert len(checkpoint["logging"]["train_losses"]) == 2  # its own log, one entry per epoch
        widths[configuration] = max(v.shape[0] for k, v in checkpoint["network_weights"].items()
                                    if k.endswith(".weight") and v.ndim == 4)
        record = json.loads((fold / "family_run.json").read_text())
        assert record["family"] == FAMILY.split(",") and configuration not in record["trained_with"]
        assert record["init_seed"] == member_seed(0, configuration) and record["share_seconds"] > 0
    assert widths["2d_xtiny4"] == 4 and widths["2d_xtiny8"] == 8 and widths["2d"] > 8

    # nnU-Net's own predictor, from a plain shell after `eval "$(xtiny env)"`, on one member
    inputs = copy_raw_images(family_dataset, ["synthbus_0000"], tmp_path / "in")
    shell_dir = tmp_path / "shell"
    shell_dir.mkdir()
    (shell_dir / "xtiny_work").symlink_to(nnunet_work)
    did = family_dataset[len("Dataset"):len("Dataset") + 3].lstrip("0")
    env = {k: v for k, v in os.environ.items()
           if k not in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results", "nnUNet_extTrainer", "XTINY_WORK")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    command = (f'eval "$(xtiny env)" && nnUNetv2_predict -i {inputs} -o {tmp_path / "pred"} -d {did} '
               f"-c 2d_xtiny8 -f 0 -tr {TRAINER} -device cpu --disable_tta")
    proc = subprocess.run(["bash", "-c", command], cwd=shell_dir, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert (tmp_path / "pred" / "synthbus_0000.png").is_file()

    assert main(["evaluate", "-d", family_dataset, "-c", "2d_xtiny8", "2d", "--trainer", TRAINER,
                 "--no-latency"]) == 0
    assert main(["export", "-d", family_dataset, "-c", "2d_xtiny4", "--trainer", TRAINER, "--format", "onnx",
                 "-o", str(tmp_path / "export")]) == 0
    assert list((tmp_path / "export").rglob("*.onnx"))
    capsys.readouterr()

    before = {c: (_fold(family_dataset, c) / "checkpoint_final.pth").stat().st_mtime_ns for c in FAMILY.split(",")}
    assert main(["train", "-d", family_dataset, "-c", FAMILY, *BUDGET]) == 0  # the same command again
    assert capsys.readouterr().out.count("read back (finished earlier)") == 3
    assert before == {c: (_fold(family_dataset, c) / "checkpoint_final.pth").stat().st_mtime_ns
                      for c in FAMILY.split(",")}


def test_killed_family_run_resumes_every_member_from_one_epoch(family_dataset: str) -> None:
    from xtiny.nnunet.checkpoints import load_checkpoint
    from xtiny.training.backends.family_checkpoints import PENDING_SUFFIX, recover_journal
    from xtiny.training.backends.family_nnunet import family_journal_path
    from xtiny.training.backends.family_plan import plan_family
    from xtiny.training.spec import TrainSpec

    members = ["2d_xtiny4", "2d_xtiny16"]
    budget = ["--epochs", "6", "--iterations", "4", "--val-iterations", "1"]
    trainer = "nnUNetTrainer_XTiny_6ep_4it_1val"
    folds = [_fold(family_dataset, c, trainer) for c in members]
    proc = subprocess.Popen([sys.executable, "-m", "xtiny", "train", "-d", family_dataset, "-c", ",".join(members),
                             *budget], env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    while not all((f / "checkpoint_latest.pth").is_file() for f in folds):  # at least one epoch committed
        assert proc.poll() is None and time.time() < deadline, proc.stdout.read() if proc.poll() is not None else ""
        time.sleep(0.05)
    time.sleep(0.7)  # into a later epoch, or a commit
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (folds[0] / f"checkpoint_best.pth{PENDING_SUFFIX}").write_bytes(b"half-written")  # an uncommitted write

    plan = plan_family(family_dataset, members, TrainSpec(epochs=6, iterations_per_epoch=4, val_iterations=1))
    recover_journal(family_journal_path(plan), folds)  # what the rerun does first
    epochs = {load_checkpoint(f / "checkpoint_latest.pth")["current_epoch"] for f in folds}
    assert len(epochs) == 1 and 1 <= epochs.pop() < 6  # every member at the same epoch
    assert not list(folds[0].glob(f"*{PENDING_SUFFIX}"))

    assert main(["train", "-d", family_dataset, "-c", ",".join(members), *budget]) == 0
    for fold in folds:
        checkpoint = load_checkpoint(fold / "checkpoint_final.pth")
        assert checkpoint["current_epoch"] == 6 and len(checkpoint["logging"]["train_losses"]) == 6
        assert not (fold / "checkpoint_latest.pth").exists()


@pytest.mark.parametrize("configurations, extra, message", [
    ("2d_xtiny8,2d_xtiny8", [], "named twice"),
    ("2d_xtiny8,2d_xtiny3", [], "'2d_xtiny3' is not in the plans"),
    ("2d_xtiny8,3d_fullres", [], "cannot learn from one batch stream"),
    ("2d_xtiny8,unext", [], "baseline architecture"),
    ("2d_xtiny8,2d", ["--teacher", "2d"], "a family run trains without a teacher"),
    ("2d_xtiny8,2d_xtiny4", ["--distill", "online"], "has no full configuration (2d) to teach"),
    ("2d_xtiny8,2d", ["--distill", "online", "--kd-warmup", "1"], "--kd-warmup must lie in [0, 1)"),
    ("2d_xtiny8,2d", ["--distill", "online", "--kd-loss", "soft"], "unknown --kd-loss 'soft'"),
    ("2d_xtiny8,2d", ["--kd-loss", "cwd"], "no --teacher to distil from"),
    ("2d_xtiny8,2d", ["--validate-at", "1/2"], "needs the MONAI backend"),
    ("2d_xtiny8,2d", ["--backend", "monai", "--validate-at", "1/4,1.5"], "between 0 and 1 (got 1.5)"),
    ("2d_xtiny8,2d", ["--backend", "monai", "--validate-at", "half"], "'half' is not a fraction"),
])
def test_bad_family_inputs_exit_2_and_write_nothing(family_dataset: str, nnunet_work: Path, configurations: str,
                                                    extra: list[str], message: str, capsys) -> None:
    from xtiny.atomic import atomic_write_json, read_json
    from xtiny.nnunet.plans import plans_path

    path = plans_path(family_dataset)
    original = path.read_bytes()
    if "3d_fullres" in configurations:  # a second base that trains on other data and patches
        plans = read_json(path)
        plans["configurations"]["3d_fullres"] = {**plans["configurations"]["2d"], "patch_size": [8, 64, 64],
                                                 "data_identifier": "nnUNetPlans_3d_fullres"}
        atomic_write_json(path, plans)
    try:
        before = _files(nnunet_work / "results")
        assert main(["train", "-d", family_dataset, "-c", configurations, *BUDGET, *extra]) == 2
        assert message in capsys.readouterr().err
        assert _files(nnunet_work / "results") == before
    finally:
        path.write_bytes(original)


def test_a_budget_that_is_not_a_whole_number_exits_2(family_dataset: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "-d", family_dataset, "-c", FAMILY, "--epochs", "1.5"])
    assert exit_info.value.code == 2 and "invalid int value" in capsys.readouterr().err


def test_a_family_that_does_not_fit_exits_2_before_training(family_dataset: str, nnunet_work: Path,
                                                            monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import xtiny.training.backends.family_plan as family_plan

    monkeypatch.setattr(family_plan, "free_memory_bytes", lambda device: 1024)  # as if 1 KiB were free
    before = _files(nnunet_work / "results")
    assert main(["train", "-d", family_dataset, "-c", "2d_xtiny16,2d", "--epochs", "3", "--iterations", "2",
                 "--val-iterations", "1"]) == 2
    assert "GiB are free" in capsys.readouterr().err
    assert _files(nnunet_work / "results") == before


def test_monai_family_members_are_usable_by_evaluate_and_export(family_dataset: str, tmp_path: Path) -> None:
    from xtiny.nnunet.checkpoints import load_checkpoint
    from xtiny.training.backends.family_run import train_family
    from xtiny.training.spec import TrainSpec

    spec = TrainSpec(backend="monai", epochs=2, iterations_per_epoch=2, val_iterations=1, seed=1)
    results = train_family(family_dataset, "2d_xtiny4,2d_xtiny8,unext", spec, validate_at=(0.5,))
    assert [r.configuration for r in results] == ["2d_xtiny4", "2d_xtiny8", "unext"]
    for result in results:
        assert result.trainer_name == "XTinyMonaiTrainer_2ep_2it_1val" and result.validation_dice is not None
        assert (result.fold_folder / "validation" / "summary.json").is_file()
        checkpoint = load_checkpoint(result.checkpoint)
        assert checkpoint["current_epoch"] == 2 and len(checkpoint["logging"]["mean_fg_dice"]) == 2
        record = json.loads((result.fold_folder / "family_run.json").read_text())
        assert record["backend"] == "monai" and record["family"] == ["2d_xtiny4", "2d_xtiny8", "unext"]
        # the learning curve: whole-case validation after epoch 1 of 2, then the final validation
        curve = record["validation_curve"]
        assert [(p["epoch"], p["iterations"]) for p in curve] == [(1, 2), (2, 4)] and curve[-1]["final"]
        assert curve[-1]["dice"] == result.validation_dice and 0 <= curve[0]["dice"] <= 1
        assert checkpoint["logging"]["validation_curve"] == curve[:1] and result.extra["validation_curve"] == curve
    again = train_family(family_dataset, "2d_xtiny4,2d_xtiny8,unext", spec)
    assert all(r.extra["read_back"] for r in again)
    assert [r.extra["validation_curve"] for r in again] == [r.extra["validation_curve"] for r in results]
    trainer = "XTinyMonaiTrainer_2ep_2it_1val"
    assert main(["evaluate", "-d", family_dataset, "-c", "2d_xtiny8", "unext", "--trainer", trainer,
                 "--no-latency"]) == 0
    assert main(["export", "-d", family_dataset, "-c", "2d_xtiny4", "--trainer", trainer, "--format", "onnx",
                 "-o", str(tmp_path / "export")]) == 0
    assert list((tmp_path / "export").rglob("*.onnx"))


def test_online_kd_family_run_records_its_settings_and_distils_after_the_warm_up(family_dataset: str,
                                                                                capsys) -> None:
    """--distill online: 2d teaches 2d_xtiny4 on the same batches; with a warm-up of half the schedule (2 epochs x 2
    iterations) the first epoch has no KD part, the second has one."""
    from xtiny.nnunet.checkpoints import load_checkpoint

    assert main(["train", "-d", family_dataset, "-c", "2d_xtiny4,2d", "--epochs", "2", "--iterations", "2",
                 "--val-iterations", "1", "--distill", "online", "--kd-loss", "fg", "--kd-alpha", "0.5",
                 "--kd-warmup", "0.5"]) == 0
    assert "online KD: 2d taught the others (fg KD, alpha 0.5, T 2, after a warm-up of 0.5" in capsys.readouterr().out
    student = "nnUNetTrainer_XTinyKD_online_w0p5_fg_a0p5_T2_2ep_2it_1val"
    teacher = "nnUNetTrainer_XTiny_2ep_2it_1val"
    settings = {"teacher": "2d", "loss": "fg", "alpha": 0.5, "temperature": 2.0, "warmup": 0.5,
                "student_trainer": student}
    for configuration, trainer, role in (("2d_xtiny4", student, "student"), ("2d", teacher, "teacher")):
        fold = _fold(family_dataset, configuration, trainer)
        record = json.loads((fold / "family_run.json").read_text())
        assert record["trainer"] == trainer and record["online_kd"] == {**settings, "role": role}
        assert (fold / "validation" / "summary.json").is_file()
    log = load_checkpoint(_fold(family_dataset, "2d_xtiny4", student) / "checkpoint_final.pth")["logging"]
    assert log["train_kd_losses"][0] == 0.0 and log["train_losses"][0] == pytest.approx(log["train_seg_losses"][0])
    assert log["train_kd_losses"][1] > 0
    assert log["train_losses"][1] == pytest.approx(0.5 * log["train_seg_losses"][1] + 0.5 * log["train_kd_losses"][1],
                                                   rel=1e-4, abs=1e-5)
    assert "train_kd_losses" not in load_checkpoint(_fold(family_dataset, "2d", teacher) /
                                                    "checkpoint_final.pth")["logging"]


def test_online_kd_in_a_monai_family_run(family_dataset: str) -> None:
    from xtiny.nnunet.checkpoints import load_checkpoint
    from xtiny.training.backends.family_run import train_family
    from xtiny.training.spec import TrainSpec

    spec = TrainSpec(backend="monai", epochs=2, iterations_per_epoch=2, val_iterations=1, kd=(0.5, 2.0),
                     kd_loss="pixel", kd_warmup=0.5)
    results = train_family(family_dataset, "2d_xtiny4,2d", spec)
    assert [r.trainer_name for r in results] == ["XTinyMonaiTrainerKD_online_w0p5_a0p5_T2_2ep_2it_1val",
                                                 "XTinyMonaiTrainer_2ep_2it_1val"]
    assert results[0].extra["online_kd"]["role"] == "student" and results[0].extra["online_kd"]["loss"] == "pixel"
    checkpoint = load_checkpoint(results[0].checkpoint)
    mlog = checkpoint["logging"]
    assert mlog["train_kd_losses"][0] == 0.0 and mlog["train_kd_losses"][1] > 0
    assert checkpoint["xtiny"]["kd"] == {"teacher": "online", "loss": "pixel", "alpha": 0.5, "temperature": 2.0,
                                         "online": True, "warmup": 0.5}


def test_checkpoint_journal_commits_all_or_completes_after_a_kill(tmp_path: Path) -> None:
    from xtiny.atomic import atomic_write_json
    from xtiny.training.backends.family_checkpoints import CheckpointJournal, recover_journal

    folders = [tmp_path / "a", tmp_path / "b"]
    for folder in folders:
        folder.mkdir()
        (folder / "ck.pth").write_text("epoch 1")
    journal = CheckpointJournal(tmp_path / "journal.json")
    for folder in folders:
        Path(journal.stage(folder / "ck.pth")).write_text("epoch 2")
    journal.commit()
    assert [(f / "ck.pth").read_text() for f in folders] == ["epoch 2", "epoch 2"]
    assert not (tmp_path / "journal.json").exists()

    # killed between the two renames of epoch 3: the journal exists, one rename is done
    pending = [Path(journal.stage(f / "ck.pth")) for f in folders]
    for path in pending:
        path.write_text("epoch 3")
    atomic_write_json(tmp_path / "journal.json", {"renames": [[str(p), str(p.parent / "ck.pth")] for p in pending]})
    os.replace(pending[0], folders[0] / "ck.pth")
    assert "completed 2" in recover_journal(tmp_path / "journal.json", folders)
    assert [(f / "ck.pth").read_text() for f in folders] == ["epoch 3", "epoch 3"]

    # killed before the journal was written: the staged files are dropped, the last commit stands
    Path(journal.stage(folders[1] / "ck.pth")).write_text("epoch 4")
    assert "removed 1" in recover_journal(tmp_path / "journal.json", folders)
    assert [(f / "ck.pth").read_text() for f in folders] == ["epoch 3", "epoch 3"]
