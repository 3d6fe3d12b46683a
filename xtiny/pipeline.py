"""`xtiny run`: validate → plan & preprocess → search → train → evaluate → export → report.

Each stage records what it was asked (its key) and what it wrote in ``xtiny_dir/run.json``. A stage is
skipped when its key is unchanged and its outputs still exist, so a rerun resumes where the last one
stopped and a finished run is redone in seconds.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from xtiny.artifacts import xtiny_dir
from xtiny.atomic import atomic_write_json, read_json
from xtiny.errors import XTinyError


@dataclass
class RunOptions:
    """Everything `xtiny run` needs; budgets are small by default only in the demo."""

    dataset: str
    configuration: str = "2d"
    fold: int = 0
    k: int = 32
    seeds: int = 3
    rule: str = "tv"
    device: str = "cpu"
    epochs: int = 100
    iterations_per_epoch: int | None = None
    val_iterations: int | None = None
    with_baseline: bool = False
    baseline_epochs: int | None = None
    baseline_iterations_per_epoch: int | None = None
    export_formats: tuple[str, ...] = ("onnx", "int8", "bundle")
    num_processes: int | None = None


@dataclass
class Stage:
    """One step: ``key`` says what it depends on, ``run`` does it and returns its outputs (paths)."""

    name: str
    key: Callable[[RunOptions, dict], dict]
    run: Callable[[RunOptions, dict], dict]
    enabled: Callable[[RunOptions], bool] = field(default=lambda opts: True)


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

    def record(self, name: str, key: dict, outputs: dict, seconds: float) -> None:
        self.data["stages"][name] = {"key": key, "outputs": outputs, "seconds": round(seconds, 2)}
        self.save()

    def add_command(self, command: str) -> None:
        if command not in self.data["commands"]:
            self.data["commands"].append(command)
        self.save()

    def save(self) -> None:
        atomic_write_json(self.path, self.data)


def _paths(outputs: dict) -> list[str]:
    """The values of ``outputs`` that are file paths (keys ending in ``_path``/``_dir``)."""
    return [v for k, v in outputs.items() if isinstance(v, str) and (k.endswith("_path") or k.endswith("_dir"))]


def run_pipeline(opts: RunOptions, stages: list[Stage], log: Callable[[str], None] = print) -> dict:
    """Run (or skip) every enabled stage in order; returns ``{stage: outputs}``."""
    from xtiny.nnunet_api import resolve_dataset_name

    opts.dataset = resolve_dataset_name(opts.dataset)
    state = RunState(xtiny_dir(opts.dataset) / "run.json")
    state.add_command(shlex.join(["xtiny", *sys.argv[1:]]) if sys.argv[1:] else "xtiny run")
    context: dict = {"state": state}
    results: dict = {}
    for stage in stages:
        if not stage.enabled(opts):
            continue
        key = stage.key(opts, context)
        if stage.name != "report" and state.is_fresh(stage.name, key):
            log(f"[{stage.name}] up to date, skipped")
            results[stage.name] = context[stage.name] = state.outputs(stage.name)
            continue
        log(f"[{stage.name}] running...")
        started = time.perf_counter()
        outputs = stage.run(opts, context)
        seconds = time.perf_counter() - started
        state.record(stage.name, key, outputs, seconds)
        results[stage.name] = context[stage.name] = outputs
        log(f"[{stage.name}] done in {seconds:.1f} s")
    return results


def options_dict(opts: RunOptions) -> dict:
    data = asdict(opts)
    data["export_formats"] = list(opts.export_formats)
    return data


def require(context: dict, stage: str) -> dict:
    if stage not in context:
        raise XTinyError(f"stage '{stage}' has no outputs yet.", fix=f"run 'xtiny run' without skipping {stage}.")
    return context[stage]
