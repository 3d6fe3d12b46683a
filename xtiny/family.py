"""The width-capped candidate family, written into nnU-Net's plans, and networks built exactly as nnU-Net does.

A candidate (named by :mod:`xtiny.nnunet.width_names`, ``{base}_xtiny{C}``) inherits everything from ``base`` (so it shares the base's preprocessed
data) and overrides only ``architecture`` with ``arch_kwargs.features_per_stage[i] = min(C, base[i])``.
(The override has to carry the whole ``architecture`` dict because nnU-Net resolves ``inherits_from``
with a shallow ``dict.update``.)
"""

from __future__ import annotations

import copy
import json
from typing import Any

from xtiny.atomic import atomic_write_json
from xtiny.errors import XTinyError
from xtiny.nnunet.names import resolve_dataset_name
from xtiny.nnunet.plans import configuration_dict, load_plans, plans_path, require_configuration
from xtiny.nnunet.width_names import parse_width_configuration, width_configuration_name


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


def candidate_configuration(plans: dict, base_configuration: str, cap: int) -> dict:
    """The plans entry for one candidate: inherits from the base, overrides only features_per_stage."""
    base = configuration_dict(plans, base_configuration)
    arch = copy.deepcopy(base["architecture"])
    fps = arch["arch_kwargs"]["features_per_stage"]
    arch["arch_kwargs"]["features_per_stage"] = [min(int(cap), int(f)) for f in fps]
    return {"inherits_from": base_configuration, "architecture": arch}


def add_width_family(dataset_name: str, base_configuration: str = "2d", caps: list[int] | None = None) -> list[str]:
    """Write the ``{base}_xtiny{C}`` configurations into ``nnUNetPlans.json``; return their names, widest first.

    Atomic (temp + rename, previous file kept as ``.bak``) and idempotent: nothing is written when every
    candidate is already present and identical. An existing configuration is never changed: if one with a
    candidate's name exists but differs, XTinyError.
    """
    dataset_name = resolve_dataset_name(dataset_name)
    path = plans_path(dataset_name)
    plans = load_plans(dataset_name)
    require_configuration(plans, base_configuration, path)
    fps = configuration_dict(plans, base_configuration)["architecture"]["arch_kwargs"]["features_per_stage"]
    configs = plans["configurations"]
    names, changed = [], False
    for cap in normalize_caps(caps, fps):
        name = width_configuration_name(base_configuration, cap)
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
    parsed = {n: parse_width_configuration(n) for n in plans.get("configurations", {})}
    out = [(n, p[1]) for n, p in parsed.items() if p is not None and p[0] == base_configuration]
    return sorted(out, key=lambda t: -t[1])
