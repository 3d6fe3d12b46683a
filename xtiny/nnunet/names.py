"""Dataset ids and names as nnU-Net spells them (``4`` ↔ ``Dataset004_Foo``)."""

from __future__ import annotations

import re

from xtiny.errors import XTinyError
from xtiny.paths import ensure_nnunet_env, nnunet_dirs


def resolve_dataset_name(dataset: str | int) -> str:
    """``4``, ``"4"``, ``"Dataset004_Foo"`` or ``"Foo"`` → ``"Dataset004_Foo"`` (looked up in raw/preprocessed/results)."""
    ensure_nnunet_env(quiet=True)
    dirs = nnunet_dirs()
    text = str(dataset).strip()
    candidates: set[str] = set()
    for folder in (dirs.raw, dirs.preprocessed, dirs.results):
        if folder.is_dir():
            candidates.update(p.name for p in folder.iterdir() if p.is_dir() and p.name.startswith("Dataset"))
    if re.fullmatch(r"\d+", text):
        prefix = f"Dataset{int(text):03d}_"
        matches = sorted(c for c in candidates if c.startswith(prefix))
    elif re.fullmatch(r"Dataset\d{3}_.+", text):
        matches = [text] if text in candidates else []
    else:
        matches = sorted(c for c in candidates if c.split("_", 1)[-1] == text)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = ", ".join(sorted(candidates)) or "none"
        raise XTinyError(
            f"unknown dataset '{dataset}': no such folder in {dirs.raw}, {dirs.preprocessed} or {dirs.results}"
            f" (known: {known}).",
            fix="pass a dataset id or DatasetXXX_Name that exists, or set nnUNet_raw/nnUNet_preprocessed.",
        )
    raise XTinyError(f"dataset '{dataset}' is ambiguous: {', '.join(matches)}.", fix="pass the full DatasetXXX_Name.")


def dataset_id_of(dataset_name: str) -> int:
    """``"Dataset004_Foo"`` → 4."""
    return int(dataset_name[len("Dataset"):len("Dataset") + 3])
