"""TrainSpec and the settings dataclasses: built from the command line in one place, checked, picklable."""

from __future__ import annotations

import argparse
import pickle

import pytest

from xtiny.errors import XTinyError


def _args(command: str, *flags: str) -> argparse.Namespace:
    import importlib

    parser = argparse.ArgumentParser()
    importlib.import_module(f"xtiny.commands.{command}").add_arguments(parser)
    return parser.parse_args(["-d", "999", *flags])


def test_spec_from_args_is_the_commands_spec() -> None:
    from xtiny.commands.train import spec_from_args
    from xtiny.training.spec import TrainSpec

    spec = spec_from_args(_args("train", "--epochs", "3", "--iterations", "4", "--val-iterations", "1", "--fold",
                                "all", "--backend", "monai", "--seed", "7", "--teacher", "2d", "--kd-alpha", "0.5"))
    assert spec == TrainSpec(backend="monai", epochs=3, iterations_per_epoch=4, val_iterations=1, fold="all",
                             seed=7, kd=(0.5, 2.0))
    assert spec.trainer_name == "XTinyMonaiTrainerKD_a0p5_T2_3ep_4it_1val"
    sweep = spec_from_args(_args("sweep", "--epochs", "2"))  # no --seed, no teacher flags: the spec's defaults
    assert (sweep.seed, sweep.kd, sweep.trainer_name) == (0, None, "nnUNetTrainer_XTiny_2ep")
    with pytest.raises(XTinyError, match="no --teacher"):
        spec_from_args(_args("confirm", "--kd-alpha", "0.3"))


def test_spec_refuses_bad_values_and_pickles() -> None:
    from xtiny.training.spec import TrainSpec, check_kd_teacher

    with pytest.raises(XTinyError, match="kd-alpha must lie in"):
        TrainSpec(epochs=1, kd=(1.5, 2.0))
    with pytest.raises(XTinyError, match="unknown backend"):
        TrainSpec(backend="keras")
    spec = TrainSpec(epochs=2, iterations_per_epoch=3, val_iterations=1, kd=[0.25, 1.5])  # a list from JSON
    assert spec.kd == (0.25, 1.5) and pickle.loads(pickle.dumps(spec)) == spec  # jobs travel to pools and Ray
    assert spec.stage_key()["kd"] == [0.25, 1.5] and spec.stage_key()["trainer"] == spec.trainer_name
    check_kd_teacher(spec, "2d")
    with pytest.raises(XTinyError, match="needs both"):
        check_kd_teacher(spec, None)
    with pytest.raises(XTinyError, match="no kd settings"):
        check_kd_teacher(TrainSpec(epochs=2), "2d")


def test_confirm_settings_and_executor_choice_from_the_flags() -> None:
    from xtiny.commands.confirm import confirm_settings_from
    from xtiny.commands.sweep import executor_from_args
    from xtiny.training.schedules.confirm import ConfirmSettings

    args = _args("confirm", "--tolerance", "0.5", "--neighbours", "1", "--executor", "ray", "--jobs", "2",
                 "--cpus-per-job", "2")
    assert confirm_settings_from(args, start="2d_xtiny8") == ConfirmSettings(tolerance=0.5, neighbours=1,
                                                                             start="2d_xtiny8")
    choice = executor_from_args(args)
    assert (choice.executor, choice.jobs, choice.ray_options.cpus_per_job) == ("ray", 2, 2.0)
    with pytest.raises(XTinyError, match="--max-steps"):
        ConfirmSettings(max_steps=0)
    assert ConfirmSettings(also_train=["2d"]).stage_key()["also_train"] == ["2d"]
