"""Knowledge distillation from a trained teacher into a (tiny) student: the KD term, the teacher record and its checks.

Loss (Qin et al., TMI 2021): ``(1-α)·(Dice+CE) + α·T²·KL(softmax(t/T) ‖ softmax(s/T))`` on the student's
highest-resolution output (deep supervision keeps its usual weights on the other outputs). Region-based label sets
(sigmoid outputs, BraTS-style) get a per-channel binary KL instead.

The teacher of fold ``f`` is recorded beside the results, in ``$nnUNet_results/<Dataset>/xtiny/kd_teacher_fold_<f>.json``
(written by ``xtiny train --teacher``), so plain ``nnUNetv2_train D 2d_xtiny8 f -tr nnUNetTrainer_XTinyKD_...`` finds
it. α and T are part of the trainer's name (``..._a0p5_T2...``), like the budget, so each setting has its own folder.
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

# chosen by bench/bench_distill.py (BENCHMARKS.md, "Distillation", small budget on CPU, 2026-11-27): the grid's best
# mean Dice gain over bus, cardiac, fundus and MNI152, alpha 0.1 / T 2 at -0.96 points (every setting lost on average)
KD_DEFAULT_ALPHA = 0.1
KD_DEFAULT_TEMPERATURE = 2.0


def check_kd_settings(alpha: float, temperature: float) -> None:
    """α in [0, 1] and T > 0 (finite), else XTinyError."""
    if not (isinstance(alpha, int | float) and math.isfinite(alpha) and 0.0 <= alpha <= 1.0):
        raise XTinyError(f"--kd-alpha must lie in [0, 1] (got {alpha}).",
                         fix=f"pass e.g. --kd-alpha {KD_DEFAULT_ALPHA} (0 = no distillation, 1 = distillation only).")
    if not (isinstance(temperature, int | float) and math.isfinite(temperature) and temperature > 0):
        raise XTinyError(f"--kd-temperature must be > 0 (got {temperature}).",
                         fix=f"pass e.g. --kd-temperature {KD_DEFAULT_TEMPERATURE:g} (1 = plain softmax).")


def kd_loss(student_logits, teacher_logits, temperature: float, region_based: bool = False):
    """``T²·KL(teacher ‖ student)`` of temperature-softened outputs, summed over channels, mean over voxels.

    Softmax outputs: the categorical KL per voxel. Region-based (sigmoid) outputs: a binary KL per channel."""
    import torch.nn.functional as F

    s = student_logits.float() / temperature
    t = teacher_logits.detach().float() / temperature
    if region_based:
        p_t, log_p_s, log_q_s = t.sigmoid(), F.logsigmoid(s), F.logsigmoid(-s)
        log_p_t, log_q_t = F.logsigmoid(t), F.logsigmoid(-t)
        kl = p_t * (log_p_t - log_p_s) + (1 - p_t) * (log_q_t - log_q_s)
    else:
        log_t = F.log_softmax(t, dim=1)
        kl = log_t.exp() * (log_t - F.log_softmax(s, dim=1))
    return kl.sum(dim=1).mean() * temperature ** 2


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
