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
    """A small bus dataset (id 955: planned_bus's 12 cases), with a width search over caps 32..1 (pick somewhere inside)."""
    from tests.conftest import planned_synthetic
    from xtiny.search import SearchSettings, run_search

    name = planned_synthetic("bus", 955, 12, 64)  # planned_bus's data: a copy, not a planning
    run_search(name, settings=SearchSettings(k=3, seeds=1, device="cpu", caps=[32, 16, 8, 4, 2, 1]),
               progress=False)
    return name


@pytest.mark.parametrize("flags, message", [
    (["--tolerance", "-1"], "--tolerance must be at least 0"),
    (["--max-steps", "0"], "--max-steps must be a whole number >= 1"),
    (["--neighbours", "0"], "--neighbours must be a whole number >= 1"),
    (["--start", "2d_xtiny7"], "'2d_xtiny7' is not in the width family"),
    (["--budget-fraction", "0"], "--budget-fraction must lie in (0, 1]"),
    (["--budget-fraction", "1.5"], "--budget-fraction must lie in (0, 1]"),
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


def test_run_refuses_bad_caps_before_any_work(searched: str, capsys) -> None:
    from xtiny.artifacts import xtiny_dir

    assert main(["run", "-d", searched, "--caps", "8", "0"]) == 2
    assert "invalid width cap 0" in capsys.readouterr().err
    assert not (xtiny_dir(searched) / "run.json").exists()


def test_killed_confirm_resumes_and_auto_takes_the_confirmed_pick(searched: str, nnunet_work: Path,
                                                                  capsys) -> None:
    from xtiny.artifacts import confirm_json_path, search_json_path
    from xtiny.nnunet.trained import model_folder
    from xtiny.training.schedules.confirm import resolve_auto_configuration

    pick = json.loads(search_json_path(searched).read_text())["chosen"]
    assert pick != "2d_xtiny32", "the test needs a pick with a wider neighbour"
    first = model_folder(searched, TRAINER, pick) / "fold_0"  # validated first in confirm's family run
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "xtiny", "confirm", "-d", searched, *BUDGET, "--tolerance", "100"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    while not (first / "validation" / "summary.json").is_file():  # the family has trained, the pick is validated
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
    assert len(record["family_runs"]) == 1 and record["family_runs"][0][0] == pick  # pick + neighbours, one run
    wider = record["trail"][0]["wider"]  # the widest trained: its final validation ran in the rerun, not retrained
    assert record["trainings"][wider]["skipped_finished"] is False and record["trail"][0]["decision"] == "confirmed"
    assert all(r["family"] == record["family_runs"][0] for r in record["trainings"].values())
    assert record["costs"]["extra_s"] > 0 and confirm_json_path(searched).with_suffix(".png").stat().st_size > 1000

    assert resolve_auto_configuration(searched, "auto") == pick
    assert "the confirmed pick" in capsys.readouterr().out


def test_a_wider_width_that_wins_is_taken_step_by_step(searched: str, capsys) -> None:
    """Tolerance 0 from the narrowest width, one neighbour per family run: the confirmed width is the narrowest whose
    Dice is within 0 points of the widest trained, and another family run higher up happens only while the widest
    won, at most --max-steps of them."""
    from xtiny.artifacts import confirm_json_path

    assert main(["confirm", "-d", searched, *BUDGET, "--tolerance", "0", "--start", "2d_xtiny1",
                 "--neighbours", "1", "--max-steps", "2"]) == 0
    record = json.loads(confirm_json_path(searched).read_text())
    runs = record["family_runs"]
    assert record["start"] == "2d_xtiny1" and runs[0] == ["2d_xtiny1", "2d_xtiny2"] and 1 <= len(runs) <= 3
    ladder = [c for run in runs for c in run]  # narrowest first: each run sits above the last
    dice = {c: record["trainings"][c]["dice"] for c in ladder}
    for n in range(1, len(runs)):  # a run higher up happened only because the widest trained before it won
        below = ladder[:sum(len(r) for r in runs[:n])]
        assert all(dice[below[-1]] > dice[c] for c in below[:-1])
    within = [c for c in ladder if dice[c] >= dice[ladder[-1]]]
    assert record["confirmed"] == within[0]

    # the learning-curve bench replays confirm's climb on measured Dice: it must decide as confirm did
    from xtiny.artifacts import search_json_path
    from xtiny.training.schedules.confirm import ConfirmSettings, replay_confirm

    names = [c["name"] for c in sorted(json.loads(search_json_path(searched).read_text())["candidates"],
                                       key=lambda c: -c["cap"])]
    replay = replay_confirm(dice, names, "2d_xtiny1", ConfirmSettings(tolerance=0, max_steps=2, neighbours=1))
    assert replay == {"confirmed": record["confirmed"], "trained": ladder}
