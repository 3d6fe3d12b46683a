"""Evaluate trained models on a held-out split: predictions, per-case metrics, costs, table and plots.

For each configuration: find its fold folder in nnU-Net's results layout (:mod:`xtiny.evaluation.locate`),
predict the split's raw images with ``nnUNetPredictor`` (sequential, no worker processes) into
``evaluation_dir(dataset)/predictions/<configuration>_fold<F>/``; a folder that nnU-Net's predictor
cannot load (e.g. a model trained by another backend) is evaluated from the predictions it wrote into
``fold_F/validation/`` (nnU-Net results layout), which must cover every case of the split.
Outputs: ``metrics_<split>_fold<F>.csv`` (one row per model, case and label), ``summary_<split>_fold<F>.json``
(atomic), ``table_<split>_fold<F>.md``, ``box_<metric>_...png`` and ``dice_vs_params_...png``.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from xtiny.console import say
from xtiny.errors import XTinyError
from xtiny.evaluation.locate import ModelFolder, find_model_folder, split_cases


def _dataset_info(dataset_name: str) -> tuple[dict, Path]:
    from xtiny.atomic import read_json
    from xtiny.paths import nnunet_dirs

    raw = nnunet_dirs().raw / dataset_name
    ds = read_json(raw / "dataset.json", "dataset.json")
    return ds, raw


def _labels(ds: dict) -> list[int]:
    values = []
    for v in ds["labels"].values():
        values.extend(v if isinstance(v, list) else [v])
    return sorted({int(v) for v in values if int(v) != 0})


def predict_cases(model: ModelFolder, cases: Sequence[str], raw_dir: Path, ds: dict, out_dir: Path, *,
                  device: str = "cpu", use_mirroring: bool = False):
    """Predict ``cases`` with nnU-Net's predictor; returns the network (for cost) and the output folder."""
    from xtiny.devices import resolve_device
    from xtiny.nnunet.predictor import trained_predictor
    from xtiny.training import register_trainers

    register_trainers()  # nnU-Net's predictor looks the model's trainer class up by name
    predictor = trained_predictor(model.training_dir, model.fold, model.checkpoint.name, resolve_device(device),
                                  use_mirroring=use_mirroring)
    ending = ds["file_ending"]
    n_ch = len(ds["channel_names"])
    inputs = [[str(raw_dir / "imagesTr" / f"{c}_{i:04d}{ending}") for i in range(n_ch)] for c in cases]
    missing = [p for li in inputs for p in li if not Path(p).is_file()]
    if missing:
        raise XTinyError(f"raw image {missing[0]} of the split is missing.", fix="restore the raw dataset.")
    out_dir.mkdir(parents=True, exist_ok=True)
    import contextlib

    with contextlib.redirect_stdout(io.StringIO()):
        predictor.predict_from_files_sequential(inputs, [str(out_dir / c) for c in cases], save_probabilities=False,
                                                overwrite=True)
    return predictor, out_dir


def _network_cost(predictor, model: ModelFolder, dataset_name: str, latency: bool) -> dict:
    from xtiny.evaluation.cost import count_parameters, macs_and_flops, torch_latency_ms

    if predictor is not None:
        net = predictor.network
        patch = list(predictor.configuration_manager.patch_size)
    else:
        net, patch = _rebuild_network(dataset_name, model)
        if net is None:
            return {"params": None, "macs": None, "flops": None, "latency_ms": None, "patch_size": None}
    import torch

    net = net.cpu().eval()
    first = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Conv3d))
    cost = {"params": count_parameters(net), **macs_and_flops(net, patch, first.in_channels), "patch_size": patch}
    if latency:
        x = torch.randn(1, first.in_channels, *patch)
        cost["latency_ms"] = torch_latency_ms(net, x, threads=1, repeats=3, warmup=1)
    else:
        cost["latency_ms"] = None
    return cost


def _rebuild_network(dataset_name: str, model: ModelFolder):
    """Architecture of a non-nnU-Net folder: a registry baseline named like the configuration, at the base patch."""
    from xtiny.models import build_model, is_baseline

    if not is_baseline(model.configuration):
        return None, None
    from xtiny.nnunet.plans import configuration_manager, load_plans

    ds, _ = _dataset_info(dataset_name)
    patch = list(configuration_manager(load_plans(dataset_name, "2d"), "2d").patch_size)
    net = build_model(model.configuration, len(ds["channel_names"]), len(_labels(ds)) + 1)
    return net, patch


def training_budget(model: ModelFolder) -> dict:
    """What a model's training cost: epochs x iterations (from the budget in its trainer's name) and the seconds its
    epochs took (from its checkpoint's log)."""
    from xtiny.nnunet.checkpoints import load_checkpoint
    from xtiny.nnunet.trained import logged_training_seconds
    from xtiny.training.backends.trainer_classes import parse_budget

    budget = parse_budget(model.trainer)
    seconds = logged_training_seconds(load_checkpoint(model.checkpoint)) if model.checkpoint else None
    if budget is None:
        return {"trainer": model.trainer, "epochs": None, "iterations_per_epoch": None, "iterations": None,
                "seconds": seconds}
    return {"trainer": model.trainer, "epochs": budget[0], "iterations_per_epoch": budget[1],
            "iterations": budget[0] * budget[1], "seconds": seconds}


def model_entry(entry: str) -> tuple[str, str | None]:
    """``CONFIGURATION[@TRAINER]`` → ``(configuration, trainer or None)``."""
    configuration, _, trainer = entry.partition("@")
    return configuration, trainer or None


def model_key(model: ModelFolder) -> str:
    """How a model is listed: its configuration, with `` + KD`` for a distilled one."""
    from xtiny.training.backends.trainer_classes import parse_kd

    return f"{model.configuration} + KD" if parse_kd(model.trainer) else model.configuration


def budget_statement(models: dict) -> str:
    """Whether a comparison is at equal iterations, and each model's iterations and seconds otherwise."""
    iterations = {m["training"]["iterations"] for m in models.values() if m.get("training")}
    if len(iterations) == 1 and None not in iterations:
        return f"equal iterations: every model trained {iterations.pop()} iterations (seconds differ, see table)"
    return ("unequal budgets: the models trained different numbers of iterations; compare each Dice with its "
            "iterations and seconds")


@dataclass(frozen=True)
class InferenceSettings:
    """How :func:`evaluate_models` runs the models: on ``device``, with nnU-Net's mirroring test-time augmentation
    (``use_mirroring``), and whether it measures each network's CPU latency (``latency``)."""

    device: str = "cpu"
    use_mirroring: bool = False
    latency: bool = True


def evaluate_models(dataset: str | int, configurations: Sequence[str], *, fold: int | str = 0, split: str = "val",
                    trainer: str | None = None, inference: InferenceSettings | None = None,
                    log: Callable[[str], None] = say) -> dict:
    """Evaluate every configuration on the split (``inference`` None: :class:`InferenceSettings`' defaults); write
    CSV, summary JSON, Markdown table and plots.

    An entry ``CONFIGURATION@TRAINER`` names one trainer's model of that configuration (e.g. the pick and its
    distilled twin ``2d_xtiny8@nnUNetTrainer_XTinyKD_a0p5_T2_100ep`` side by side); a distilled model is listed as
    ``<configuration> + KD``. Returns the summary dict (also written atomically to ``summary_<split>_fold<F>.json``).
    """
    from xtiny.artifacts import evaluation_dir
    from xtiny.atomic import atomic_write_json, atomic_write_text
    from xtiny.evaluation import metrics, plots, table
    from xtiny.evaluation.patient_dice import POOLING, dice_by_patient, patients_of
    from xtiny.models import display_name
    from xtiny.nnunet.names import resolve_dataset_name
    from xtiny.nnunet.raw_format import image_reader

    inference = inference or InferenceSettings()
    name = resolve_dataset_name(dataset)
    ds, raw_dir = _dataset_info(name)
    labels = _labels(ds)
    # resolve every model first so a missing one fails before any slow prediction
    entries = [model_entry(c) for c in configurations]
    models = [find_model_folder(name, conf, fold, trainer=own or trainer) for conf, own in entries]
    keys = [model_key(m) for m in models]
    if len(set(keys)) != len(keys):
        raise XTinyError(f"the models to evaluate are not distinct: {', '.join(keys)}.",
                         fix="name each model once (CONFIGURATION or CONFIGURATION@TRAINER).")
    cases = split_cases(name, [conf for conf, _ in entries], fold, split)
    out = evaluation_dir(name)
    tag = f"{split}_fold{fold}"
    reader = image_reader(ds, str(raw_dir / "labelsTr" / f"{cases[0]}{ds['file_ending']}"))
    summary = {"dataset": name, "fold": str(fold), "split": split, "num_cases": len(cases), "labels": labels,
               "conventions": metrics.CONVENTIONS, "cost_definitions": _cost_defs(), "models": {}}
    patients = patients_of(ds)
    if patients:
        summary["patients"] = {"count": len({patients.get(c, c) for c in cases}), "pooling": POOLING}
    rows: list[dict] = []
    for model, key in zip(models, keys, strict=True):
        predictor, pred_dir, source = None, None, "nnUNetPredictor"
        if model.checkpoint is not None:
            try:
                predictor, pred_dir = predict_cases(model, cases, raw_dir, ds, out / "predictions" /
                                                    f"{key.replace(' + ', '_')}_fold{fold}",
                                                    device=inference.device,
                                                    use_mirroring=inference.use_mirroring)
            except XTinyError:
                raise
            except Exception as exc:  # not loadable by nnU-Net's predictor: use the folder's own predictions
                log(f"[xtiny] {model.configuration}: nnU-Net's predictor cannot load {model.fold_dir} ({exc}); "
                    "using its validation/ predictions")
        if pred_dir is None:
            pred_dir, source = model.fold_dir / "validation", "fold validation/ folder"
            absent = [c for c in cases if not (pred_dir / f"{c}{ds['file_ending']}").is_file()]
            if absent:
                raise XTinyError(f"{pred_dir} lacks predictions for {len(absent)} case(s) of the split (e.g. {absent[0]}).",
                                 fix=f"finish training '{model.configuration}' fold {fold} (its validation step "
                                     "writes them) or train it with the nnU-Net backend.")
        records = metrics.evaluate_folder(str(raw_dir / "labelsTr"), str(pred_dir), labels, reader, ds["file_ending"],
                                          case_ids=cases)
        summ = metrics.summarize(records, labels)
        per_patient = dice_by_patient(records, patients, labels) if patients else None
        cost = _network_cost(predictor, model, name, inference.latency)
        summary["models"][key] = {
            "display": display_name(model.configuration) + (" + KD" if key != model.configuration else ""),
            "configuration": model.configuration, "trainer": model.trainer, "fold_dir": str(model.fold_dir),
            "training": training_budget(model),
            "predictions": str(pred_dir), "prediction_source": source, "cost": cost,
            "per_class": summ["per_class"], "foreground": summ["foreground"], "dice_nnunet": summ["dice_nnunet"],
            **({"per_patient": per_patient} if per_patient else {})}
        for rec in records:
            for lb, m in rec["metrics"].items():
                rows.append({"model": key, "case": rec["case"], "label": lb, **m})
        fg = summ["foreground"]["dice"]
        log(f"[xtiny] {key}: Dice {100 * fg['mean']:.2f} ± {100 * fg['sd']:.2f} over {len(cases)} "
            f"{split} cases ({source})" + ("" if not per_patient else "; per patient " + ", ".join(
                f"{p} {_pct(v['dice'])}" for p, v in per_patient.items())))
    summary["budget"] = budget_statement(summary["models"])
    csv_path = out / f"metrics_{tag}.csv"
    atomic_write_text(csv_path, _csv(rows))
    summary_path = atomic_write_json(out / f"summary_{tag}.json", _json_safe(summary))
    md = table.markdown_table([summary])
    table_path = atomic_write_text(out / f"table_{tag}.md", md)
    figures = plots.write_plots(summary, rows, out, tag)
    summary["files"] = {"csv": str(csv_path), "summary": str(summary_path), "table": str(table_path),
                        "figures": [str(f) for f in figures]}
    atomic_write_json(summary_path, _json_safe(summary))
    return summary


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def _cost_defs() -> dict:
    from xtiny.evaluation.cost import DEFINITIONS

    return {k: DEFINITIONS[k] for k in ("params", "macs", "flops")} | {
        "latency_ms": "median batch-1 torch eager CPU forward of one patch, 1 thread"}


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    fields = ["model", "case", "label", "dice", "hd95", "assd", "n_ref", "n_pred"]
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("nan" if isinstance(r[k], float) and math.isnan(r[k]) else r[k]) for k in fields})
    return buf.getvalue()


def _json_safe(obj):
    """NaN/inf → None (recursively) so the JSON is strict."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if obj is None or isinstance(obj, str | int | bool):
        return obj
    return str(obj)
