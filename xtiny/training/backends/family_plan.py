"""Which networks can learn from one batch stream, checked before anything is written.

A family run trains several configurations of one dataset on the same batches. That is only sound when they train
on the same preprocessed data with the same patch size, batch size and deep-supervision scales (a width family
and its base always do). :func:`plan_family` checks it, and :func:`check_family_memory` estimates what all networks
need together against what the device has free.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

from xtiny.errors import XTinyError
from xtiny.nnunet.names import resolve_dataset_name
from xtiny.nnunet.plans import (
    PLANS_IDENTIFIER,
    configuration_manager,
    load_plans,
    plans_path,
    require_configuration,
)
from xtiny.training.spec import TrainSpec

BYTES_PER_PARAMETER_TRAINING = 4 * 4  # fp32 weights, gradients, SGD momentum and one spare copy (clipping, AMP)
ACTIVATION_FACTOR = 2  # the forward's kept outputs plus their gradients in the backward


@dataclass(frozen=True)
class FamilyPlan:
    """The checked members of one family run: ``configurations`` in the order given, ``data_configurations`` the
    plans configuration each trains on (a MONAI baseline trains on ``2d``)."""

    dataset_name: str
    configurations: tuple[str, ...]
    data_configurations: tuple[str, ...]
    spec: TrainSpec
    plans_identifier: str = PLANS_IDENTIFIER
    online_teacher: str | None = None  # online KD (spec.kd_warmup): the full configuration that teaches the others

    @property
    def label(self) -> str:
        return "+".join(self.configurations)

    def spec_of(self, configuration: str) -> TrainSpec:
        """The spec ``configuration`` trains with: the family's, except that the online teacher trains as a plain
        network (its folder is the plain trainer's) while the others are its KD students."""
        if configuration == self.online_teacher:
            return replace(self.spec, kd=None, kd_loss=None, kd_warmup=None)
        return self.spec

    def online_kd_record(self, configuration: str) -> dict:
        """What a member's family record and result say of online KD (``{}`` without it): the teacher, the member's
        role, loss, alpha, temperature and warm-up."""
        if self.online_teacher is None:
            return {}
        spec = self.spec
        return {"online_kd": {"teacher": self.online_teacher,
                              "role": "teacher" if configuration == self.online_teacher else "student",
                              "loss": spec.kd_loss, "alpha": spec.kd[0], "temperature": spec.kd[1],
                              "warmup": spec.kd_warmup, "student_trainer": spec.trainer_name}}


def split_configurations(text: str | list[str] | tuple[str, ...]) -> list[str]:
    """``"2d_xtiny8,2d"`` (the CLI's form) or a list → the names, stripped, in order."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    return [p.strip() for p in parts if p.strip()]


def member_seed(seed: int, configuration: str) -> int:
    """The initialisation seed of ``configuration`` in a run of ``seed``: the same in a family run as alone, and
    different for every width."""
    return (int(seed) * 1_000_003 + zlib.crc32(configuration.encode())) % (2**31 - 1)


def _stream_signature(manager) -> tuple:
    """What one batch stream fixes: data, patch, batch size and the deep-supervision pooling."""
    return (manager.data_identifier, tuple(manager.patch_size), int(manager.batch_size),
            tuple(tuple(k) for k in manager.pool_op_kernel_sizes))


def plan_family(dataset: str | int, configurations, spec: TrainSpec,
                plans_identifier: str = PLANS_IDENTIFIER) -> FamilyPlan:
    """Check a family run's members (XTinyError, exit 2, before any write): at least one, none twice, each in the
    plans (or a MONAI baseline), all sharing one batch stream."""
    from xtiny.models import is_baseline

    names = split_configurations(configurations)
    if not names:
        raise XTinyError("no configuration to train.", fix="pass -c 2d_xtiny8,2d_xtiny16,2d (comma-separated).")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise XTinyError(f"configuration {', '.join(twice)} is named twice in -c {','.join(names)}.",
                         fix="name every configuration once.")
    name = resolve_dataset_name(dataset)
    plans = load_plans(name, None, plans_identifier)
    path = plans_path(name, plans_identifier)
    data_configs = []
    for configuration in names:
        if is_baseline(configuration):
            if spec.backend != "monai":
                raise XTinyError(f"'{configuration}' is a baseline architecture; nnU-Net's trainer cannot build it.",
                                 fix="train it in a family run with --backend monai.")
            data_configs.append("2d")
            require_configuration(plans, "2d", path)
        else:
            require_configuration(plans, configuration, path)
            data_configs.append(configuration)
    signatures = {c: _stream_signature(configuration_manager(plans, d)) for c, d in zip(names, data_configs,
                                                                                          strict=True)}
    first = names[0]
    for configuration in names[1:]:
        if signatures[configuration] != signatures[first]:
            a, b = signatures[first], signatures[configuration]
            raise XTinyError(
                f"{first} and {configuration} cannot learn from one batch stream: they train on different data, "
                f"patches or batches ({a[0]} {list(a[1])} x{a[2]} vs {b[0]} {list(b[1])} x{b[2]}).",
                fix="train configurations of one base together (e.g. 2d_xtiny8,2d_xtiny16,2d), the others in "
                    "another run.")
    teacher = online_teacher_of(names, spec) if spec.online_kd else None
    return FamilyPlan(name, tuple(names), tuple(data_configs), spec, plans_identifier, teacher)


def online_teacher_of(names: list[str], spec: TrainSpec) -> str:
    """The online teacher of a family (``--distill online``): its full configuration, the base (``2d``,
    ``3d_fullres``) of its widths; XTinyError (exit 2) when the family has none, or nothing to teach."""
    from xtiny.nnunet.width_names import base_of, is_width_configuration

    widths = [n for n in names if is_width_configuration(n)]
    bases = sorted({base_of(n) for n in widths})
    teacher = next((b for b in bases if b in names), None)
    if teacher is None:
        base = bases[0] if bases else "2d"
        raise XTinyError(f"--distill online: the family {','.join(names)} has no full configuration ({base}) to "
                         "teach the others.",
                         fix=f"add the full configuration to the family: -c {','.join([*widths, base])} "
                             "--distill online.")
    return teacher


def family_memory_bytes(plan: FamilyPlan) -> dict[str, int]:
    """Estimated training memory of each member: parameters, gradients and optimiser state, plus the activations
    autograd keeps for one batch (a shape-only pass on the meta device: nothing is allocated)."""
    from xtiny.meta_pass import count_parameters, meta_profile
    from xtiny.models import build_model
    from xtiny.nnunet.networks import network_io
    from xtiny.nnunet.plans import read_preprocessed_dataset_json

    plans = load_plans(plan.dataset_name, None, plan.plans_identifier)
    dataset_json = read_preprocessed_dataset_json(plan.dataset_name)
    out = {}
    for configuration, data_configuration in zip(plan.configurations, plan.data_configurations, strict=True):
        _, manager, channels, heads = network_io(plans, dataset_json, data_configuration)
        network = build_model(configuration, channels, heads, dataset=plan.dataset_name, seed=0,
                              patch_size=manager.patch_size)
        profile = meta_profile(network, (channels, *manager.patch_size))
        out[configuration] = (count_parameters(network) * BYTES_PER_PARAMETER_TRAINING
                              + ACTIVATION_FACTOR * int(manager.batch_size) * profile["activation_bytes"])
    return out


def free_memory_bytes(device) -> int:
    """What the device has free now: CUDA's free memory, or the system's available memory for the CPU."""
    import torch

    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 1 << 62


def check_family_memory(plan: FamilyPlan, device) -> dict:
    """The estimate per member and in all, with what is free; XTinyError (exit 2) before training when the family
    does not fit."""
    per_member = family_memory_bytes(plan)
    total, free = sum(per_member.values()), free_memory_bytes(device)
    gib = 1024**3
    if total > free:
        raise XTinyError(f"the family {plan.label} needs about {total / gib:.1f} GiB on {device.type} to train, but "
                         f"{free / gib:.1f} GiB are free.",
                         fix="train fewer networks per run (e.g. the widest alone), or free memory.")
    from xtiny.console import say

    say(f"[family] {len(per_member)} networks ({plan.label}): about {total / gib:.2f} GiB to train together on "
        f"{device.type}, {free / gib:.1f} GiB free")
    return {"estimated_bytes": per_member, "estimated_total_bytes": total, "free_bytes": free}
