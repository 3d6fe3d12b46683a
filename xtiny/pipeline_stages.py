"""The stages of `xtiny run`, each a thin call into the module that owns the work."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from xtiny.console import log_line, say
from xtiny.errors import XTinyError
from xtiny.pipeline import RunOptions, Stage, require

if TYPE_CHECKING:
    from xtiny.training.schedules.confirm import ConfirmSettings
    from xtiny.training.spec import TrainSpec


def _validate(opts: RunOptions, ctx: dict) -> dict:
    from xtiny.datasets.validate import validate_dataset
    from xtiny.paths import nnunet_dirs

    folder = nnunet_dirs().raw / opts.dataset
    if not folder.is_dir():
        if (nnunet_dirs().preprocessed / opts.dataset).is_dir():
            return {"note": "raw data absent; preprocessed data used as is"}
        raise XTinyError(f"no raw dataset folder {folder}.", fix="convert or copy the dataset into $nnUNet_raw.")
    report = validate_dataset(folder)
    report.raise_if_fatal()
    for problem in report.problems:
        say(f"[validate] {problem}")
    return {"dataset_json_path": str(folder / "dataset.json"), "cases": report.num_cases}


def raw_fingerprint(opts: RunOptions, ctx: dict) -> dict:
    """What ``validate`` reads: every file of the raw dataset folder by relative path, size and mtime (as make does);
    ``None`` when only preprocessed data exist."""
    from xtiny.paths import nnunet_dirs

    folder = nnunet_dirs().raw / opts.dataset
    if not folder.is_dir():
        return {"raw": None}
    digest = hashlib.sha1()
    count = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        info = path.stat()
        digest.update(f"{path.relative_to(folder)}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
        count += 1
    return {"raw": str(folder), "files": count, "sha1": digest.hexdigest()}


def _plan(opts: RunOptions, ctx: dict) -> dict:
    """nnU-Net's planning; made anew from the raw data when the raw data changed since this stage last ran."""
    from xtiny.nnunet.planning import plan_and_preprocess
    from xtiny.nnunet.plans import load_plans, plans_path

    previous = ctx.get("previous_key")
    redo = previous is not None and previous.get("upstream") != ctx["key"]["upstream"] and nnunet_raw_exists(opts)
    plan_and_preprocess(opts.dataset, (opts.configuration,), num_processes=opts.num_processes, redo=redo)
    base = load_plans(opts.dataset, opts.configuration)["configurations"][opts.configuration]
    fingerprint = plans_path(opts.dataset).parent / "dataset_fingerprint.json"
    return {"plans_path": str(plans_path(opts.dataset)), "replanned": redo,
            "base_configuration_sha1": hashlib.sha1(json.dumps(base, sort_keys=True).encode()).hexdigest(),
            "fingerprint_sha1": hashlib.sha1(fingerprint.read_bytes()).hexdigest() if fingerprint.is_file() else None}


def nnunet_raw_exists(opts: RunOptions) -> bool:
    from xtiny.paths import nnunet_dirs

    return (nnunet_dirs().raw / opts.dataset).is_dir()


def _search(opts: RunOptions, ctx: dict) -> dict:
    from xtiny.search import SearchSettings, format_table, run_search

    settings = SearchSettings(k=opts.k, seeds=opts.seeds, narrow_seeds=opts.narrow_seeds, device=opts.device,
                              rule=opts.rule, confidence=opts.confidence, caps=opts.caps)
    result = run_search(opts.dataset, opts.configuration, settings)
    log_line(format_table(result))
    if result.get("warning"):
        log_line(f"warning: {result['warning']}")
    return {"chosen": result["chosen"], "search_json_path": result["search_json"],
            "search_png_path": result["search_png"], "images_sha1": result["inputs"]["images_sha1"],
            "settled": "warning" not in result}


def train_spec(opts: RunOptions, epochs: int, iterations: int | None, *, distilled: bool = False) -> TrainSpec:
    """The spec of one of this run's nnU-Net trainings: ``epochs`` x ``iterations``, the run's validation
    iterations, fold and device; ``distilled``: a KD student with the run's KD settings. Stages run this spec and
    record its ``stage_key()``, so what runs and what the key says are one thing."""
    from xtiny.training.spec import TrainSpec

    return TrainSpec(backend="nnunet", epochs=epochs, iterations_per_epoch=iterations,
                     val_iterations=opts.val_iterations, fold=opts.fold, device=opts.device,
                     kd=(opts.kd_alpha, opts.kd_temperature) if distilled else None,
                     kd_loss=opts.kd_loss if distilled else None)


def _teacher(opts: RunOptions, ctx: dict) -> str | None:
    """Under ``--distill``: the trained baseline's checkpoint, the teacher of the KD students; else None."""
    return require(ctx, "train_baseline")["checkpoint_path"] if opts.distill else None


def _baseline_joins_confirm(opts: RunOptions) -> bool:
    """The full baseline trains in confirm's first family run (same batches) when it has confirm's spec:
    ``--budget equal-iterations``, no --distill (the baseline is then confirm's teacher and trains first)."""
    from xtiny.training.schedules.confirm import confirm_spec_of

    return (opts.with_baseline and not opts.distill and opts.budget == "equal-iterations"
            and train_spec(opts, opts.baseline_epochs or opts.epochs,
                           opts.baseline_iterations_per_epoch or opts.iterations_per_epoch)
            == confirm_spec_of(_confirm_spec(opts), _confirm_fraction(opts)))


def _confirm_spec(opts: RunOptions) -> TrainSpec:
    """The budget confirm starts from (``--confirm-epochs``/``--confirm-iterations``, else the pick's; confirm trains
    :func:`_confirm_fraction` of its epochs); KD students under --distill."""
    return train_spec(opts, opts.confirm_epochs or opts.epochs,
                      opts.confirm_iterations_per_epoch or opts.iterations_per_epoch, distilled=opts.distill)


def _confirm_fraction(opts: RunOptions) -> float:
    """The fraction of :func:`_confirm_spec`'s epochs confirm trains: 1 when ``--confirm-epochs`` names them."""
    return 1.0 if opts.confirm_epochs else opts.confirm_budget_fraction


def _confirm_settings(opts: RunOptions) -> ConfirmSettings:
    """Confirm's decision settings; the baseline joins its first family run when it has the same budget."""
    from xtiny.training.schedules.confirm import ConfirmSettings

    return ConfirmSettings(tolerance=opts.confirm_tolerance, max_steps=opts.confirm_max_steps,
                           neighbours=opts.confirm_neighbours, budget_fraction=_confirm_fraction(opts),
                           also_train=(opts.configuration,) if _baseline_joins_confirm(opts) else ())


def _confirm(opts: RunOptions, ctx: dict) -> dict:
    """Train the pick and its wider neighbours at the pick's budget (or the confirm budget) as family runs, with the
    baseline in the first run when it has the same budget; step up while the widest wins. Under --distill every
    candidate is a KD student of the trained baseline."""
    from xtiny.training.schedules.confirm import run_confirm

    record = run_confirm(opts.dataset, opts.configuration, _confirm_spec(opts), settings=_confirm_settings(opts),
                         teacher=_teacher(opts, ctx), log=say)
    return {"probe_pick": record["probe_pick"], "confirmed": record["confirmed"],
            "confirm_json_path": record["confirm_json"], "confirm_png_path": record["confirm_png"],
            "extra_seconds": record["costs"]["extra_s"], "family_runs": record["family_runs"]}


def _confirm_inputs(opts: RunOptions, ctx: dict) -> dict:
    """The spec and the settings confirm runs with (the KD settings are the spec's)."""
    return {"spec": _confirm_spec(opts).stage_key(), "settings": _confirm_settings(opts).stage_key()}


def _confirm_upstream(opts: RunOptions) -> tuple[str, ...]:
    """The search's pick, and under --distill the baseline it distils (so the baseline trains before confirm)."""
    return ("search", "train_baseline") if opts.distill else ("search",)


def _pick(opts: RunOptions, ctx: dict) -> str:
    """The configuration the pick stage trains: the confirmed pick, or the probe's pick without --no-confirm."""
    return require(ctx, "confirm")["confirmed"] if opts.confirm else require(ctx, "search")["chosen"]


def _pick_upstream(opts: RunOptions) -> tuple[str, ...]:
    return ("confirm",) if opts.confirm else ("search",)


def _train(config_of, epochs_of, iterations_of, *, distilled: bool = False):
    def spec_of(opts: RunOptions) -> TrainSpec:
        return train_spec(opts, epochs_of(opts), iterations_of(opts), distilled=distilled)

    def run(opts: RunOptions, ctx: dict) -> dict:
        """Train with nnU-Net; a finished training of the same budget newer than the data (e.g. the confirm
        stage's) is read back, an interrupted one continued. ``distilled``: a KD student of the trained baseline
        (read back only when also newer than the teacher)."""
        from xtiny.training.backends.nnunet_backend import train_nnunet
        from xtiny.training.schedules.sweep import data_written_at, train_job

        configuration, spec = config_of(opts, ctx), spec_of(opts)
        teacher = _teacher(opts, ctx) if distilled else None
        if configuration == opts.configuration and opts.budget == "equal-time":
            spec = replace(spec, epochs=_equal_time_epochs(opts, ctx, configuration, spec.iterations_per_epoch))
        if _interrupted(opts, configuration, spec):
            from xtiny.console import progress_bar

            with progress_bar(spec.epochs, f"train {configuration}{' + KD' if teacher else ''} (continued)"):
                result = train_nnunet(opts.dataset, configuration, spec, continue_training=True, teacher=teacher)
            trainer, checkpoint, dice, reused = (result.trainer_name, str(result.checkpoint), result.validation_dice,
                                                 False)
        else:
            row = train_job({"dataset": opts.dataset, "configuration": configuration, "spec": spec,
                             "not_before": data_written_at(opts.dataset, opts.configuration),
                             **({"teacher": teacher} if teacher else {})})
            trainer, checkpoint, dice, reused = (row["trainer_name"], row["checkpoint"], row["dice"],
                                                 row["skipped_finished"])
            if reused:
                log_line(f"[train] {configuration}: read back the finished {trainer} training (same budget, newer "
                         f"than the data{' and the teacher' if teacher else ''})")
        kd = {"teacher_checkpoint": teacher, "kd_loss": spec.kd_loss, "kd_alpha": spec.kd[0],
              "kd_temperature": spec.kd[1]} if teacher else {}
        return {"configuration": configuration, "trainer": trainer, "fold": opts.fold, "device": opts.device,
                "checkpoint_path": checkpoint, "validation_dice": dice, "reused_finished": reused,
                "epochs": spec.epochs, "iterations_per_epoch": spec.iterations_per_epoch, **kd}

    def inputs(opts: RunOptions, ctx: dict) -> dict:
        """The configuration, the spec (before an equal-time calibration of the baseline's epochs) and the budget
        mode."""
        return {"configuration": config_of(opts, ctx), "budget": opts.budget, "spec": spec_of(opts).stage_key()}

    return run, inputs


def _calibration_pick(opts: RunOptions, ctx: dict) -> str:
    """The pick whose budget the baseline's equal time is measured against: the probe's pick under --distill with
    confirm (the baseline is the confirm's teacher, so it trains before the confirmed pick is known), else the pick."""
    return require(ctx, "search")["chosen"] if opts.distill and opts.confirm else _pick(opts, ctx)


def _baseline_upstream(opts: RunOptions) -> tuple[str, ...]:
    if opts.budget != "equal-time":
        return ("plan",)
    return ("plan", "search") if opts.distill and opts.confirm else ("plan", *_pick_upstream(opts))


def _equal_time_epochs(opts: RunOptions, ctx: dict, configuration: str, iterations: int | None) -> int:
    """Epochs that give ``configuration`` (the full base) the training time of the pick's budget, from a few timed
    iterations of both on this machine (``--budget equal-time``)."""
    from xtiny.training.backends.calibrate import seconds_per_iteration

    pick = _calibration_pick(opts, ctx)
    ratio = seconds_per_iteration(opts.dataset, pick, device=opts.device) / \
        seconds_per_iteration(opts.dataset, configuration, device=opts.device)
    epochs = max(1, round(opts.epochs * (opts.iterations_per_epoch or 250) * ratio / (iterations or 250)))
    say(f"[train_baseline] equal time: {configuration} gets {epochs} epochs ({ratio:.3f} x the iterations of the "
        f"pick {pick})")
    return epochs


def _interrupted(opts: RunOptions, configuration: str, spec: TrainSpec) -> bool:
    """An interrupted earlier run of ``spec`` left ``checkpoint_latest.pth`` but no final one."""
    from xtiny.nnunet.trained import model_folder

    fold_dir = Path(model_folder(opts.dataset, spec.trainer_name, configuration)) / f"fold_{spec.fold}"
    return (fold_dir / "checkpoint_latest.pth").is_file() and not (fold_dir / "checkpoint_final.pth").is_file()


def _trained_models(opts: RunOptions, ctx: dict) -> list[str]:
    """``configuration@trainer`` of every model this run trained, the pick first."""
    return [f"{require(ctx, s)['configuration']}@{require(ctx, s)['trainer']}" for s in _trained_stages(opts)]


def _evaluate(opts: RunOptions, ctx: dict) -> dict:
    from xtiny.evaluation.evaluate import InferenceSettings, evaluate_models

    summary = evaluate_models(opts.dataset, _trained_models(opts, ctx), fold=opts.fold, split="val",
                              inference=InferenceSettings(device=opts.device), log=log_line)
    return {"summary_path": summary["files"]["summary"], "table_path": summary["files"]["table"]}


def _export(opts: RunOptions, ctx: dict) -> dict:
    from xtiny.artifacts import export_dir
    from xtiny.export.pipeline import ExportSettings, export_model

    pick = require(ctx, "train_pick")
    out = export_dir(opts.dataset, pick["configuration"], opts.fold)
    settings = ExportSettings(formats=tuple(opts.export_formats), trainer=pick["trainer"])
    report = export_model(opts.dataset, pick["configuration"], opts.fold, settings, output_dir=out, log=log_line)
    return {"export_dir": str(out), "bundle_dir": report["files"].get("bundle", ""),
            "recommended": report["metrics"].get("recommended_model")}


def _report(opts: RunOptions, ctx: dict) -> dict:
    """The report of exactly what this run produced (any base configuration); after a failed stage, of the stages
    that finished, the failure at the top."""
    from xtiny.evaluation.run_report import ReportInputs, build_report

    inputs = ReportInputs(search_json=_recorded(ctx, "search", "search_json_path"),
                          summary_json=_recorded(ctx, "evaluate", "summary_path"),
                          export_dirs=[p for p in [_recorded(ctx, "export", "export_dir")] if p],
                          confirm_json=_recorded(ctx, "confirm", "confirm_json_path"), failure=ctx.get("failed"))
    return {"report_path": str(build_report(opts.dataset, inputs))}


def _recorded(ctx: dict, stage: str, key: str) -> Path | None:
    value = ctx.get(stage, {}).get(key)
    return Path(value) if value else None


def training_summary(outputs: dict) -> str:
    """``2d_xtiny8: validation Dice 65.1 % after 25 epochs x 40 iterations (nnUNetTrainer_...)``."""
    dice = outputs.get("validation_dice")
    its = outputs.get("iterations_per_epoch") or 250
    return (f"{outputs.get('configuration')}: validation Dice {'n/a' if dice is None else f'{100 * dice:.1f} %'} "
            f"after {outputs.get('epochs')} epochs x {its} iterations ({outputs.get('trainer')})")


def _trained_stages(opts: RunOptions) -> tuple[str, ...]:
    if opts.distill:
        return "train_pick", "train_baseline", "train_pick_kd"
    return ("train_pick", "train_baseline") if opts.with_baseline else ("train_pick",)


_train_pick, _train_pick_inputs = _train(_pick, lambda o: o.epochs, lambda o: o.iterations_per_epoch)
# the pick again, at the pick's budget, distilled from the trained baseline: under confirm, the confirm stage's KD
# training of the confirmed width at this budget is read back
_train_pick_kd, _train_pick_kd_inputs = _train(_pick, lambda o: o.epochs, lambda o: o.iterations_per_epoch,
                                               distilled=True)
_train_base, _train_base_inputs = _train(lambda o, c: o.configuration,
                                         lambda o: o.baseline_epochs or o.epochs,
                                         lambda o: o.baseline_iterations_per_epoch or o.iterations_per_epoch)

STAGES = [
    Stage("validate", raw_fingerprint, _validate, summary=lambda out: f"{out.get('cases', '?')} cases"),
    Stage("plan", lambda o, c: {"configuration": o.configuration}, _plan, upstream=("validate",),
          summary=lambda out: "plans and preprocessed data made anew" if out.get("replanned") else ""),
    Stage("search", lambda o, c: {"configuration": o.configuration, "k": o.k, "seeds": o.seeds, "rule": o.rule,
                                  "device": o.device, "confidence": o.confidence,
                                  **({} if o.caps is None else {"caps": list(o.caps)}),  # old keys stay valid
                                  **({} if o.narrow_seeds == 12 else {"narrow_seeds": o.narrow_seeds})},
          _search, upstream=("plan",),
          summary=lambda out: f"probe's pick {out['chosen']}" + ("" if out.get("settled", True) else
                                                                  " (not settled: see search.json's warning)")),
    Stage("confirm", _confirm_inputs, _confirm, upstream=_confirm_upstream, enabled=lambda o: o.confirm,
          summary=lambda out: f"confirmed {out['confirmed']} (probe's pick {out['probe_pick']})"),
    Stage("train_pick", _train_pick_inputs, _train_pick, upstream=_pick_upstream, summary=training_summary),
    Stage("train_baseline", _train_base_inputs, _train_base, upstream=_baseline_upstream,
          enabled=lambda o: o.with_baseline or o.distill,
          summary=training_summary),
    Stage("train_pick_kd", _train_pick_kd_inputs, _train_pick_kd,
          upstream=lambda o: (*_pick_upstream(o), "train_baseline"), enabled=lambda o: o.distill,
          summary=lambda out: training_summary(out) + f", distilled from {Path(out['teacher_checkpoint']).parent.parent.name}"),
    Stage("evaluate", lambda o, c: {"fold": o.fold}, _evaluate, upstream=_trained_stages,
          summary=lambda out: f"table {out['table_path']}"),
    Stage("export", lambda o, c: {"formats": list(o.export_formats)}, _export, upstream=("train_pick",),
          summary=lambda out: f"{out.get('bundle_dir') or out.get('export_dir')}"),
    Stage("report", lambda o, c: {}, _report,
          upstream=lambda o: ("validate", "search", *_pick_upstream(o), *_trained_stages(o), "evaluate", "export"),
          summary=lambda out: out["report_path"], after_failure=True),
]
