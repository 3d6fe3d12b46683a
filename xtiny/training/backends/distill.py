"""Knowledge distillation from a trained teacher into a (tiny) student: the KD terms, the teacher record and its checks.

Loss: ``(1-α)·(Dice+CE) + α·KD`` with one of three KD terms (``--kd-loss``, :data:`KD_LOSSES`), each computed on the
student's highest-resolution output only: the teacher is built without deep supervision (it has only that output),
and the lower-resolution outputs keep their usual Dice+CE weights in ``(1-α)·(Dice+CE)``.

* ``pixel`` (Qin et al., TMI 2021; the default): ``T²·KL(softmax(t/T) ‖ softmax(s/T))`` per voxel, summed over
  channels, averaged over voxels. Background voxels dominate it on small structures.
* ``cwd`` (channel-wise distillation, Shu et al., ICCV 2021): per sample and class channel, the softmax of the
  logits/T *over the spatial positions*, ``KL(teacher ‖ student)`` per channel, averaged over channels and batch,
  times T². Each channel is a distribution over where its class is, so a small foreground class weighs as much as
  the background channel.
* ``fg``: the pixel KL with foreground and background voxels weighted equally within each sample (each half of the
  weight). Foreground is the *teacher's* prediction (argmax != 0; sigmoid outputs: any channel's probability > 0.5),
  not the label: it is at the output's resolution on both backends, and online KD in a family run has it too. A
  sample whose teacher sees no foreground (or only foreground) has every voxel weighted equally (the pixel KL).

Region-based label sets (sigmoid outputs, BraTS-style) get the matching binary form: a binary KL per channel for
``pixel``/``fg``, and for ``cwd`` the spatial softmax per channel applied to the sigmoid logits as they are.

The teacher of fold ``f`` is recorded beside the results, in ``$nnUNet_results/<Dataset>/xtiny/kd_teacher_fold_<f>.json``
(written by ``xtiny train --teacher``), so plain ``nnUNetv2_train D 2d_xtiny8 f -tr nnUNetTrainer_XTinyKD_...`` finds
it. The loss (when not ``pixel``), α and T are part of the trainer's name (``..._cwd_a0p5_T2...``), like the budget,
so each setting has its own folder.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from xtiny.atomic import atomic_write_json, read_json
from xtiny.errors import XTinyError
from xtiny.nnunet.checkpoints import load_checkpoint
from xtiny.nnunet.plans import PLANS_IDENTIFIER
from xtiny.nnunet.trained import trainer_folders
from xtiny.paths import nnunet_dirs
from xtiny.registry import Registry

# chosen by bench/bench_distill.py (BENCHMARKS.md, "Distillation", small budget on CPU, 2026-12-02): fg at alpha 0.5,
# T 2 had the largest mean Dice gain of the grid (pixel, cwd, fg) and did not lose on average; over 3 seeds its
# students beat the plain pick's mean on every dataset measured (distill_small_seeds_cpu.json). pixel lost on average
KD_DEFAULT_ALPHA = 0.5
KD_DEFAULT_TEMPERATURE = 2.0
KD_LOSSES = ("pixel", "cwd", "fg")
KD_DEFAULT_LOSS = "fg"
KD_UNNAMED_LOSS = "pixel"  # the loss of a KD trainer name that names none (the first KD trainers' names)
# PLACEHOLDER until the bench sets it: online KD's warm-up, the fraction of the schedule before the KD term starts
KD_DEFAULT_WARMUP = 0.25


def check_kd_settings(alpha: float, temperature: float, loss: str = KD_DEFAULT_LOSS) -> None:
    """α in [0, 1], T > 0 (finite) and a known loss (:data:`KD_LOSSES`), else XTinyError."""
    if not (isinstance(alpha, int | float) and math.isfinite(alpha) and 0.0 <= alpha <= 1.0):
        raise XTinyError(f"--kd-alpha must lie in [0, 1] (got {alpha}).",
                         fix=f"pass e.g. --kd-alpha {KD_DEFAULT_ALPHA} (0 = no distillation, 1 = distillation only).")
    if not (isinstance(temperature, int | float) and math.isfinite(temperature) and temperature > 0):
        raise XTinyError(f"--kd-temperature must be > 0 (got {temperature}).",
                         fix=f"pass e.g. --kd-temperature {KD_DEFAULT_TEMPERATURE:g} (1 = plain softmax).")
    if loss not in KD_LOSSES:
        raise XTinyError(f"unknown --kd-loss '{loss}'.", fix=f"use one of {', '.join(KD_LOSSES)}.")


def check_kd_warmup(warmup: float) -> None:
    """The warm-up of online KD, a fraction of the schedule in [0, 1), else XTinyError."""
    if not (isinstance(warmup, int | float) and math.isfinite(warmup) and 0.0 <= warmup < 1.0):
        raise XTinyError(f"--kd-warmup must lie in [0, 1) (got {warmup}).",
                         fix=f"pass e.g. --kd-warmup {KD_DEFAULT_WARMUP:g} (the fraction of the schedule trained "
                             "before the KD term starts).")


def _voxel_kl(s, t, region_based: bool):
    """KL(teacher ‖ student) per voxel, summed over channels: ``(B, *spatial)``; ``s``, ``t`` already divided by T."""
    import torch.nn.functional as F

    if region_based:
        p_t, log_p_s, log_q_s = t.sigmoid(), F.logsigmoid(s), F.logsigmoid(-s)
        log_p_t, log_q_t = F.logsigmoid(t), F.logsigmoid(-t)
        kl = p_t * (log_p_t - log_p_s) + (1 - p_t) * (log_q_t - log_q_s)
    else:
        log_t = F.log_softmax(t, dim=1)
        kl = log_t.exp() * (log_t - F.log_softmax(s, dim=1))
    return kl.sum(dim=1)


def pixel_kd_loss(student_logits, teacher_logits, temperature: float, region_based: bool = False):
    """``T²·KL(teacher ‖ student)`` of temperature-softened outputs, summed over channels, mean over voxels.

    Softmax outputs: the categorical KL per voxel. Region-based (sigmoid) outputs: a binary KL per channel."""
    s = student_logits.float() / temperature
    t = teacher_logits.detach().float() / temperature
    return _voxel_kl(s, t, region_based).mean() * temperature ** 2


def cwd_kd_loss(student_logits, teacher_logits, temperature: float, region_based: bool = False):
    """Channel-wise distillation (Shu et al., ICCV 2021): per sample and channel, softmax of logits/T over the
    spatial positions, ``KL(teacher ‖ student)`` summed over positions, averaged over channels and batch, times T².
    Sigmoid (region-based) logits are used the same way (``region_based`` changes nothing)."""
    import torch.nn.functional as F

    del region_based  # the spatial softmax per channel works on sigmoid logits as on softmax logits
    s = student_logits.float().flatten(2) / temperature  # (B, C, N)
    t = teacher_logits.detach().float().flatten(2) / temperature
    log_t = F.log_softmax(t, dim=2)
    kl = (log_t.exp() * (log_t - F.log_softmax(s, dim=2))).sum(dim=2)  # (B, C)
    return kl.mean() * temperature ** 2


def foreground_weights(teacher_logits, region_based: bool = False):
    """Per-voxel weights ``(B, *spatial)`` that give each sample's foreground and background half of its weight
    each (every sample's weights sum to 1). Foreground: the teacher's argmax != 0 (region-based: any channel's
    sigmoid > 0.5). A sample without foreground or without background: equal weights ``1/N``."""
    import torch

    t = teacher_logits.detach()
    fg = (t > 0).any(dim=1) if region_based else t.argmax(dim=1) != 0  # sigmoid > 0.5 <=> logit > 0
    flat = fg.flatten(1).float()  # (B, N)
    n = flat.shape[1]
    n_fg = flat.sum(dim=1, keepdim=True)
    n_bg = n - n_fg
    mixed = (n_fg > 0) & (n_bg > 0)
    weights = torch.where(flat > 0, 0.5 / n_fg.clamp(min=1), 0.5 / n_bg.clamp(min=1))
    weights = torch.where(mixed, weights, torch.full_like(weights, 1.0 / n))
    return weights.view(fg.shape)


def fg_kd_loss(student_logits, teacher_logits, temperature: float, region_based: bool = False):
    """The pixel KL (times T²) with foreground and background voxels counting equally in each sample
    (:func:`foreground_weights`), averaged over the batch."""
    s = student_logits.float() / temperature
    t = teacher_logits.detach().float() / temperature
    weights = foreground_weights(teacher_logits, region_based)
    per_sample = (_voxel_kl(s, t, region_based) * weights).flatten(1).sum(dim=1)
    return per_sample.mean() * temperature ** 2


KD_LOSS_FUNCTIONS: Registry = Registry("KD loss", [("pixel", pixel_kd_loss), ("cwd", cwd_kd_loss), ("fg", fg_kd_loss)])


def kd_loss(student_logits, teacher_logits, temperature: float, region_based: bool = False,
            loss: str = KD_DEFAULT_LOSS):
    """The KD term ``loss`` (``pixel``, ``cwd`` or ``fg``, see the module doc) of the student's logits against the
    (detached) teacher's, at ``temperature``; ``region_based``: sigmoid outputs."""
    return KD_LOSS_FUNCTIONS.get(loss)(student_logits, teacher_logits, temperature, region_based)


def kd_active(warmup: float | None, step: int, total_steps: int) -> bool:
    """Whether the KD term is on at training iteration ``step`` (0-based, over the whole schedule) of
    ``total_steps``: always for a trained teacher (``warmup`` None), else from ``warmup · total_steps`` on."""
    return warmup is None or step >= warmup * total_steps


def teacher_record_path(dataset_name: str, fold: int | str) -> Path:
    """``$nnUNet_results/<Dataset>/xtiny/kd_teacher_fold_<f>.json`` (not created)."""
    return nnunet_dirs().results / dataset_name / "xtiny" / f"kd_teacher_fold_{fold}.json"


@dataclass
class TeacherSpec:
    """A checked teacher: its checkpoint and what it was trained as."""

    checkpoint: str
    configuration: str
    trainer: str
    fold: int | str
    dataset_name: str


def _latest_trained_checkpoint(dataset_name: str, configuration: str, fold: int | str,
                               plans_identifier: str) -> Path:
    """The newest ``checkpoint_final.pth`` of ``configuration``'s fold among its trainer folders (KD students
    excluded, so a student never becomes its own teacher by accident)."""
    found = [folder / f"fold_{fold}" / "checkpoint_final.pth"
             for trainer, folder in trainer_folders(dataset_name, configuration, plans_identifier).items()
             if "KD" not in trainer]
    found = [p for p in found if p.is_file()]
    if not found:
        raise XTinyError(f"--teacher {configuration}: no trained '{configuration}' fold {fold} of {dataset_name} "
                         f"(no checkpoint_final.pth under {nnunet_dirs().results / dataset_name}).",
                         fix=f"train the teacher first (xtiny train -d {dataset_name} -c {configuration} --fold {fold}) "
                             "or pass --teacher PATH/TO/checkpoint_final.pth.")
    return max(found, key=lambda p: p.stat().st_mtime)


def _label_signature(dataset_json: dict) -> tuple:
    labels = dataset_json.get("labels") or {}
    return tuple(sorted((str(k), str(v)) for k, v in labels.items())), tuple(dataset_json.get("regions_class_order") or ())


def _heads_and_dims(plans: dict, dataset_json: dict, configuration: str) -> tuple[int, int, bool]:
    from xtiny.nnunet.networks import network_io

    manager, config, _, heads = network_io(plans, dataset_json, configuration)
    return heads, len(config.patch_size), manager.get_label_manager(dataset_json).has_regions


def resolve_teacher(dataset_name: str, teacher: str, fold: int | str, student_configuration: str,
                    student_plans: dict, student_dataset_json: dict,
                    plans_identifier: str = PLANS_IDENTIFIER) -> TeacherSpec:
    """``teacher`` (a configuration of the same dataset, or a checkpoint path) checked against the student:
    same dataset, same labels, same number of output channels and dimensionality, trained on the same fold.
    XTinyError (nothing written) on any mismatch, a missing or a corrupt checkpoint."""
    looks_like_path = teacher.endswith(".pth") or os.sep in teacher or Path(teacher).is_file()
    path = Path(teacher).expanduser().resolve() if looks_like_path else \
        _latest_trained_checkpoint(dataset_name, teacher, fold, plans_identifier)
    checkpoint = load_checkpoint(path)  # missing / corrupt / foreign -> XTinyError
    init = checkpoint.get("init_args") or {}
    t_plans, t_json, t_conf = init.get("plans"), init.get("dataset_json"), init.get("configuration")
    if not isinstance(t_plans, dict) or not isinstance(t_json, dict) or not t_conf:
        raise XTinyError(f"teacher checkpoint {path} has no init_args (plans, dataset_json, configuration).",
                         fix="use a checkpoint written by nnU-Net's trainer or by xtiny train.")
    if (checkpoint.get("xtiny") or {}).get("model") not in (None, t_conf):
        raise XTinyError(f"teacher checkpoint {path} is a baseline architecture "
                         f"({checkpoint['xtiny']['model']}), which cannot be rebuilt from the plans.",
                         fix="use an nnU-Net configuration as teacher (e.g. --teacher 2d).")
    t_name = t_plans.get("dataset_name")
    if t_name != dataset_name:
        raise XTinyError(f"teacher checkpoint {path} was trained on {t_name}, not on {dataset_name}.",
                         fix=f"train a teacher on {dataset_name} (e.g. xtiny train -d {dataset_name} -c 2d) and "
                             "pass that.")
    if _label_signature(t_json) != _label_signature(student_dataset_json):
        raise XTinyError(f"teacher checkpoint {path} has labels {t_json.get('labels')}, the student "
                         f"{student_dataset_json.get('labels')}.",
                         fix="the teacher must predict the same label set as the student.")
    t_heads, t_dims, _ = _heads_and_dims(t_plans, t_json, t_conf)
    s_heads, s_dims, _ = _heads_and_dims(student_plans, student_dataset_json, student_configuration)
    if (t_heads, t_dims) != (s_heads, s_dims):
        raise XTinyError(f"teacher {t_conf} ({path}) has {t_heads} output channels in {t_dims}D, the student "
                         f"{student_configuration} {s_heads} in {s_dims}D.",
                         fix="use a teacher of the same dimensionality and label set (e.g. 2d for a 2d_xtiny8 student).")
    if str(init.get("fold")) != str(fold):
        raise XTinyError(f"teacher checkpoint {path} was trained on fold {init.get('fold')}, the student trains on "
                         f"fold {fold}: that teacher has seen the student's validation cases.",
                         fix=f"train the teacher on fold {fold} (xtiny train -d {dataset_name} -c {t_conf} --fold "
                             f"{fold}) and pass it.")
    trainer = checkpoint.get("trainer_name") or path.parent.parent.name.split("__")[0]
    return TeacherSpec(str(path), str(t_conf), str(trainer), fold, dataset_name)


def record_teacher(spec: TeacherSpec) -> Path:
    """Write the teacher record of ``spec.fold`` (atomic), which the KD trainers read."""
    payload = {**asdict(spec), "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "recorded_by": "xtiny train --teacher"}
    return atomic_write_json(teacher_record_path(spec.dataset_name, spec.fold), payload)


def read_teacher_record(dataset_name: str, fold: int | str) -> dict[str, Any]:
    """The recorded teacher of ``fold`` (XTinyError when none is recorded)."""
    path = teacher_record_path(dataset_name, fold)
    if not path.is_file():
        raise XTinyError(f"a KD trainer needs a teacher, but none is recorded for fold {fold} of {dataset_name} "
                         f"({path} is missing).",
                         fix=f"record one: xtiny train -d {dataset_name} -c <student> --fold {fold} --teacher 2d "
                             "(it trains too), or write that JSON with a 'checkpoint' key.")
    record = read_json(path, "KD teacher record")
    if not record.get("checkpoint"):
        raise XTinyError(f"{path} has no 'checkpoint'.", fix="re-record it with xtiny train --teacher.")
    return record


def load_teacher_network(checkpoint_path: str | os.PathLike, device):
    """The teacher as nnU-Net builds it for inference (no deep supervision), weights loaded with the allow-list
    loader, eval mode, no gradients; half precision on CUDA."""
    from xtiny.nnunet.networks import build_network_from_plans

    checkpoint = load_checkpoint(checkpoint_path)
    init = checkpoint["init_args"]
    net = build_network_from_plans(init["plans"], init["dataset_json"], init["configuration"], initialize=False)
    net.load_state_dict(checkpoint["network_weights"])
    net = net.to(device).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    if getattr(device, "type", str(device)) == "cuda":
        net = net.half()
    return net


def teacher_logits(teacher, data):
    """The teacher's (highest-resolution) logits for a batch, in float32, without gradients."""
    import torch

    with torch.no_grad():
        param = next(teacher.parameters())
        out = teacher(data.to(dtype=param.dtype))
    out = out[0] if isinstance(out, list | tuple) else out
    return out.float()
