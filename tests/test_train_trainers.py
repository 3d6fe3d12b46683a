"""Budget trainer names: the class name encodes the budget, and nnU-Net finds the classes by name."""

from __future__ import annotations

import pytest

from xtiny.training.backends.trainer_classes import budget_trainer_class, budget_trainer_name, parse_budget


@pytest.mark.parametrize("args, backend, name", [
    ((1000, None, None), "nnunet", "nnUNetTrainer"),
    ((100, None, None), "nnunet", "nnUNetTrainer_XTiny_100ep"),
    ((1, 20, 2), "nnunet", "nnUNetTrainer_XTiny_1ep_20it_2val"),
    ((5, 250, 10), "nnunet", "nnUNetTrainer_XTiny_5ep_250it_10val"),
    ((1000, None, None), "monai", "XTinyMonaiTrainer"),
    ((2, 3, 0), "monai", "XTinyMonaiTrainer_2ep_3it_0val"),
])
def test_names_round_trip(args, backend, name):
    assert budget_trainer_name(*args, backend=backend) == name
    epochs, its, val = args
    assert parse_budget(name) == (epochs, its or 250, 50 if val is None else val)


def test_classes_are_cached_and_typed():
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    from xtiny.training.backends.trainer_classes import XTinyBudgetTrainer, XTinyMonaiTrainer

    cls = budget_trainer_class("nnUNetTrainer_XTiny_7ep_3it")
    assert cls is budget_trainer_class("nnUNetTrainer_XTiny_7ep_3it")
    assert issubclass(cls, XTinyBudgetTrainer) and cls.budget_epochs == 7 and cls.budget_iterations == 3
    assert issubclass(budget_trainer_class("XTinyMonaiTrainer_2ep"), XTinyMonaiTrainer)
    assert budget_trainer_class("nnUNetTrainer") is nnUNetTrainer
    with pytest.raises(AttributeError):
        budget_trainer_class("SomethingElse")
    with pytest.raises(ValueError):
        budget_trainer_name(0)


def test_nnunet_finds_trainers_through_ext_env(monkeypatch):
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name

    from xtiny.training.backends.trainer_classes import TRAINERS_DIR, register_trainers

    monkeypatch.setenv("nnUNet_extTrainer", "")
    register_trainers()
    register_trainers()
    import os

    assert os.environ["nnUNet_extTrainer"].split(os.pathsep).count(str(TRAINERS_DIR)) == 1
    assert recursive_find_trainer_class_by_name("nnUNetTrainer_XTiny_3ep").budget_epochs == 3
    assert recursive_find_trainer_class_by_name("XTinyMonaiTrainer").__name__ == "XTinyMonaiTrainer"


def test_checkpoint_is_written_atomically(planned_bus, tmp_path):
    """XTiny's trainers save nnU-Net's checkpoint through xtiny.atomic: the old file is replaced whole, and a
    save that fails (here: something in it that cannot be pickled) leaves the old file and no temporary file."""
    import torch

    from xtiny.nnunet.checkpoints import load_checkpoint
    from xtiny.nnunet.plans import load_plans, read_preprocessed_dataset_json

    trainer = budget_trainer_class("nnUNetTrainer_XTiny_1ep_1it_0val")(
        plans={**load_plans(planned_bus), "continue_training": False}, configuration="2d", fold=0,
        dataset_json=read_preprocessed_dataset_json(planned_bus), device=torch.device("cpu"))
    trainer.initialize()
    target = tmp_path / "checkpoint_latest.pth"
    target.write_bytes(b"an older checkpoint")
    trainer.save_checkpoint(str(target))
    saved = load_checkpoint(target)
    assert saved["trainer_name"] == "nnUNetTrainer_XTiny_1ep_1it_0val" and saved["current_epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    before = target.read_bytes()
    trainer.my_init_kwargs = {**trainer.my_init_kwargs, "unpicklable": lambda: None}
    with pytest.raises(Exception, match="pickle|lambda"):
        trainer.save_checkpoint(str(target))
    assert target.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == [target.name]


def test_progress_png_after_the_first_and_last_epoch_and_at_most_every_30_s_between(planned_bus, tmp_path):
    """nnU-Net draws progress.png after every epoch; a budget trainer draws it after the first and the last epoch
    and otherwise only once PROGRESS_PLOT_SECONDS have passed (nnU-Net's drawing replaced by a recorder here)."""
    import torch

    from xtiny.nnunet.plans import load_plans, read_preprocessed_dataset_json
    from xtiny.training.backends.trainer_classes import PROGRESS_PLOT_SECONDS

    trainer = budget_trainer_class("nnUNetTrainer_XTiny_5ep_1it_1val")(
        plans={**load_plans(planned_bus), "continue_training": False}, configuration="2d", fold=0,
        dataset_json=read_preprocessed_dataset_json(planned_bus), device=torch.device("cpu"))
    drawn, now = [], [0.0]
    trainer._plot_progress_png = lambda folder: drawn.append((trainer.current_epoch, folder))
    trainer._clock = lambda: now[0]
    for epoch, seconds in enumerate((0.0, 10.0, PROGRESS_PLOT_SECONDS + 1, PROGRESS_PLOT_SECONDS + 5, 40.0)):
        now[0] = seconds
        trainer.current_epoch = epoch
        trainer.logger.plot_progress_png(str(tmp_path))
    assert drawn == [(0, str(tmp_path)), (2, str(tmp_path)), (4, str(tmp_path))]
