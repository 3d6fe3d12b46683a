"""Converters from the published layouts of the paper's six datasets into nnU-Net raw format.

Each converter module provides ``NAME`` (dataset folder suffix), ``DEFAULT_ID`` and
``convert(src, stage) -> dict`` which writes cases into ``stage`` (an empty staging folder) and returns the
``dataset.json`` fields. :func:`convert` handles archives, staging, validation and installation.
"""

from __future__ import annotations

import importlib
import tempfile
from pathlib import Path

from xtiny.errors import XTinyError
from xtiny.registry import Registry

# converter name → its module (imported when used)
CONVERTERS: Registry[str] = Registry("converter", [
    (name, f"xtiny.datasets.converters.{name}") for name in ("busbra", "echonet", "isic2018", "fives", "brats2021",
                                                             "acdc")])


def convert(name: str, src: str | Path, *, raw_dir: str | Path, dataset_id: int | None = None) -> Path:
    """Convert the dataset at ``src`` (folder or .zip/.tar[.gz] archive) into ``raw_dir``; returns the folder."""
    from xtiny.datasets.converters._archive import safe_extract
    from xtiny.datasets.rawio import check_id_free, dataset_folder_name, staged_dataset, write_dataset_json

    module = importlib.import_module(CONVERTERS.get(name))
    src, raw_dir = Path(src), Path(raw_dir)
    if not src.exists():
        raise XTinyError(f"source {src} does not exist.", fix="pass the extracted dataset folder or its archive.")
    did = dataset_id or module.DEFAULT_ID
    folder = dataset_folder_name(did, module.NAME)
    check_id_free(raw_dir, did, folder)
    with tempfile.TemporaryDirectory(prefix="xtiny-convert-") as tmp:
        root = safe_extract(src, Path(tmp)) if src.is_file() else src
        with staged_dataset(raw_dir, folder) as stage:
            meta = module.convert(root, stage)
            write_dataset_json(stage, dataset_name=folder, converted_by=f"xtiny datasets convert {name}", **meta)
    return raw_dir / folder
