"""TrainSpec and the settings dataclasses: built from the command line in one place, checked, picklable."""

from __future__ import annotations

import argparse
import json
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
    assert spec.kd_loss == "fg" and spec.trainer_name == "XTinyMonaiTrainerKD_fg_a0p5_T2_3ep_4it_1val"
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



def test_spec_carries_the_kd_loss_and_online_kd_through_its_key() -> None:
    from xtiny.training.spec import TrainSpec, check_kd_teacher, check_not_online

    plain = TrainSpec(epochs=2)
    assert "kd_loss" not in plain.stage_key() and "kd_warmup" not in plain.stage_key()  # plain keys as before
    for spec in (TrainSpec(epochs=2, kd=(0.5, 2.0), kd_loss="cwd"),
                 TrainSpec(epochs=2, kd=(0.5, 2.0), kd_loss="fg", kd_warmup=0.25), plain):
        key = json.loads(json.dumps(spec.stage_key()))  # what run.json holds
        assert TrainSpec(**{k: v for k, v in key.items() if k != "trainer"}) == spec
        assert key["trainer"] == spec.trainer_name
    cwd = TrainSpec(epochs=2, kd=(0.5, 2.0), kd_loss="cwd")
    assert cwd.stage_key()["kd_loss"] == "cwd" and cwd.trainer_name == "nnUNetTrainer_XTinyKD_cwd_a0p5_T2_2ep"
    assert TrainSpec(epochs=2, kd=(0.5, 2.0)).trainer_name == "nnUNetTrainer_XTinyKD_fg_a0p5_T2_2ep"  # the default
    pixel = TrainSpec(epochs=2, kd=(0.5, 2.0), kd_loss="pixel")
    assert pixel.trainer_name == "nnUNetTrainer_XTinyKD_a0p5_T2_2ep"  # pixel is never named: the first KD names hold
    online = TrainSpec(epochs=2, kd=(0.5, 2.0), kd_warmup=0.25)
    assert online.online_kd and not cwd.online_kd and online.trainer_name == "nnUNetTrainer_XTinyKD_online_w0p25_fg_a0p5_T2_2ep"
    check_kd_teacher(online, None)  # its teacher is the family's full configuration
    with pytest.raises(XTinyError, match="not from --teacher"):
        check_kd_teacher(online, "2d")
    with pytest.raises(XTinyError, match="needs a family run"):
        check_not_online(online)
    for kwargs, message in (({"kd": (0.5, 2.0), "kd_loss": "soft"}, "unknown --kd-loss 'soft'"),
                            ({"kd_loss": "cwd"}, "--kd-loss set, but nothing to distil"),
                            ({"kd_warmup": 0.25}, "--kd-warmup set, but nothing to distil"),
                            ({"kd": (0.5, 2.0), "kd_warmup": 1.0}, "--kd-warmup must lie in"),
                            ({"kd": (0.5, 0.0), "kd_loss": "fg"}, "--kd-temperature must be > 0")):
        with pytest.raises(XTinyError, match=message):
            TrainSpec(epochs=2, **kwargs)


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


def test_confirm_trains_the_default_fraction_of_the_picks_budget() -> None:
    """The default budget fraction (set from bench/bench_curves.py) reaches confirm from both commands, and scales
    the pick's epochs into confirm's; --confirm-epochs names confirm's budget outright."""
    from xtiny.commands.confirm import confirm_settings_from
    from xtiny.commands.run import options_from_args
    from xtiny.pipeline_stages import _confirm_settings, _confirm_spec
    from xtiny.training import CONFIRM_BUDGET_FRACTION
    from xtiny.training.schedules.confirm import confirm_spec_of
    from xtiny.training.spec import TrainSpec

    assert confirm_settings_from(_args("confirm")).budget_fraction == CONFIRM_BUDGET_FRACTION
    assert confirm_settings_from(_args("confirm", "--budget-fraction", "0.25")).budget_fraction == 0.25
    pick = TrainSpec(epochs=160, iterations_per_epoch=50)
    expected = max(1, round(CONFIRM_BUDGET_FRACTION * 160))
    assert confirm_spec_of(pick, CONFIRM_BUDGET_FRACTION).epochs == expected
    assert confirm_spec_of(pick, 0.25) == TrainSpec(epochs=40, iterations_per_epoch=50)
    assert confirm_spec_of(TrainSpec(epochs=2), 0.1).epochs == 1  # never below one epoch
    opts = options_from_args(_args("run", "--epochs", "160"), "Dataset999_X")
    assert _confirm_settings(opts).budget_fraction == CONFIRM_BUDGET_FRACTION
    assert ("budget_fraction" in _confirm_settings(opts).stage_key()) == (CONFIRM_BUDGET_FRACTION != 1)
    named = options_from_args(_args("run", "--epochs", "160", "--confirm-epochs", "20"), "Dataset999_X")
    assert _confirm_settings(named).budget_fraction == 1.0 and _confirm_spec(named).epochs == 20
