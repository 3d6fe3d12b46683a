"""`xtiny run`: validate → plan & preprocess → search → train → evaluate → export → report.

Each stage records its key and what it wrote in ``xtiny_dir/run.json`` once it has finished. Keys chain, as in make or DVC: a stage's
key holds its own inputs (options, and for ``validate`` the raw data's fingerprint) plus the digest of every
stage it consumes (that stage's key and outputs). Change anything upstream and exactly the stages downstream of
it rerun; change nothing and every stage is skipped (its outputs must still exist).

A stage that fails is not recorded as done (its earlier record is dropped) and ``run.json`` keeps the failure under
``"failed"``; the stages marked ``after_failure`` (the report) still run, unrecorded, from the stages that finished,
and the error is raised again. The next run redoes the failed stage and what follows it.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from xtiny.artifacts import xtiny_dir
from xtiny.atomic import atomic_write_json, read_json
from xtiny.errors import XTinyError
from xtiny.sensitivity import DEFAULT_CONFIDENCE
from xtiny.training import (
    CONFIRM_BUDGET_FRACTION,
    CONFIRM_MAX_STEPS,
    CONFIRM_NEIGHBOURS,
    CONFIRM_TOLERANCE_POINTS,
)
from xtiny.training.backends.distill import KD_DEFAULT_ALPHA, KD_DEFAULT_LOSS, KD_DEFAULT_TEMPERATURE

DEFAULT_EXPORT_FORMATS = ("onnx", "int8", "bundle")
BUDGET_MODES = ("equal-iterations", "equal-time")


@dataclass
class RunOptions:
    """Everything `xtiny run` needs; budgets are small by default only in the demo."""

    dataset: str
    configuration: str = "2d"
    fold: int = 0
    k: int | None = None  # most probe images (None: every training case), exactly k with confidence None
    seeds: int = 3
    narrow_seeds: int = 12  # most seeds a cheap candidate may get where the pick is contested (nested draws)
    confidence: float | None = DEFAULT_CONFIDENCE  # the probe's stop rule; None: fixed k and seeds
    rule: str = "tv"
    caps: tuple[int, ...] | None = None  # the width family to search (None: max(features), /2, ..., 1)
    device: str = "cpu"
    epochs: int = 100
    iterations_per_epoch: int | None = None
    val_iterations: int | None = None
    with_baseline: bool = False
    baseline_epochs: int | None = None
    baseline_iterations_per_epoch: int | None = None
    export_formats: tuple[str, ...] = DEFAULT_EXPORT_FORMATS
    confirm: bool = True
    confirm_tolerance: float = CONFIRM_TOLERANCE_POINTS
    confirm_max_steps: int = CONFIRM_MAX_STEPS
    confirm_neighbours: int = CONFIRM_NEIGHBOURS
    confirm_epochs: int | None = None  # None: confirm_budget_fraction of the pick's budget
    confirm_budget_fraction: float = CONFIRM_BUDGET_FRACTION  # of the pick's epochs (ignored with confirm_epochs)
    confirm_iterations_per_epoch: int | None = None
    num_processes: int | None = None
    verbose: bool = False
    budget: str = "equal-iterations"  # or "equal-time": the baseline gets the pick's training time (calibrated)
    distill: bool = False  # train the baseline first and distil it into the pick (a second, "+ KD" model)
    kd_alpha: float = KD_DEFAULT_ALPHA
    kd_temperature: float = KD_DEFAULT_TEMPERATURE
    kd_loss: str = KD_DEFAULT_LOSS


@dataclass
class Stage:
    """One step: ``inputs`` says what it reads besides other stages, ``upstream`` names the stages whose outputs
    it consumes (a callable for a choice that depends on the options), ``run`` does it and returns its outputs."""

    name: str
    inputs: Callable[[RunOptions, dict], dict]
    run: Callable[[RunOptions, dict], dict]
    upstream: tuple[str, ...] | Callable[[RunOptions], tuple[str, ...]] = ()
    enabled: Callable[[RunOptions], bool] = field(default=lambda opts: True)
    summary: Callable[[dict], str] | None = None
    after_failure: bool = False  # also runs (unrecorded) after a failed stage, with ``context["failed"]``

    def upstream_of(self, opts: RunOptions) -> tuple[str, ...]:
        return self.upstream(opts) if callable(self.upstream) else self.upstream


class RunState:
    """``run.json``: per stage its key, outputs, duration; written atomically after every stage."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = read_json(path, "run state") if path.is_file() else {"stages": {}, "commands": []}

    def is_fresh(self, name: str, key: dict) -> bool:
        entry = self.data["stages"].get(name)
        if not entry or entry.get("key") != key:
            return False
        return all(Path(p).exists() for p in _paths(entry.get("outputs", {})))

    def outputs(self, name: str) -> dict:
        return self.data["stages"].get(name, {}).get("outputs", {})

    def digest(self, name: str) -> str | None:
        """sha1 of a stage's recorded key and outputs (None when it never ran): what its consumers' keys hold."""
        entry = self.data["stages"].get(name)
        if entry is None:
            return None
        text = json.dumps({"key": entry.get("key"), "outputs": entry.get("outputs")}, sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()

    def stage_key(self, stage: Stage, opts: RunOptions, context: dict) -> dict:
        """The stage's own inputs plus the digest of each stage it consumes."""
        return {"inputs": stage.inputs(opts, context),
                "upstream": {name: self.digest(name) for name in stage.upstream_of(opts)}}

    def record(self, name: str, key: dict, outputs: dict, seconds: float) -> None:
        self.data["stages"][name] = {"key": key, "outputs": outputs, "seconds": round(seconds, 2)}
        self.save()

    def forget(self, name: str) -> None:
        """Drop a stage's record: the next run redoes it."""
        self.data["stages"].pop(name, None)
        self.save()

    def record_failure(self, name: str, error: Exception, seconds: float, log_path: Path | None) -> dict:
        """Drop the stage's record (it is not done) and keep what failed, the error and its fix under ``"failed"``."""
        self.data["stages"].pop(name, None)
        message = error.message if isinstance(error, XTinyError) else f"{type(error).__name__}: {error}"
        self.data["failed"] = {"stage": name, "error": message, "fix": getattr(error, "fix", None),
                               "seconds": round(seconds, 2), "log": str(log_path) if log_path else None}
        self.save()
        return self.data["failed"]

    def add_command(self, command: str) -> None:
        if command not in self.data["commands"]:
            self.data["commands"].append(command)
        self.save()

    def save(self) -> None:
        atomic_write_json(self.path, self.data)


def _paths(outputs: dict) -> list[str]:
    """The values of ``outputs`` that are file paths (keys ending in ``_path``/``_dir``)."""
    return [v for k, v in outputs.items() if isinstance(v, str) and (k.endswith("_path") or k.endswith("_dir"))]


def run_pipeline(opts: RunOptions, stages: list[Stage], log: Callable[[str], None] | None = None, *,
                 until: str | None = None) -> dict:
    """Run (or skip) every enabled stage in :func:`stage_order` (through stage ``until`` only, when given); returns
    ``{stage: outputs}``. When a stage fails, the ``after_failure`` stages after it run from what finished, and the
    error is raised again (module docstring).

    Unless ``opts.verbose``, what nnU-Net and the other libraries print goes to ``xtiny_dir/logs/<stage>.log`` and
    the terminal shows one line when a stage starts and one when it ends (plus progress bars)."""
    from xtiny.console import quiet_output, say
    from xtiny.nnunet.names import resolve_dataset_name

    if opts.budget not in BUDGET_MODES:
        raise XTinyError(f"unknown --budget '{opts.budget}'.", fix=f"use one of: {', '.join(BUDGET_MODES)}.")
    log = log or say
    opts.dataset = resolve_dataset_name(opts.dataset)
    logs = xtiny_dir(opts.dataset) / "logs"
    state = RunState(xtiny_dir(opts.dataset) / "run.json")
    state.data.pop("failed", None)  # the failure of an earlier run is this run's to redo
    state.add_command(shlex.join(["xtiny", *sys.argv[1:]]) if sys.argv[1:] else "xtiny run")
    context: dict = {"state": state}
    results: dict = {}
    order = stage_order(stages, opts)
    names = [s.name for s in order]
    for index, stage in enumerate(order[:names.index(until) + 1] if until in names else order):
        key = state.stage_key(stage, opts, context)
        if state.is_fresh(stage.name, key):
            log(f"[{stage.name}] up to date, skipped")
            results[stage.name] = context[stage.name] = state.outputs(stage.name)
            continue
        log_path = None if opts.verbose else logs / f"{stage.name}.log"
        log(f"[{stage.name}] running{f' (library output: {log_path})' if log_path else ''}")
        context["previous_key"] = state.data["stages"].get(stage.name, {}).get("key")
        context["key"] = key
        started = time.perf_counter()
        try:
            with quiet_output(log_path):
                outputs = stage.run(opts, context)
        except Exception as exc:
            context["failed"] = state.record_failure(stage.name, exc, time.perf_counter() - started, log_path)
            log(f"[{stage.name}] failed after {context['failed']['seconds']:.1f} s")
            run_after_failure([s for s in order[index + 1:] if s.after_failure], opts, context, logs, log)
            raise
        seconds = time.perf_counter() - started
        state.record(stage.name, key, outputs, seconds)
        results[stage.name] = context[stage.name] = outputs
        summary = stage.summary(outputs) if stage.summary else ""
        log(f"[{stage.name}] done in {seconds:.1f} s{': ' + summary if summary else ''}")
    return results


def run_after_failure(stages: list[Stage], opts: RunOptions, context: dict, logs: Path, log: Callable[[str], None],
                      ) -> None:
    """Run ``stages`` (the report) from the stages that finished, ``context["failed"]`` saying what did not; never
    recorded as done, and a failure of theirs only logged (the first error is the one raised)."""
    from xtiny.console import quiet_output

    for stage in stages:
        context["state"].forget(stage.name)  # what it writes now is not the finished run's: redone by the next run
        try:
            with quiet_output(None if opts.verbose else logs / f"{stage.name}.log"):
                outputs = stage.run(opts, context)
        except Exception as exc:  # the stage's own failure must not hide the first one
            log(f"[{stage.name}] could not run after the failure either: {exc}")
            continue
        summary = stage.summary(outputs) if stage.summary else ""
        log(f"[{stage.name}] written after the failure{': ' + summary if summary else ''}")


def stage_order(stages: list[Stage], opts: RunOptions) -> list[Stage]:
    """The enabled stages in list order, except that a stage waits until every stage it consumes has run (e.g.
    ``confirm`` after ``train_baseline`` under ``--distill``). Upstream names outside ``stages`` do not hold a stage
    back. A cycle is a programming error (XTinyError naming the stages)."""
    waiting = [s for s in stages if s.enabled(opts)]
    names = {s.name for s in waiting}
    order: list[Stage] = []
    while waiting:
        done = {s.name for s in order}
        ready = next((s for s in waiting if all(u in done or u not in names for u in s.upstream_of(opts))), None)
        if ready is None:
            raise XTinyError(f"the stages {', '.join(s.name for s in waiting)} consume each other in a cycle.",
                             fix="report this as a bug in xtiny/pipeline_stages.py.")
        order.append(ready)
        waiting.remove(ready)
    return order


def require(context: dict, stage: str) -> dict:
    if stage not in context:
        raise XTinyError(f"stage '{stage}' has no outputs yet.", fix=f"run 'xtiny run' without skipping {stage}.")
    return context[stage]
