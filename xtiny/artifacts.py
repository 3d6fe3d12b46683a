"""Where XTiny keeps its own outputs: next to nnU-Net's, under ``$nnUNet_results/<Dataset>/xtiny/``."""

from __future__ import annotations

from pathlib import Path

from xtiny.paths import nnunet_dirs


def xtiny_dir(dataset_name: str) -> Path:
    """``$nnUNet_results/<Dataset>/xtiny`` (created)."""
    path = nnunet_dirs().results / dataset_name / "xtiny"
    path.mkdir(parents=True, exist_ok=True)
    return path


def search_json_path(dataset_name: str, base_configuration: str = "2d") -> Path:
    """The width search's result for one base configuration: ``xtiny/search_<base>.json`` (+ ``.png``)."""
    return xtiny_dir(dataset_name) / f"search_{base_configuration}.json"


def confirm_json_path(dataset_name: str, base_configuration: str = "2d") -> Path:
    """The confirmed pick (``xtiny confirm``) next to the search it confirms: ``xtiny/confirm_<base>.json`` (+ .png)."""
    return xtiny_dir(dataset_name) / f"confirm_{base_configuration}.json"


def sweep_json_path(dataset_name: str, base_configuration: str = "2d") -> Path:
    return xtiny_dir(dataset_name) / f"sweep_{base_configuration}.json"


def evaluation_dir(dataset_name: str) -> Path:
    path = xtiny_dir(dataset_name) / "evaluation"
    path.mkdir(parents=True, exist_ok=True)
    return path


def export_dir(dataset_name: str, configuration: str, fold: int | str) -> Path:
    return xtiny_dir(dataset_name) / "export" / f"{configuration}_fold{fold}"


def report_path(dataset_name: str) -> Path:
    return xtiny_dir(dataset_name) / "report.html"
