"""Confirm the training-free pick by training it and its wider neighbours (``xtiny confirm``, ``xtiny run``'s
``confirm`` stage).

Start at the probe's pick C. Train C and its ``neighbours`` (default 2) next wider candidates as one family run
(:func:`xtiny.training.schedules.sweep.train_family_job`: one batch stream, each network its own optimizer and seed), with
one budget (by default the budget the pick will be trained with). Confirm the narrowest trained width whose fold
validation Dice is within ``tolerance`` Dice points of the widest trained. While the widest still wins by more than
that, train the next ``neighbours`` wider widths as another family run and decide again, at most ``max_steps``
more runs. ``also_train`` (``xtiny run``: the full baseline at the same budget) joins the first family run without
entering the decision, so its training comes from the same batches. Finished trainings of the same budget (an
earlier sweep or confirm) are read back instead of retrained, unless they are older than the preprocessed data.
Writes ``confirm_<base>.json`` (key ``"confirmed"``: the configuration to train) and a ``.png`` next to
``search_<base>.json``, after every family run, so a killed confirm resumes where it stopped.

With a ``teacher`` (``xtiny confirm --teacher``, ``xtiny run --distill``) every candidate trains as a KD student of
it: the KD trainer of the budget (its own result folder, so KD and plain trainings are never read back for each
other), and a finished student is read back only when it is newer than the teacher's checkpoint too. The record
names the teacher and the KD settings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from xtiny.artifacts import confirm_json_path, search_json_path
from xtiny.console import say
from xtiny.errors import XTinyError
from xtiny.nnunet.names import resolve_dataset_name
from xtiny.paths import ensure_nnunet_env
from xtiny.records.width_search import SearchRecord, read_search_record
from xtiny.training import (
    CONFIRM_BUDGET_FRACTION,
    CONFIRM_MAX_STEPS,
    CONFIRM_NEIGHBOURS,
    CONFIRM_TOLERANCE_POINTS,
)
from xtiny.training.schedules.confirm_record import ConfirmRecord, read_confirm_record, write_confirm_record
from xtiny.training.schedules.sweep import (
    ExecutorChoice,
    data_written_at,
    plot_dice_vs_params,
    training_executor,
)
from xtiny.training.spec import TrainSpec, check_kd_teacher, check_not_online


def family_from_search(search: SearchRecord) -> list[dict[str, Any]]:
    """The search's candidates, widest first: ``[{"name", "cap", "params"}]``."""
    rows = [{"name": c["name"], "cap": int(c["cap"]), "params": int(c["params"])} for c in search.candidates]
    return sorted(rows, key=lambda r: -r["cap"])


def check_confirm_settings(tolerance: float, max_steps: int, neighbours: int = 1,
                           budget_fraction: float = 1.0) -> None:
    """XTinyError (exit 2) for a tolerance below 0 (or not a number), fewer than 1 step or 1 neighbour, a budget
    fraction outside (0, 1]."""
    if isinstance(budget_fraction, bool) or not 0 < budget_fraction <= 1:
        raise XTinyError(f"--budget-fraction must lie in (0, 1] (got {budget_fraction}).",
                         fix=f"pass e.g. --budget-fraction {CONFIRM_BUDGET_FRACTION:g} (1: the pick's whole budget).")
    if isinstance(neighbours, bool) or int(neighbours) != neighbours or neighbours < 1:
        raise XTinyError(f"--neighbours must be a whole number >= 1 (got {neighbours}).",
                         fix=f"pass e.g. --neighbours {CONFIRM_NEIGHBOURS}.")
    if not tolerance >= 0:
        raise XTinyError(f"--tolerance must be at least 0 Dice points (got {tolerance}).",
                         fix=f"pass e.g. --tolerance {CONFIRM_TOLERANCE_POINTS}.")
    if isinstance(max_steps, bool) or int(max_steps) != max_steps or max_steps < 1:
        raise XTinyError(f"--max-steps must be a whole number >= 1 (got {max_steps}).",
                         fix=f"pass e.g. --max-steps {CONFIRM_MAX_STEPS}.")


@dataclass(frozen=True)
class ConfirmSettings:
    """How confirm decides (the pick's budget is the :class:`xtiny.training.spec.TrainSpec`): every width trains for
    ``budget_fraction`` of its epochs (:func:`confirm_spec_of`), a wider width must win by more than ``tolerance``
    Dice points, at most ``max_steps`` family runs up from the first, ``neighbours`` wider widths trained with the
    pick per run, from ``start`` (None: the probe's pick); ``also_train`` joins the first family run outside the
    decision. Checked on construction (XTinyError, exit 2)."""

    tolerance: float = CONFIRM_TOLERANCE_POINTS
    max_steps: int = CONFIRM_MAX_STEPS
    neighbours: int = CONFIRM_NEIGHBOURS
    start: str | None = None
    also_train: tuple[str, ...] = ()
    budget_fraction: float = CONFIRM_BUDGET_FRACTION

    def __post_init__(self) -> None:
        check_confirm_settings(self.tolerance, self.max_steps, self.neighbours, self.budget_fraction)
        object.__setattr__(self, "also_train", tuple(self.also_train))

    def stage_key(self) -> dict:
        """What a pipeline stage that confirms with these settings records in its key (JSON-ready; the budget
        fraction only when confirm trains shorter than the pick, so whole-budget keys are what they were)."""
        key = {"tolerance": self.tolerance, "max_steps": self.max_steps, "neighbours": self.neighbours,
               "start": self.start, "also_train": list(self.also_train)}
        if self.budget_fraction != 1:
            key["budget_fraction"] = self.budget_fraction
        return key


def confirm_spec_of(pick_spec: TrainSpec, budget_fraction: float) -> TrainSpec:
    """The spec confirm trains every width with: ``budget_fraction`` of the pick's epochs (at least 1), the rest of
    the pick's budget unchanged (a run planned that short: nnU-Net's poly learning rate ends with it)."""
    if budget_fraction == 1:
        return pick_spec
    return replace(pick_spec, epochs=max(1, round(budget_fraction * pick_spec.epochs)))


def check_start(start: str | None, family: list[dict], search_path: Path) -> None:
    """XTinyError (exit 2) when ``start`` is not a configuration of the searched width family."""
    names = [r["name"] for r in family]
    if start is not None and start not in names:
        raise XTinyError(f"configuration '{start}' is not in the width family of {search_path} "
                         f"({', '.join(names)}).", fix="start from one of those, or leave --start out (the pick).")


def _load_search(dataset_name: str, base_configuration: str) -> tuple[Path, SearchRecord]:
    path = search_json_path(dataset_name, base_configuration)
    if not path.is_file():
        raise XTinyError(f"no width search for {dataset_name} {base_configuration}: {path} does not exist.",
                         fix=f"run `xtiny search -d {dataset_name} -c {base_configuration}` first.")
    return path, read_search_record(path)


def run_confirm(dataset: str | int, base_configuration: str, spec: TrainSpec, *,
                settings: ConfirmSettings | None = None, executor: ExecutorChoice | None = None,
                teacher: str | None = None, log: Callable[[str], None] = say) -> dict[str, Any]:
    """Confirm the search's pick (or ``settings.start``) against its wider neighbours, every width trained with
    ``settings.budget_fraction`` of ``spec`` (the pick's budget; :func:`confirm_spec_of`); returns and writes the
    record. ``settings`` None: :class:`ConfirmSettings`' defaults; ``executor``
    None: this process. On Ray (:mod:`xtiny.training.schedules.ray_cluster`) a training that failed (after its retry) stops
    the confirm with a missing Dice, and a rerun retrains it. ``teacher`` (a configuration of the same dataset
    trained on ``spec.fold``, or a checkpoint path; needs ``spec.kd``) trains every candidate as its KD student; it
    is checked (XTinyError) before anything is written."""
    ensure_nnunet_env(quiet=True)
    settings = settings or ConfirmSettings()
    executor = executor or ExecutorChoice()
    name = resolve_dataset_name(dataset)
    pick_epochs = spec.epochs
    spec = confirm_spec_of(spec, settings.budget_fraction)
    check_not_online(spec)
    check_kd_teacher(spec, teacher)
    checked = None if teacher is None else _check_teacher(name, teacher, spec, base_configuration)
    search_path, search = _load_search(name, base_configuration)
    family = family_from_search(search)
    check_start(settings.start, family, search_path)
    names = [r["name"] for r in family]
    job = {"dataset": name, "spec": spec, "not_before": data_written_at(name, base_configuration)}
    if checked is not None:  # the jobs get the checked checkpoint, not a name that a later training could change
        job["teacher"] = checked.checkpoint
    kd = spec.kd
    path = confirm_json_path(name, base_configuration)
    with training_executor(executor, spec.device) as runner:  # Ray: checked before any training
        record = ConfirmRecord(
            dataset=name, base_configuration=base_configuration, probe_pick=search.chosen,
            start=settings.start or search.chosen, search_json=str(search_path), trainer=spec.trainer_name,
            backend=spec.backend, fold=spec.fold, epochs=spec.epochs, iterations_per_epoch=spec.iterations_per_epoch,
            val_iterations=spec.val_iterations, device=spec.device, pick_epochs=pick_epochs,
            budget_fraction=settings.budget_fraction, tolerance_points=settings.tolerance,
            max_steps=settings.max_steps, neighbours=settings.neighbours, also_train=list(settings.also_train),
            teacher=None if checked is None else {"checkpoint": checked.checkpoint,
                                                  "configuration": checked.configuration, "trainer": checked.trainer},
            kd_loss=spec.kd_loss if kd else None, kd_alpha=kd[0] if kd else None,
            kd_temperature=kd[1] if kd else None, trainings={}, **runner.info)
        started = time.perf_counter()
        current = _climb(record, runner.run, job, names, path, started, log)
    record.confirmed = current
    return _save(record, path, started, final=current is not None).to_json()


def _check_teacher(dataset_name: str, teacher: str, spec: TrainSpec, base_configuration: str):
    """The teacher checked against ``base_configuration``: every width of its family has the base's labels, output
    channels and dimensionality, so this is the check of every candidate."""
    from xtiny.training.backends.nnunet_backend import check_teacher, check_trainable

    return check_teacher(dataset_name, teacher, base_configuration, check_trainable(dataset_name, base_configuration),
                         spec)


def _ladder(record: ConfirmRecord, names: list[str]) -> list[str]:
    """The trained widths from the start upward (narrowest first), the ones the decision compares."""
    top = names.index(record.start)
    return [c for c in reversed(names[:top + 1]) if c in record.trainings]


def _decide(record: ConfirmRecord, ladder: list[str], tolerance: float) -> tuple[str | None, list[dict]]:
    """The narrowest trained width within ``tolerance`` Dice points of the widest trained, and the comparisons."""
    dice = {c: record.trainings[c]["dice"] for c in ladder}
    widest = ladder[-1]
    if dice[widest] is None:
        return None, []
    rows, confirmed = [], None
    for c in ladder[:-1]:
        gap = None if dice[c] is None else round(100 * (dice[widest] - dice[c]), 3)
        within = gap is not None and gap <= tolerance
        if within and confirmed is None:
            confirmed = c
        rows.append({"pick": c, "wider": widest, "dice_pick": dice[c], "dice_wider": dice[widest], "gap_points": gap,
                     "decision": ("confirmed" if c == confirmed else "within tolerance") if within
                     else "wider wins"})
    return confirmed or widest, rows


def _climb(record: ConfirmRecord, run_jobs, job: dict[str, Any], names: list[str], path: Path, started: float,
           log) -> str | None:
    """Train the start and its ``neighbours`` wider widths as one family run (with ``also_train``), confirm the
    narrowest within tolerance of the widest trained, and train the next wider ones as another family run while
    the widest still wins; fills ``record``, returns the pick (None when a training failed)."""
    tolerance, max_steps, neighbours = record.tolerance_points, record.max_steps, record.neighbours
    index = names.index(record.start)
    group = names[max(0, index - neighbours):index + 1]
    extra = [c for c in record.also_train if c not in names]
    steps = 0
    while True:
        todo = [c for c in reversed(group) if c not in record.trainings] + \
            [c for c in extra if c not in record.trainings]
        if todo:
            log(f"[confirm] family run: {', '.join(todo)}")
            for row in run_jobs([{**job, "configurations": todo}]):
                record.trainings[row["configuration"]] = {**row, "also_trained": row["configuration"] in extra}
                log(f"[confirm] {row['configuration']}: {_how(row)}")
            record.family_runs.append(todo)
        extra = []
        failed = [r for r in record.trainings.values() if r.get("failed")]
        if failed:
            record.stopped_because = "; ".join(f"training {r['configuration']} failed ({r['error']})" for r in failed)
            return None
        ladder = _ladder(record, names)
        if len(ladder) == 1:
            record.stopped_because = f"{ladder[0]} is the widest configuration"
            return ladder[0]
        confirmed, comparisons = _decide(record, ladder, tolerance)
        widest = ladder[-1]
        step_up = confirmed == widest and names.index(widest) > 0 and steps < max_steps
        record.trail.extend({**row, "round": steps + 1} for row in comparisons)
        log(f"[confirm] widest trained {widest}: narrowest within {tolerance} Dice points is {confirmed}"
            f"{' -> step up' if step_up else ''}")
        _save(record, path, started)
        if confirmed is None:
            record.stopped_because = "a validation Dice is missing"
            return None
        if not step_up:
            if confirmed != widest:
                record.stopped_because = f"{confirmed} is within {tolerance} Dice points of {widest}"
            elif names.index(widest) == 0:
                record.stopped_because = f"{widest} is the widest configuration"
            else:
                record.stopped_because = f"reached --max-steps {max_steps}"
            return confirmed
        steps += 1
        top = names.index(widest)
        group = names[max(0, top - neighbours):top]


def replay_confirm(dice: dict[str, float | None], names: list[str], start: str,
                   settings: ConfirmSettings | None = None) -> dict[str, Any]:
    """What confirm would decide if training each width gave ``dice[name]`` (a learning curve's point, a sweep):
    the climb of :func:`run_confirm` from ``start`` over ``names`` (widest first), without training. Returns
    ``{"confirmed", "trained"}`` (the widths its family runs would have trained, in order)."""
    from types import SimpleNamespace

    settings = settings or ConfirmSettings()
    replay = SimpleNamespace(start=start, trainings={})
    index = names.index(start)
    group, steps = names[max(0, index - settings.neighbours):index + 1], 0
    while True:
        for c in reversed(group):
            replay.trainings.setdefault(c, {"dice": dice.get(c)})
        ladder = _ladder(replay, names)
        if len(ladder) == 1:
            return {"confirmed": ladder[0], "trained": list(replay.trainings)}
        confirmed, _ = _decide(replay, ladder, settings.tolerance)
        widest = ladder[-1]
        if confirmed is None or not (confirmed == widest and names.index(widest) > 0 and steps < settings.max_steps):
            return {"confirmed": confirmed, "trained": list(replay.trainings)}
        steps += 1
        top = names.index(widest)
        group = names[max(0, top - settings.neighbours):top]


def _how(row: dict[str, Any]) -> str:
    if row.get("failed"):
        return f"FAILED ({row['error']})"
    if row["skipped_finished"]:
        how = "read back (finished earlier)"
    elif row.get("train_seconds") is None:
        how = "validated now (trained earlier)"
    else:
        how = f"trained in {row['train_seconds']:.0f} s"
    return f"Dice {_pct(row['dice'])} ({how})"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f} %"


def confirm_costs(record: ConfirmRecord) -> dict[str, Any]:
    """Seconds this confirm spent training (``spent_s``), what its trainings took when they ran (``logged_s``), and
    the extra cost: every training but the confirmed one, which the final training reuses at the same budget (all
    of them when confirm trained shorter than the pick: the pick then trains again at its own budget)."""
    rows = record.trainings.values()
    spent = sum(r["train_seconds"] or 0.0 for r in rows)
    logged = sum(r["logged_seconds"] or 0.0 for r in rows)
    confirmed = record.trainings.get(record.confirmed or "", {})
    anyway = sum(r["logged_seconds"] or 0.0 for r in rows if r.get("also_trained"))  # e.g. the baseline
    reused = (confirmed.get("logged_seconds") or 0.0) if record.epochs == record.pick_epochs else 0.0
    extra = logged - reused - anyway
    device = "gpu" if record.device.startswith("cuda") else "cpu"
    return {"spent_s": round(spent, 3), "logged_s": round(logged, 3), "extra_s": round(extra, 3), "device": device}


def _save(record: ConfirmRecord, path: Path, started: float, *, final: bool = False) -> ConfirmRecord:
    """Write the record as it stands (``finished``: ``final``), then its plot."""
    record.costs = confirm_costs(record)
    record.wall_seconds = round(time.perf_counter() - started, 3)
    record.finished = final
    record.confirm_json, record.confirm_png = str(path), str(path.with_suffix(".png"))
    write_confirm_record(path, record)
    plot_confirm(record, path.with_suffix(".png"))
    return record


def plot_confirm(record: ConfirmRecord, png_path: Path) -> Path:
    """Validation Dice vs parameters of every confirm training, the probe pick and the confirmed pick marked."""
    return plot_dice_vs_params(list(record.trainings.values()),
                               [(record.probe_pick, "tab:red", "probe pick"),
                                (record.confirmed, "tab:green", "confirmed")],
                               f"{record.dataset}: confirm, tolerance {record.tolerance_points} Dice points",
                               png_path)


def confirmed_configuration(dataset_name: str, base_configuration: str = "2d") -> tuple[str | None, str]:
    """``(configuration, why)``: the confirmed pick when a finished confirm exists for the current search, else
    ``(None, reason)``."""
    path = confirm_json_path(dataset_name, base_configuration)
    if not path.is_file():
        return None, f"no confirm result ({path.name} absent)"
    record = read_confirm_record(path)
    if not record.finished or not record.confirmed:
        return None, f"{path.name} is from an unfinished confirm"
    search_path = search_json_path(dataset_name, base_configuration)
    chosen = read_search_record(search_path).chosen if search_path.is_file() else None
    if chosen != record.probe_pick:
        return None, f"{path.name} confirmed another search's pick ({record.probe_pick}, now {chosen})"
    taught = f" as KD students of {record.teacher['configuration']}" if record.teacher else ""
    return record.confirmed, (f"confirmed by training {len(record.trainings)} widths{taught} "
                              f"({record.stopped_because})")


def resolve_auto_configuration(dataset_name: str, configuration: str, base_configuration: str = "2d") -> str:
    """``auto`` → the confirmed pick (``xtiny confirm``) when one exists for the current search, else the search's
    pick; it says which one it took and why. Any other name is returned as is."""
    if configuration != "auto":
        return configuration
    path = search_json_path(dataset_name, base_configuration)
    if not path.is_file():
        raise XTinyError(f"-c auto needs a width search result, but {path} does not exist.",
                         fix=f"run 'xtiny search -d {dataset_name}' first, or pass -c 2d_xtiny8 (any configuration).")
    chosen = read_search_record(path).chosen
    confirmed, why = confirmed_configuration(dataset_name, base_configuration)
    if confirmed:
        say(f"[xtiny] -c auto -> {confirmed}: the confirmed pick ({why}; the probe picked {chosen})")
        return confirmed
    say(f"[xtiny] -c auto -> {chosen}: the probe's pick, not confirmed by training ({why}; run `xtiny confirm -d "
        f"{dataset_name}` to check it against its wider neighbours)")
    return chosen
