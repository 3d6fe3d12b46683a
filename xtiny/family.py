"""The width-capped candidate family, written into nnU-Net's plans, and networks built exactly as nnU-Net does.

A candidate ``{base}_xtiny{C}`` inherits everything from ``base`` (so it shares the base's preprocessed
data) and overrides only ``architecture`` with ``arch_kwargs.features_per_stage[i] = min(C, base[i])``.
(The override has to carry the whole ``architecture`` dict because nnU-Net resolves ``inherits_from``
with a shallow ``dict.update``.)
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from xtiny.atomic import atomic_write_json, read_json
from xtiny.errors import XTinyError
from xtiny.nnunet_api import dataset_id_of, plans_path, resolve_dataset_name

SUFFIX = "_xtiny"


def candidate_name(base_configuration: str, cap: int) -> str:
    """``("2d", 8)`` → ``"2d_xtiny8"``."""
    return f"{base_configuration}{SUFFIX}{int(cap)}"


def default_caps(features_per_stage: list[int]) -> list[int]:
    """``C = max(features), C//2, ..., 1`` (widest first)."""
    caps, c = [], int(max(features_per_stage))
    while c >= 1:
        caps.append(c)
        c //= 2
    return caps


def normalize_caps(caps: list[int] | None, features_per_stage: list[int]) -> list[int]:
    """Validate user caps (positive integers), dedupe, sort widest first; ``None`` → :func:`default_caps`."""
    if caps is None:
        return default_caps(features_per_stage)
    out = set()
    for c in caps:
        if isinstance(c, bool) or int(c) != c or int(c) <= 0:
            raise XTinyError(f"invalid width cap {c!r}: caps must be positive integers.",
                             fix="pass e.g. --caps 32 16 8 4 2 1.")
        out.add(int(c))
    if not out:
        raise XTinyError("empty list of width caps.", fix="pass at least one positive cap or leave --caps out.")
    return sorted(out, reverse=True)


def _not_planned(dataset_name: str, base_configuration: str, why: str) -> XTinyError:
    did = dataset_id_of(dataset_name)
    return XTinyError(
        f"{why}",
        fix=f"run `nnUNetv2_plan_and_preprocess -d {did} -c {base_configuration}` "
            f"(or `xtiny datasets` planning) first.",
    )


def load_plans(dataset_name: str) -> tuple[Path, dict]:
    """The dataset's ``nnUNetPlans.json`` path and content (XTinyError telling how to plan when missing)."""
    path = plans_path(dataset_name)
    if not path.is_file():
        raise _not_planned(dataset_name, "2d", f"dataset {dataset_name} has no nnU-Net plans ({path} missing).")
    return path, read_json(path, "nnU-Net plans file")


def resolved_configuration(plans: dict, configuration: str) -> dict:
    """The configuration dict with ``inherits_from`` resolved (nnU-Net's own resolution)."""
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    return PlansManager(plans)._internal_resolve_configuration_inheritance(configuration)


def candidate_configuration(plans: dict, base_configuration: str, cap: int) -> dict:
    """The plans entry for one candidate: inherits from the base, overrides only features_per_stage."""
    base = resolved_configuration(plans, base_configuration)
    arch = copy.deepcopy(base["architecture"])
    fps = arch["arch_kwargs"]["features_per_stage"]
    arch["arch_kwargs"]["features_per_stage"] = [min(int(cap), int(f)) for f in fps]
    return {"inherits_from": base_configuration, "architecture": arch}


def base_features(dataset_name: str, base_configuration: str = "2d") -> list[int]:
    """``features_per_stage`` of the base configuration."""
    _, plans = load_plans(dataset_name)
    _check_base(dataset_name, plans, base_configuration)
    return list(resolved_configuration(plans, base_configuration)["architecture"]["arch_kwargs"]["features_per_stage"])


def _check_base(dataset_name: str, plans: dict, base_configuration: str) -> None:
    configs = plans.get("configurations", {})
    if base_configuration not in configs:
        raise _not_planned(
            dataset_name, base_configuration,
            f"configuration '{base_configuration}' is not in the plans of {dataset_name} "
            f"(available: {', '.join(configs) or 'none'}).",
        )


def add_width_family(dataset_name: str, base_configuration: str = "2d", caps: list[int] | None = None) -> list[str]:
    """Write the ``{base}_xtiny{C}`` configurations into ``nnUNetPlans.json``; return their names, widest first.

    Atomic (temp + rename, previous file kept as ``.bak``) and idempotent: nothing is written when every
    candidate is already present and identical. An existing configuration is never changed: if one with a
    candidate's name exists but differs, XTinyError.
    """
    dataset_name = resolve_dataset_name(dataset_name)
    path, plans = load_plans(dataset_name)
    _check_base(dataset_name, plans, base_configuration)
    fps = resolved_configuration(plans, base_configuration)["architecture"]["arch_kwargs"]["features_per_stage"]
    configs = plans["configurations"]
    names, changed = [], False
    for cap in normalize_caps(caps, fps):
        name = candidate_name(base_configuration, cap)
        entry = candidate_configuration(plans, base_configuration, cap)
        if name in configs:
            if _canonical(configs[name]) != _canonical(entry):
                raise XTinyError(
                    f"configuration '{name}' already exists in {path} with different content; "
                    "XTiny never changes an existing configuration.",
                    fix=f"remove '{name}' from the plans (a backup is {path}.bak) or restore the base configuration.",
                )
        else:
            configs[name] = entry
            changed = True
        names.append(name)
    if changed:
        atomic_write_json(path, plans, backup=True)
    return names


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True)


def family_members(plans: dict, base_configuration: str) -> list[tuple[str, int]]:
    """``(name, cap)`` of every ``{base}_xtiny{C}`` configuration in the plans, widest first."""
    prefix = f"{base_configuration}{SUFFIX}"
    out = [(n, int(n[len(prefix):])) for n in plans.get("configurations", {})
           if n.startswith(prefix) and n[len(prefix):].isdigit()]
    return sorted(out, key=lambda t: -t[1])


def network_io(dataset_name: str, configuration: str) -> tuple[Any, Any, int, int]:
    """``(plans_manager, configuration_manager, input_channels, output_heads)`` as nnU-Net's trainer computes them."""
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    path, plans = load_plans(dataset_name)
    if configuration not in plans.get("configurations", {}):
        raise XTinyError(f"configuration '{configuration}' is not in {path}.",
                         fix="run `xtiny search` (it writes the xtiny configurations) or pick an existing one.")
    dataset_json = read_json(path.parent / "dataset.json", "preprocessed dataset.json")
    pm = PlansManager(plans)
    cm = pm.get_configuration(configuration)
    channels = determine_num_input_channels(pm, cm, dataset_json)
    heads = pm.get_label_manager(dataset_json).num_segmentation_heads
    return pm, cm, channels, heads


def build_network(dataset_name: str, configuration: str, *, deep_supervision: bool = False, seed: int | None = None):
    """The torch module nnU-Net's trainer would build for ``configuration`` (He init; ``seed`` fixes the RNG).

    Same path as ``nnUNetTrainer.build_network_architecture``: plans → ConfigurationManager →
    ``get_network_from_plans(..., allow_init=True)``; inputs from dataset.json, outputs from the label manager.
    """
    import torch
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

    _, cm, channels, heads = network_io(dataset_name, configuration)
    if seed is not None:
        torch.manual_seed(int(seed))
    return get_network_from_plans(
        cm.network_arch_class_name, cm.network_arch_init_kwargs, cm.network_arch_init_kwargs_req_import,
        channels, heads, allow_init=True, deep_supervision=deep_supervision,
    )


def count_parameters(network) -> int:
    """Number of parameters (trainable or not)."""
    return int(sum(p.numel() for p in network.parameters()))


def count_macs(network, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of all (transposed) convolutions for one sample of ``input_shape`` = (C, *spatial),
    from a shape-only pass (:func:`xtiny.meta_pass.meta_profile`). FLOPs are conventionally reported as 2 × MACs."""
    from xtiny.meta_pass import meta_profile

    return meta_profile(network, input_shape)["macs"]
