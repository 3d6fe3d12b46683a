"""Training, in two sub-packages: :mod:`.backends` trains networks (nnU-Net's own trainer, a MONAI backend, KD,
family runs, and XTiny's nnU-Net trainer classes, found by nnU-Net through ``nnUNet_extTrainer``) and
:mod:`.schedules` plans the trainings (the oracle sweep, confirm, their executors and Ray); schedules import backends,
never the reverse. Shared by both: :mod:`.spec` (``TrainSpec``) and :mod:`.results` (trainer names,
``TrainResult``). Importing this package changes nothing: the code that lets nnU-Net look a trainer up by name
(training, nnU-Net's predictor, ``xtiny env``) calls :func:`register_trainers` first. Heavy imports stay inside the
submodules."""

from __future__ import annotations

import os
from pathlib import Path

TRAINERS_DIR = Path(__file__).resolve().parent / "backends" / "trainers"
CONFIRM_TOLERANCE_POINTS = 1.0  # a wider width must beat the pick by more than this many Dice points
CONFIRM_MAX_STEPS = 3  # family runs up from the first one, at most
CONFIRM_NEIGHBOURS = 2  # wider widths trained with the pick in each family run of confirm
# confirm trains each width for this fraction of the pick's epochs: the shortest planned length whose decision matched
# the full length's on every dataset of bench/bench_curves.py (curves_summary_800it_cpu.json), else the whole budget
CONFIRM_BUDGET_FRACTION = 1.0


def register_trainers() -> None:
    """Add :data:`TRAINERS_DIR` to ``nnUNet_extTrainer`` (idempotent) so nnU-Net finds XTiny's trainers."""
    current = [p for p in os.environ.get("nnUNet_extTrainer", "").split(os.pathsep) if p.strip()]
    if str(TRAINERS_DIR) not in current:
        os.environ["nnUNet_extTrainer"] = os.pathsep.join([*current, str(TRAINERS_DIR)])

