"""Training: nnU-Net's own trainer (:mod:`.nnunet_backend`), a MONAI backend (:mod:`.monai_backend`), the oracle
sweep (:mod:`.sweep`) and XTiny's nnU-Net trainer classes (:mod:`.trainer_classes`, found by nnU-Net through
``nnUNet_extTrainer``). Importing this package changes nothing: the code that lets nnU-Net look a trainer up by
name (training, nnU-Net's predictor, ``xtiny env``) calls :func:`register_trainers` first. Heavy imports stay inside
the submodules."""

from __future__ import annotations

import os
from pathlib import Path

from xtiny.errors import XTinyError

TRAINERS_DIR = Path(__file__).resolve().parent / "trainers"
CONFIRM_TOLERANCE_POINTS = 1.0  # a wider width must beat the pick by more than this many Dice points
CONFIRM_MAX_STEPS = 3  # family runs up from the first one, at most
CONFIRM_NEIGHBOURS = 2  # wider widths trained with the pick in each family run of confirm


def register_trainers() -> None:
    """Add :data:`TRAINERS_DIR` to ``nnUNet_extTrainer`` (idempotent) so nnU-Net finds XTiny's trainers."""
    current = [p for p in os.environ.get("nnUNet_extTrainer", "").split(os.pathsep) if p.strip()]
    if str(TRAINERS_DIR) not in current:
        os.environ["nnUNet_extTrainer"] = os.pathsep.join([*current, str(TRAINERS_DIR)])


def resolve_auto_configuration(dataset_name: str, configuration: str, base_configuration: str = "2d",
                               log=print) -> str:
    """``auto`` → the confirmed pick (``xtiny confirm``) when one exists for the current search, else the search's
    pick; it prints which one it took and why. Any other name is returned as is."""
    if configuration != "auto":
        return configuration
    from xtiny.artifacts import search_json_path
    from xtiny.records.width_search import read_search_record
    from xtiny.training.confirm import confirmed_configuration

    path: Path = search_json_path(dataset_name, base_configuration)
    if not path.is_file():
        raise XTinyError(f"-c auto needs a width search result, but {path} does not exist.",
                         fix=f"run 'xtiny search -d {dataset_name}' first, or pass -c 2d_xtiny8 (any configuration).")
    chosen = read_search_record(path).chosen
    confirmed, why = confirmed_configuration(dataset_name, base_configuration)
    if confirmed:
        log(f"[xtiny] -c auto -> {confirmed}: the confirmed pick ({why}; the probe picked {chosen})")
        return confirmed
    log(f"[xtiny] -c auto -> {chosen}: the probe's pick, not confirmed by training ({why}; run `xtiny confirm -d "
        f"{dataset_name}` to check it against its wider neighbours)")
    return chosen
