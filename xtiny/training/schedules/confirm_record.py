"""The confirm record, ``confirm_<base>.json`` (:func:`xtiny.training.schedules.confirm.run_confirm` writes it after every
family run; ``train -c auto`` and the report read it). Fields and their JSON keys: :class:`ConfirmRecord`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xtiny.records.typed_json import JsonRecord, items, optional, read_typed_record, write_typed_record

CONFIRM_SCHEMA_VERSION = 3  # 2: kd_loss; 3: pick_epochs, budget_fraction


@dataclass(kw_only=True)
class ConfirmRecord(JsonRecord):
    """One confirm of the probe's pick: its settings, every training (``trainings``, by configuration), the family
    runs, the decision ``trail``, the pick to train (``confirmed``; None and ``finished`` false when a training failed
    or the confirm is under way), its costs, and where it ran (``executor`` ``local`` with ``jobs``, or ``ray`` with
    the ``ray_*``/``*_per_job`` keys). It fills up while confirm runs and is written after every family run."""

    schema_version: int = CONFIRM_SCHEMA_VERSION
    dataset: str
    base_configuration: str
    probe_pick: str
    start: str
    search_json: str
    trainer: str
    backend: str
    fold: int | str
    epochs: int  # of every confirm training
    pick_epochs: int  # the pick's budget; epochs = round(budget_fraction * pick_epochs) (at least 1)
    budget_fraction: float
    iterations_per_epoch: int | None
    val_iterations: int | None
    device: str
    tolerance_points: float
    max_steps: int
    neighbours: int
    also_train: list[str]
    family_runs: list[list[str]] = field(default_factory=list)
    teacher: dict[str, str] | None  # {checkpoint, configuration, trainer}
    kd_loss: str | None  # pixel, cwd or fg with a teacher
    kd_alpha: float | None
    kd_temperature: float | None
    trainings: dict[str, dict[str, Any]] = items(configuration=str, dice=float | None, params=int | None)
    trail: list[dict[str, Any]] = field(default_factory=list)
    confirmed: str | None = None
    stopped_because: str | None = None
    executor: str
    jobs: int | None = optional()
    ray_address: str | None = optional()
    cpus_per_job: float | None = optional()
    gpus_per_job: float | None = optional()
    ray_nodes: list[str] | None = optional()
    costs: dict[str, Any] = field(default_factory=dict)
    wall_seconds: float = 0.0
    finished: bool = False
    confirm_json: str | None = optional()
    confirm_png: str | None = optional()


def rerun_confirm_fix(path: Path) -> str:
    """The fix for a bad ``<results>/<Dataset>/xtiny/confirm_<base>.json``: rerun the confirm that writes it."""
    path = Path(path)
    base = path.stem.removeprefix("confirm_")
    return (f"rerun `xtiny confirm -d {path.parent.parent.name} -c {base}` with the budget it had (it rewrites "
            f"{path.name}; finished trainings are read back), or delete {path.name} to use the probe's pick.")


def write_confirm_record(path: Path, record: ConfirmRecord) -> Path:
    """Write ``record`` to ``path`` atomically (checked first: a record the reader would refuse is a bug)."""
    return write_typed_record(path, record)


def read_confirm_record(path: Path) -> ConfirmRecord:
    """The confirm record in ``path``. XTinyError naming the file, what is wrong and the fix (rerun the confirm) when
    it is missing, truncated, of another ``schema_version`` or hand-edited (a missing, unknown or ill-typed field). A
    file without ``schema_version`` (written by an xtiny before typed records) is read as version 0 when complete."""
    return read_typed_record(path, ConfirmRecord, what="confirm record", fix=rerun_confirm_fix(path))
