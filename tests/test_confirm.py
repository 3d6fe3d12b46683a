"""xtiny confirm: the probe's pick trained against its wider neighbours (real nnU-Net trainings on tiny data)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xtiny.cli import main

BUDGET = ["--epochs", "1", "--iterations", "5", "--val-iterations", "1"]
TRAINER = "nnUNetTrainer_XTiny_1ep_5it_1val"


@pytest.fixture(scope="module")
def searched(nnunet_work: Path) -> str:
    """A small bus dataset (id 955), planned, with a width search over caps 32..1 (pick somewhere inside)."""
    from xtiny.datasets.synth import generate_dataset
    from xtiny.nnunet.planning import plan_and_preprocess
    from xtiny.search import run_search

    generate_dataset("bus", dataset_id=955, num_cases=10, seed=3, size=64, raw_dir=nnunet_work / "raw")
    name = plan_and_preprocess(955, configurations=("2d",), num_processes=2)
    run_search(name, k=3, seeds=1, device="cpu", caps=[32, 16, 8, 4, 2, 1], progress=False)
    return name


@pytest.mark.parametrize("flags, message", [
    (["--tolerance", "-1"], "--tolerance must be at least 0"),
    (["--max-steps", "0"], "--max-steps must be a whole number >= 1"),
    (["--start", "2d_xtiny7"], "'2d_xtiny7' is not in the width family"),
])
def test_bad_flags_exit_2_and_write_nothing(searched: str, flags: list[str], message: str, capsys) -> None:
    from xtiny.artifacts import confirm_json_path

    assert main(["confirm", "-d", searched, *BUDGET, *flags]) == 2
    assert message in capsys.readouterr().err
    assert not confirm_json_path(searched).exists()


def test_run_refuses_bad_confirm_flags_before_any_work(searched: str, capsys) -> None:
    from xtiny.artifacts import xtiny_dir

    assert main(["run", "-d", searched, "--tolerance", "-0.5"]) == 2
    assert "--tolerance must be at least 0" in capsys.readouterr().err
    assert not (xtiny_dir(searched) / "run.json").exists()


def test_killed_confirm_resumes_and_auto_takes_the_confirmed_pick(searched: str, nnunet_work: Path,
                                                                  capsys) -> None:
    from xtiny.artifacts import confirm_json_path, search_json_path
    from xtiny.nnunet.trained import model_folder
    from xtiny.training import resolve_auto_configuration

    pick = json.loads(search_json_path(searched).read_text())["chosen"]
    assert pick != "2d_xtiny32", "the test needs a pick with a wider neighbour"
    first = model_folder(searched, TRAINER, pick) / "fold_0"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "xtiny", "confirm", "-d", searched, *BUDGET, "--tolerance", "100"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    while not (first / "validation" / "summary.json").is_file():  # the pick's training has finished
        assert proc.poll() is None and time.time() < deadline, proc.stdout.read() if proc.poll() is not None else ""
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished_at = (first / "checkpoint_final.pth").stat().st_mtime_ns

    assert main(["confirm", "-d", searched, *BUDGET, "--tolerance", "100"]) == 0
    out = capsys.readouterr().out
    assert f"[confirm] {pick}: Dice" in out and "read back (finished earlier)" in out
    assert (first / "checkpoint_final.pth").stat().st_mtime_ns == finished_at  # not retrained
    record = json.loads(confirm_json_path(searched).read_text())
    assert record["finished"] and record["probe_pick"] == pick and record["confirmed"] == pick  # tolerance 100
    assert record["trainings"][pick]["skipped_finished"] is True
    wider = record["trail"][0]["wider"]
    assert record["trainings"][wider]["skipped_finished"] is False and record["trail"][0]["decision"] == "keep"
    assert record["costs"]["extra_s"] > 0 and confirm_json_path(searched).with_suffix(".png").stat().st_size > 1000

    assert resolve_auto_configuration(searched, "auto") == pick
    assert "the confirmed pick" in capsys.readouterr().out


def test_a_wider_width_that_wins_is_taken_step_by_step(searched: str, capsys) -> None:
    """Tolerance 0 with a start at the narrowest width: every step up whose Dice gain is positive is taken, at most
    --max-steps of them, and the trail records each comparison."""
    from xtiny.artifacts import confirm_json_path

    assert main(["confirm", "-d", searched, *BUDGET, "--tolerance", "0", "--start", "2d_xtiny1",
                 "--max-steps", "2"]) == 0
    record = json.loads(confirm_json_path(searched).read_text())
    assert record["start"] == "2d_xtiny1" and 1 <= len(record["trail"]) <= 2
    for step in record["trail"]:
        gain = 100 * (step["dice_wider"] - step["dice_pick"])
        assert step["decision"] == ("step up" if gain > 0 else "keep")
    taken = [s["wider"] for s in record["trail"] if s["decision"] == "step up"]
    assert record["confirmed"] == (taken[-1] if taken else "2d_xtiny1")
