"""Train the same network with MONAI parts on nnU-Net's preprocessed data (``--backend monai``).

Tiny nets are data-pipeline bound, so the (small) training fold is cached in memory as tensors on the training
device, patches are sampled on tensors (1/3 centred on foreground, like nnU-Net's oversampling) and augmented
with MONAI dictionary transforms on that device; AMP only on CUDA. Loss ``DiceCELoss``, SGD + poly LR as nnU-Net,
final validation with ``sliding_window_inference`` + ``DiceMetric`` per validation case (in nnU-Net's preprocessed
space, no mirroring) written as ``fold_x/validation/summary.json`` with nnU-Net's keys (``foreground_mean.Dice``);
the validation predictions are exported back to raw geometry with nnU-Net's ``export_prediction_from_logits``
as ``fold_x/validation/<case><file_ending>``, as nnU-Net's trainer does.

Baselines: ``configuration`` may also be a registry baseline (``unext``, ``cmunext_s``, ``tinyunet``, see
:mod:`xtiny.models`). It is trained on the data, patch and batch size of the ``2d`` configuration and lands in
``<Trainer>__nnUNetPlans__<baseline>``; nnU-Net's predictor cannot rebuild it, so XTiny's evaluation reads its
``validation/`` predictions.

Checkpoints follow nnU-Net's format (``network_weights``, ``init_args``, ``trainer_name``,
``inference_allowed_mirroring_axes``, ...) in nnU-Net's layout under ``XTinyMonaiTrainer[_budget]``, written
atomically, so nnU-Net's predictor and XTiny's export load them like nnU-Net results.
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xtiny.atomic import atomic_write_json, read_json
from xtiny.errors import XTinyError
from xtiny.nnunet_api import PLANS_IDENTIFIER, plans_path
from xtiny.training.nnunet_backend import prepare_run
from xtiny.training.results import TrainResult, atomic_torch_save, validation_dice
from xtiny.training.trainer_classes import DEFAULT_EPOCHS, parse_budget

MIRROR_AXES_2D = (0, 1)


@dataclass
class CachedCase:
    """One preprocessed case as tensors: ``image`` (Z, C, Y, X) and ``label`` (Z, 1, Y, X), slices along Z."""

    key: str
    image: object
    label: object
    properties: dict | None = None


def fold_keys(dataset_name: str, preprocessed_folder: Path, fold: int | str) -> tuple[list[str], list[str]]:
    """Training / validation case ids exactly as nnU-Net's ``do_split`` picks them (``splits_final.json``)."""
    from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class
    from nnunetv2.utilities.crossval_split import generate_crossval_split

    keys = sorted(infer_dataset_class(str(preprocessed_folder)).get_identifiers(str(preprocessed_folder)))
    if fold == "all":
        return keys, keys
    splits_file = plans_path(dataset_name).parent / "splits_final.json"
    if splits_file.is_file():
        splits = read_json(splits_file, "nnU-Net splits file")
    else:
        splits = generate_crossval_split(keys, seed=12345, n_splits=5)
        atomic_write_json(splits_file, splits)
    if fold >= len(splits):
        raise XTinyError(f"fold {fold} is not in {splits_file} ({len(splits)} folds).", fix="pick a listed fold.")
    return list(splits[fold]["train"]), list(splits[fold]["val"])


def load_cases(preprocessed_folder: Path, keys: list[str], device) -> list[CachedCase]:
    """Read cases with nnU-Net's dataset class into tensors on ``device`` (label -1 → 0 as nnU-Net does)."""
    import torch
    from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class

    dataset = infer_dataset_class(str(preprocessed_folder))(str(preprocessed_folder), keys)
    cases = []
    for key in keys:
        data, seg, _, properties = dataset.load_case(key)
        image = torch.from_numpy(np.ascontiguousarray(data[:], dtype=np.float32)).permute(1, 0, 2, 3)
        label = torch.from_numpy(np.ascontiguousarray(seg[:]).astype(np.int64)).clamp_min(0).permute(1, 0, 2, 3)
        cases.append(CachedCase(key, image.to(device), label.to(device), properties))
    return cases


class PatchSampler:
    """Random 2D patches from cached slices; a third of them centred on a random foreground voxel."""

    def __init__(self, cases: list[CachedCase], patch_size, oversample: float = 0.33, seed: int = 0):
        import torch

        self.patch = tuple(int(p) for p in patch_size)
        self.oversample = oversample
        self.rng = np.random.default_rng(seed)
        self.slices = [(c.image[z], c.label[z]) for c in cases for z in range(c.image.shape[0])]
        self.foreground = [torch.nonzero(lab[0] > 0).cpu().numpy() for _, lab in self.slices]

    def _crop(self, image, label, force_fg: bool, fg):
        import torch.nn.functional as F

        pads = [max(0, p - s) for p, s in zip(self.patch, image.shape[-2:], strict=True)]
        if any(pads):
            pad = (pads[1] // 2, pads[1] - pads[1] // 2, pads[0] // 2, pads[0] - pads[0] // 2)
            image, label = F.pad(image, pad), F.pad(label, pad)
            fg = fg + np.array([pads[0] // 2, pads[1] // 2]) if len(fg) else fg
        shape = image.shape[-2:]
        if force_fg and len(fg):
            centre = fg[self.rng.integers(len(fg))]
            start = [int(np.clip(c - p // 2, 0, s - p)) for c, p, s in zip(centre, self.patch, shape, strict=True)]
        else:
            start = [int(self.rng.integers(0, s - p + 1)) for p, s in zip(self.patch, shape, strict=True)]
        window = (..., slice(start[0], start[0] + self.patch[0]), slice(start[1], start[1] + self.patch[1]))
        return image[window], label[window]

    def sample(self, batch_size: int) -> list[dict]:
        out = []
        for b in range(batch_size):
            force_fg = b >= round(batch_size * (1 - self.oversample))
            i = int(self.rng.integers(len(self.slices)))
            image, label = self._crop(*self.slices[i], force_fg, self.foreground[i])
            out.append({"image": image, "label": label})
        return out


def augmentation(seed: int):
    """MONAI dictionary transforms (spatial on image+label, intensity on image); they run on the tensors' device."""
    from monai.transforms import (
        Compose,
        RandAdjustContrastd,
        RandAffined,
        RandFlipd,
        RandGaussianNoised,
        RandGaussianSmoothd,
        RandScaleIntensityd,
    )

    keys = ["image", "label"]
    transform = Compose([
        RandAffined(keys, prob=0.2, rotate_range=(math.pi,), scale_range=(0.15, 0.15),
                    mode=("bilinear", "nearest"), padding_mode="zeros"),
        RandGaussianNoised("image", prob=0.1, std=0.1),
        RandGaussianSmoothd("image", prob=0.1, sigma_x=(0.5, 1.0), sigma_y=(0.5, 1.0)),
        RandScaleIntensityd("image", factors=0.25, prob=0.15),
        RandAdjustContrastd("image", prob=0.15, gamma=(0.7, 1.5)),
        RandFlipd(keys, prob=0.5, spatial_axis=0),
        RandFlipd(keys, prob=0.5, spatial_axis=1),
    ])
    transform.set_random_state(seed=seed)
    return transform


def _stack(samples: list[dict], transform=None):
    import torch

    if transform is not None:
        samples = [transform(s) for s in samples]
    image = torch.stack([torch.as_tensor(s["image"]) for s in samples])
    label = torch.stack([torch.as_tensor(s["label"]) for s in samples])
    return image.as_subclass(torch.Tensor).float(), label.as_subclass(torch.Tensor).round().long()


def predict_logits(network, case: CachedCase, patch_size, use_amp: bool):
    """Sliding-window logits (Z, classes, Y, X) for one cached case."""
    import torch
    from monai.inferers import sliding_window_inference

    with torch.no_grad(), torch.autocast(case.image.device.type, enabled=use_amp):
        logits = sliding_window_inference(case.image, roi_size=tuple(patch_size), sw_batch_size=4,
                                          predictor=network, overlap=0.5, mode="gaussian")
    return torch.as_tensor(logits).as_subclass(torch.Tensor).float()


def predict_case(network, case: CachedCase, patch_size, use_amp: bool):
    """Sliding-window logits → label map (Z, 1, Y, X) for one cached case."""
    return predict_logits(network, case, patch_size, use_amp).argmax(1, keepdim=True)


def prediction_exporter(plans: dict, data_configuration: str, dataset_json: dict, folder: Path):
    """A callable ``(case, logits)`` writing ``folder/<case><file_ending>`` in raw geometry (nnU-Net's export)."""
    from nnunetv2.inference.export_prediction import export_prediction_from_logits
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    manager = PlansManager(plans)
    config = manager.get_configuration(data_configuration)
    folder.mkdir(parents=True, exist_ok=True)

    def export(case: CachedCase, logits) -> None:
        if case.properties is None:
            return
        export_prediction_from_logits(logits.permute(1, 0, 2, 3).cpu(), case.properties, config, manager,
                                      dataset_json, str(folder / case.key), num_threads_torch=1)

    return export


def validate(network, cases: list[CachedCase], patch_size, labels: list[int], use_amp: bool,
             export=None) -> dict:
    """Per-case Dice of each foreground label with MONAI's DiceMetric; nnU-Net's summary.json keys.

    ``export(case, logits)`` (optional) also writes each case's prediction (see :func:`prediction_exporter`).
    """
    import torch
    from monai.metrics import DiceMetric

    network.eval()
    metric = DiceMetric(include_background=False, reduction="none", ignore_empty=True)
    n_classes = max(labels) + 1
    per_case = []
    for case in cases:
        logits = predict_logits(network, case, patch_size, use_amp)
        if export is not None:
            export(case, logits)
        pred = logits.argmax(1, keepdim=True)
        onehot = [torch.nn.functional.one_hot(t[:, 0], n_classes).permute(3, 0, 1, 2)[None].float()
                  for t in (pred, case.label)]
        dice = metric(*onehot)[0].cpu().numpy()  # (n_classes - 1,) over the whole case volume
        per_case.append({"reference_file": case.key,
                         "metrics": {str(lab): {"Dice": _num(dice[lab - 1])} for lab in labels}})
    mean = {str(lab): {"Dice": _num(np.nanmean([_nan(c["metrics"][str(lab)]["Dice"]) for c in per_case]))}
            for lab in labels}
    fg = _num(np.nanmean([_nan(v["Dice"]) for v in mean.values()]))
    return {"computed_by": "xtiny MONAI backend: DiceMetric on nnU-Net-preprocessed data, no mirroring",
            "foreground_mean": {"Dice": fg}, "mean": mean, "metric_per_case": per_case}


def _num(value) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _nan(value) -> float:
    return float("nan") if value is None else value


def train_monai(dataset: str | int, configuration: str, *, fold: int | str = 0, epochs: int = DEFAULT_EPOCHS,
                iterations_per_epoch: int | None = None, val_iterations: int | None = None, device: str = "cpu",
                continue_training: bool = False, seed: int = 0,
                plans_identifier: str = PLANS_IDENTIFIER) -> TrainResult:
    """Train ``configuration`` with MONAI parts; results in nnU-Net's layout under ``XTinyMonaiTrainer[...]``.

    ``val_iterations`` batches of validation patches give a per-epoch pseudo Dice (logged in the checkpoint); the
    final validation Dice is computed on whole validation cases.
    """
    import torch
    from monai.losses import DiceCELoss
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    baseline = _is_baseline_name(configuration)
    data_configuration = BASELINE_DATA_CONFIGURATION if baseline else configuration
    run = prepare_run(dataset, data_configuration, fold, epochs, iterations_per_epoch, val_iterations, device,
                      continue_training and not baseline, plans_identifier, "monai")
    name, fold, torch_device, plans = run.dataset_name, run.fold, run.device, run.plans
    trainer_name, out, fold_folder, resume = run.trainer_name, run.output_folder, run.fold_folder, run.resume
    if baseline:  # same data as 2d, result folder named after the baseline
        from xtiny.models import get_spec
        from xtiny.training.nnunet_backend import resume_checkpoint
        from xtiny.training.results import model_folder

        configuration = get_spec(configuration).name
        out = model_folder(name, trainer_name, configuration, plans_identifier)
        fold_folder = out / f"fold_{fold}"
        resume = resume_checkpoint(fold_folder, continue_training)
    epochs, iterations, val_its = parse_budget(trainer_name)

    preprocessed_base = plans_path(name, plans_identifier).parent
    dataset_json = read_json(preprocessed_base / "dataset.json", "dataset.json")
    manager = PlansManager(plans)
    config = manager.get_configuration(data_configuration)
    label_manager = manager.get_label_manager(dataset_json)
    if label_manager.has_regions or len(config.patch_size) != 2:
        raise XTinyError(f"the MONAI backend trains 2d label maps only ({configuration} of {name} is not).",
                         fix="use --backend nnunet.")
    folder = preprocessed_base / config.data_identifier
    tr_keys, val_keys = fold_keys(name, folder, fold)
    train_cases = load_cases(folder, tr_keys, torch_device)
    val_cases = load_cases(folder, val_keys, torch_device)
    labels = [int(v) for v in label_manager.foreground_labels]

    network = _build_network(name, configuration, seed, data_configuration, config.patch_size).to(torch_device)
    optimizer = torch.optim.SGD(network.parameters(), 1e-2, weight_decay=3e-5, momentum=0.99, nesterov=True)
    use_amp = torch_device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda") if use_amp else None
    loss_fn = DiceCELoss(include_background=False, to_onehot_y=True, softmax=True, batch=config.batch_dice,
                         smooth_nr=1e-5, smooth_dr=1e-5)
    log: dict[str, list] = {"train_losses": [], "mean_fg_dice": [], "epoch_seconds": []}
    start_epoch = 0
    if resume is not None:
        from xtiny.export.checkpoint import load_checkpoint

        ckpt = load_checkpoint(resume)  # weights_only=True + allow-list; the optimizer moves state to the device
        network.load_state_dict(ckpt["network_weights"])
        optimizer.load_state_dict(ckpt["optimizer_state"])
        if scaler is not None and ckpt.get("grad_scaler_state"):
            scaler.load_state_dict(ckpt["grad_scaler_state"])
        log, start_epoch = ckpt.get("logging", log), int(ckpt["current_epoch"])

    sampler = PatchSampler(train_cases, config.patch_size, seed=seed + start_epoch)
    val_sampler = PatchSampler(val_cases, config.patch_size, seed=seed + 1)
    transform = augmentation(seed + start_epoch)
    batch_size = int(config.batch_size)
    init_args = {"plans": plans, "configuration": configuration, "fold": fold, "dataset_json": dataset_json,
                 "device": torch_device}
    _write_model_folder_files(out, plans, dataset_json, preprocessed_base)
    started = time.perf_counter()
    for epoch in range(start_epoch, epochs):
        tic = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = 1e-2 * (1 - epoch / epochs) ** 0.9
        network.train()
        losses = []
        for _ in range(iterations):
            image, label = _stack(sampler.sample(batch_size), transform)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(torch_device.type, enabled=use_amp):
                loss = loss_fn(network(image), label)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(network.parameters(), 12)
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                torch.nn.utils.clip_grad_norm_(network.parameters(), 12)
                optimizer.step()
            losses.append(float(loss.detach()))
        log["train_losses"].append(float(np.mean(losses)))
        log["mean_fg_dice"].append(_pseudo_dice(network, val_sampler, batch_size, val_its, labels, use_amp))
        log["epoch_seconds"].append(round(time.perf_counter() - tic, 3))
        print(f"[xtiny monai] epoch {epoch + 1}/{epochs}: loss {log['train_losses'][-1]:.4f}, "
              f"pseudo Dice {log['mean_fg_dice'][-1]}, {log['epoch_seconds'][-1]:.1f} s")
        checkpoint = {
            "network_weights": network.state_dict(), "optimizer_state": optimizer.state_dict(),
            "grad_scaler_state": scaler.state_dict() if scaler is not None else None, "logging": log,
            "_best_ema": None, "current_epoch": epoch + 1, "init_args": init_args, "trainer_name": trainer_name,
            "inference_allowed_mirroring_axes": MIRROR_AXES_2D,
            "xtiny": {"backend": "monai", "epochs": epochs, "iterations_per_epoch": iterations, "seed": seed,
                      "model": configuration, "data_configuration": data_configuration},
        }
        atomic_torch_save(checkpoint, fold_folder / "checkpoint_latest.pth")
    final = fold_folder / "checkpoint_final.pth"
    latest = fold_folder / "checkpoint_latest.pth"
    if latest.is_file():
        shutil.copyfile(latest, final.with_suffix(".tmp"))
        final.with_suffix(".tmp").replace(final)
        latest.unlink()
    elif not final.is_file():
        raise XTinyError(f"no checkpoint was written to {fold_folder}.", fix="rerun without --continue.")
    exporter = prediction_exporter(plans, data_configuration, dataset_json, fold_folder / "validation")
    summary = validate(network, val_cases, config.patch_size, labels, use_amp, export=exporter)
    atomic_write_json(fold_folder / "validation" / "summary.json", summary)
    return TrainResult(output_folder=out, checkpoint=final, trainer_name=trainer_name,
                       plans_identifier=plans_identifier, configuration=configuration, fold=fold,
                       validation_dice=validation_dice(fold_folder), backend="monai", epochs=epochs,
                       iterations_per_epoch=iterations, seconds=round(time.perf_counter() - started, 3),
                       extra={"iterations_per_second": _its_per_second(log, iterations)})


def _its_per_second(log: dict, iterations: int) -> float | None:
    seconds = log.get("epoch_seconds") or []
    return round(iterations * len(seconds) / sum(seconds), 3) if seconds and sum(seconds) > 0 else None


def _pseudo_dice(network, sampler: PatchSampler, batch_size: int, iterations: int, labels: list[int],
                 use_amp: bool) -> float | None:
    """nnU-Net-style pseudo Dice on random validation patches (tp/fp/fn summed over the batches)."""
    import torch

    if iterations <= 0 or not sampler.slices:
        return None
    network.eval()
    tp, fp, fn = (np.zeros(len(labels)) for _ in range(3))
    with torch.no_grad(), torch.autocast(sampler.slices[0][0].device.type, enabled=use_amp):
        for _ in range(iterations):
            image, label = _stack(sampler.sample(batch_size))
            pred = network(image).argmax(1, keepdim=True)
            for i, lab in enumerate(labels):
                p, t = pred == lab, label == lab
                tp[i] += float((p & t).sum())
                fp[i] += float((p & ~t).sum())
                fn[i] += float((~p & t).sum())
    dice = [2 * a / (2 * a + b + c) if (2 * a + b + c) > 0 else np.nan for a, b, c in zip(tp, fp, fn, strict=True)]
    return _num(np.nanmean(dice)) if not all(np.isnan(dice)) else None


BASELINE_DATA_CONFIGURATION = "2d"


def _is_baseline_name(configuration: str) -> bool:
    from xtiny.models import is_baseline

    return is_baseline(configuration)


def _build_network(dataset_name: str, configuration: str, seed: int, data_configuration: str, patch_size):
    """A plans configuration exactly as nnU-Net builds it (XTiny's family builder), or a registry baseline with
    the channels / classes of ``data_configuration`` (its patch must be a multiple of the baseline's stride)."""
    from xtiny.family import build_network, network_io

    if not _is_baseline_name(configuration):
        return build_network(dataset_name, configuration, deep_supervision=False, seed=seed)
    from xtiny.models import build_model, get_spec

    spec = get_spec(configuration)
    if any(int(p) % spec.divisor for p in patch_size):
        raise XTinyError(f"{spec.display} needs a patch size divisible by {spec.divisor}; the {data_configuration} "
                         f"patch of {dataset_name} is {list(patch_size)}.",
                         fix="train the baseline on a dataset whose 2d patch is a multiple of that stride.")
    _, _, channels, heads = network_io(dataset_name, data_configuration)
    return build_model(spec.name, channels, heads, seed=seed)


def _write_model_folder_files(out: Path, plans: dict, dataset_json: dict, preprocessed_base: Path) -> None:
    """plans.json / dataset.json / dataset_fingerprint.json next to the folds, as nnU-Net's trainer writes them."""
    plans = {k: v for k, v in plans.items() if k != "continue_training"}
    atomic_write_json(out / "plans.json", plans)
    atomic_write_json(out / "dataset.json", dataset_json)
    fingerprint = preprocessed_base / "dataset_fingerprint.json"
    if fingerprint.is_file():
        atomic_write_json(out / "dataset_fingerprint.json", read_json(fingerprint, "dataset fingerprint"))
