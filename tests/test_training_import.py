"""Importing the training package changes nothing in the environment; the code that needs XTiny's trainers found
by nnU-Net registers them itself (training, evaluation's predictor, ``xtiny env``)."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import json, os
before = dict(os.environ)
import xtiny.training
print(json.dumps(sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k))))
import xtiny.pipeline, xtiny.training.backends.trainer_classes  # torch sets variables of its own; XTiny sets none
print("nnUNet_extTrainer" in os.environ)
xtiny.training.register_trainers()
print(os.environ["nnUNet_extTrainer"] == str(xtiny.training.TRAINERS_DIR))
"""


def test_import_leaves_the_environment_alone() -> None:
    env = {k: v for k, v in os.environ.items() if k != "nnUNet_extTrainer"}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300,
                         check=True).stdout.splitlines()
    assert out[-3:] == ["[]", "False", "True"]
