"""Synthetic nnU-Net datasets, one module per kind, each imitating one of the paper's datasets.

Determinism: case ``i`` is drawn from ``SeedSequence(seed).spawn(num_cases)[i]``, so results do not depend on
the number of worker processes. Overwriting: :func:`generate_dataset` skips the work when the destination
already holds a dataset generated with the same (kind, seed, num_cases, size, generator version) and
regenerates it cleanly otherwise (staged, validated, swapped; stale preprocessed data removed).
"""

from __future__ import annotations

import importlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from xtiny.errors import XTinyError
from xtiny.registry import Registry

GENERATOR_VERSION = 1
# synthetic kind → its module (imported when used)
KINDS: Registry[str] = Registry("synthetic kind", [
    (kind, f"xtiny.datasets.synth.{kind}") for kind in ("bus", "derm", "fundus", "echo", "cardiac", "brain3d")])


def kind_module(kind: str) -> ModuleType:
    """The module implementing ``kind`` (``SPEC`` + ``generate_case``)."""
    return importlib.import_module(KINDS.get(kind))


def generate_case(kind: str, seed: int, index: int, num_cases: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Case ``index`` of a dataset of ``num_cases`` (deterministic for ``seed``)."""
    child = np.random.SeedSequence(seed).spawn(num_cases)[index]
    return kind_module(kind).generate_case(np.random.default_rng(child), size)


def _write_chunk(kind: str, seed: int, indices: list[int], num_cases: int, size: int, folder: str) -> None:
    from xtiny.datasets.rawio import write_case

    spec = kind_module(kind).SPEC
    for i in indices:
        image, label = generate_case(kind, seed, i, num_cases, size)
        channels = list(image) if spec.is_3d else image
        write_case(Path(folder), case_id(kind, i), channels, label, spec.file_ending, spec.spacing)


def case_id(kind: str, index: int) -> str:
    return f"synth{kind}_{index:04d}"


def _signature(kind: str, seed: int, num_cases: int, size: int) -> dict[str, Any]:
    return {"generator": "xtiny.datasets.synth", "version": GENERATOR_VERSION, "kind": kind, "seed": int(seed),
            "num_cases": int(num_cases), "size": int(size)}


def _already_there(folder: Path, signature: dict[str, Any]) -> bool:
    try:
        meta = json.loads((folder / "dataset.json").read_text())
    except (OSError, ValueError):
        return False
    if meta.get("xtiny") != signature:
        return False
    labels = list((folder / "labelsTr").glob("*"))
    return len(labels) == signature["num_cases"]


def generate_dataset(kind: str, *, dataset_id: int, num_cases: int, seed: int, size: int, raw_dir: str | os.PathLike,
                     workers: int | None = None, preview: bool = False) -> Path:
    """Write the synthetic nnU-Net raw dataset ``raw_dir/Dataset{id:03d}_Synth{Kind}`` and return its folder.

    ``size`` is the in-plane size (2D kinds: size x size; brain3d: size^3 capped to keep volumes small).
    ``workers`` (default: 2 when ``num_cases >= 40``, else 1) processes write cases in parallel.
    ``preview`` also writes ``preview.png`` (contact sheet) into the dataset folder.
    """
    from xtiny.datasets.rawio import check_id_free, dataset_folder_name, staged_dataset, write_dataset_json

    module = kind_module(kind)
    spec = module.SPEC
    if num_cases < 1:
        raise XTinyError(f"num_cases must be >= 1 (got {num_cases}).", fix="pass --cases 1 or more.")
    if size < 16:
        raise XTinyError(f"size {size} is too small.", fix="pass --size 16 or more (64 for tests, 256 for runs).")
    raw_dir = Path(raw_dir)
    name = dataset_folder_name(dataset_id, f"Synth{spec.name}")
    check_id_free(raw_dir, dataset_id, name)
    signature = _signature(kind, seed, num_cases, size)
    target = raw_dir / name
    if _already_there(target, signature):
        if preview and not (target / "preview.png").is_file():
            from xtiny.datasets.preview import contact_sheet

            contact_sheet(target, target / "preview.png")
        return target
    workers = workers if workers is not None else (2 if num_cases >= 40 else 1)
    with staged_dataset(raw_dir, name) as stage:
        chunks = [list(range(num_cases))[w::workers] for w in range(workers)]
        if workers > 1:
            with ProcessPoolExecutor(workers) as pool:
                futures = [pool.submit(_write_chunk, kind, seed, c, num_cases, size, str(stage)) for c in chunks]
                for future in futures:
                    future.result()
        else:
            _write_chunk(kind, seed, chunks[0], num_cases, size, str(stage))
        write_dataset_json(
            stage, channel_names=spec.channel_names, labels=spec.labels, num_training=num_cases,
            file_ending=spec.file_ending, regions_class_order=spec.regions_class_order, dataset_name=name,
            description=f"XTiny synthetic '{kind}' dataset imitating {spec.mimics}; seed {seed}, {size} px.",
            license="CC0 (synthetic)", converted_by="xtiny datasets synth", xtiny=signature,
        )
        if preview:
            from xtiny.datasets.preview import contact_sheet

            contact_sheet(stage, stage / "preview.png")
    return target
