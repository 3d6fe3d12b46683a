"""The stages of `xtiny run`, each a thin call into the module that owns the work."""

from __future__ import annotations

from pathlib import Path

from xtiny.errors import XTinyError
from xtiny.pipeline import RunOptions, Stage, require


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
        print(f"[validate] {problem}")
    return {"dataset_json_path": str(folder / "dataset.json"), "cases": report.num_cases}


def _validate_key(opts: RunOptions, ctx: dict) -> dict:
    from xtiny.paths import nnunet_dirs

    meta = nnunet_dirs().raw / opts.dataset / "dataset.json"
    return {"dataset_json_mtime": meta.stat().st_mtime_ns if meta.is_file() else None}


def _plan(opts: RunOptions, ctx: dict) -> dict:
    from xtiny.nnunet_api import plan_and_preprocess, plans_path

    plan_and_preprocess(opts.dataset, (opts.configuration,), num_processes=opts.num_processes)
    return {"plans_path": str(plans_path(opts.dataset))}


def _search(opts: RunOptions, ctx: dict) -> dict:
    from xtiny.search import format_table, run_search

    result = run_search(opts.dataset, opts.configuration, k=opts.k, seeds=opts.seeds, device=opts.device,
                        rule=opts.rule)
    print(format_table(result))
    return {"chosen": result["chosen"], "search_json_path": result["search_json"],
            "search_png_path": result["search_png"]}


def _train(config_of, epochs_of, iterations_of):
    def run(opts: RunOptions, ctx: dict) -> dict:
        from xtiny.training.nnunet_backend import train_nnunet

        configuration, epochs, iterations = config_of(opts, ctx), epochs_of(opts), iterations_of(opts)
        resume = _interrupted(opts, configuration, epochs, iterations)
        result = train_nnunet(opts.dataset, configuration, fold=opts.fold, epochs=epochs,
                              iterations_per_epoch=iterations, val_iterations=opts.val_iterations,
                              device=opts.device, continue_training=resume)
        return {"configuration": configuration, "trainer": result.trainer_name,
                "checkpoint_path": str(result.checkpoint), "validation_dice": result.validation_dice}

    def key(opts: RunOptions, ctx: dict) -> dict:
        return {"configuration": config_of(opts, ctx), "fold": opts.fold, "epochs": epochs_of(opts),
                "iterations": iterations_of(opts), "val_iterations": opts.val_iterations}

    return run, key


def _interrupted(opts: RunOptions, configuration: str, epochs: int, iterations: int | None) -> bool:
    """An interrupted earlier run of the same budget left ``checkpoint_latest.pth`` but no final one."""
    from xtiny.training.results import model_folder
    from xtiny.training.trainer_classes import budget_trainer_name

    trainer = budget_trainer_name(epochs, iterations, opts.val_iterations)
    fold_dir = Path(model_folder(opts.dataset, trainer, configuration)) / f"fold_{opts.fold}"
    return (fold_dir / "checkpoint_latest.pth").is_file() and not (fold_dir / "checkpoint_final.pth").is_file()


def _trained_configs(opts: RunOptions, ctx: dict) -> list[str]:
    configs = [require(ctx, "train_pick")["configuration"]]
    if opts.with_baseline:
        configs.append(require(ctx, "train_baseline")["configuration"])
    return configs


def _evaluate(opts: RunOptions, ctx: dict) -> dict:
    from xtiny.evaluation.evaluate import evaluate_models

    trainers = {require(ctx, s)["trainer"] for s in ("train_pick", "train_baseline") if s in ctx}
    summary = evaluate_models(opts.dataset, _trained_configs(opts, ctx), fold=opts.fold, split="val",
                              trainer=trainers.pop() if len(trainers) == 1 else None, device=opts.device)
    return {"summary_path": summary["files"]["summary"], "table_path": summary["files"]["table"]}


def _export(opts: RunOptions, ctx: dict) -> dict:
    from xtiny.export.pipeline import export_model

    pick = require(ctx, "train_pick")
    report = export_model(opts.dataset, pick["configuration"], opts.fold, formats=list(opts.export_formats),
                          trainer=pick["trainer"])
    return {"bundle_dir": report["files"].get("bundle", ""), "recommended": report["metrics"].get("recommended_model")}


def _report(opts: RunOptions, ctx: dict) -> dict:
    from xtiny.evaluation.run_report import build_report

    return {"report_path": str(build_report(opts.dataset))}


_train_pick, _train_pick_key = _train(lambda o, c: require(c, "search")["chosen"], lambda o: o.epochs,
                                      lambda o: o.iterations_per_epoch)
_train_base, _train_base_key = _train(lambda o, c: o.configuration, lambda o: o.baseline_epochs or o.epochs,
                                      lambda o: o.baseline_iterations_per_epoch or o.iterations_per_epoch)

STAGES = [
    Stage("validate", _validate_key, _validate),
    Stage("plan", lambda o, c: {"configuration": o.configuration}, _plan),
    Stage("search", lambda o, c: {"configuration": o.configuration, "k": o.k, "seeds": o.seeds, "rule": o.rule},
          _search),
    Stage("train_pick", _train_pick_key, _train_pick),
    Stage("train_baseline", _train_base_key, _train_base, enabled=lambda o: o.with_baseline),
    Stage("evaluate", lambda o, c: {"configs": _trained_configs(o, c), "fold": o.fold,
                                    "trained": [c.get(s, {}).get("checkpoint_path") for s in ("train_pick", "train_baseline")]},
          _evaluate),
    Stage("export", lambda o, c: {"pick": require(c, "train_pick").get("checkpoint_path"),
                                  "formats": list(o.export_formats)}, _export),
    Stage("report", lambda o, c: {}, _report),
]
