"""`xtiny run` keeps the terminal quiet: one line per stage, nnU-Net's epoch log in the run's logs/ folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_run_prints_stage_lines_not_nnunet_epochs(nnunet_work: Path) -> None:
    from tests.conftest import planned_synthetic

    name = planned_synthetic("bus", 956, 12, 64)  # planned_bus's data, its planning copied: the run's plan is quick
    proc = subprocess.run([sys.executable, "-m", "xtiny", "run", "-d", "956", "-k", "2", "--seeds", "1", "--epochs",
                           "2", "--iterations", "3", "--val-iterations", "1", "--no-confirm", "--formats", "onnx",
                           "--with-baseline", "--budget", "equal-time"],
                          capture_output=True, text=True, env=dict(os.environ), timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert len(lines) <= 40, proc.stdout
    for noise in ("Epoch ", "train_loss", "Yayy", "Pseudo dice", "Using device", "2D U-Net configuration"):
        assert noise not in proc.stdout, noise
    assert sum(line.startswith("[train_pick] done") for line in lines) == 1
    logs = nnunet_work / "results" / name / "xtiny" / "logs"
    assert "Epoch 1" in (logs / "train_pick.log").read_text()  # nnU-Net's own lines went to the stage's log
    assert any(f"library output: {logs / 'train_pick.log'}" in line for line in lines)
    # --budget equal-time: the baseline's epochs come from iterations of both nets timed here
    state = json.loads((nnunet_work / "results" / name / "xtiny" / "run.json").read_text())["stages"]
    said = [line for line in lines if line.startswith("[train_baseline] equal time: 2d gets ")]
    assert len(said) == 1, proc.stdout
    epochs = int(said[0].split(" gets ")[1].split()[0])
    assert state["train_baseline"]["outputs"]["epochs"] == epochs and state["train_pick"]["outputs"]["epochs"] == 2
    summary = json.loads(Path(state["evaluate"]["outputs"]["summary_path"]).read_text())
    assert summary["budget"].startswith("equal iterations" if epochs == 2 else "unequal budgets")
