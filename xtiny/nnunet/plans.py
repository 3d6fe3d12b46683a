"""Plans files and configurations: read once, resolved one way (nnU-Net's own ``PlansManager``).

nnU-Net's plans are the single source of truth. A configuration's ``inherits_from`` chain is resolved by
``PlansManager.get_configuration`` (public API); :func:`configuration_dict` returns the resolved dict.
"""

from __future__ import annotations

from pathlib import Path

from xtiny.atomic import read_json
from xtiny.errors import XTinyError
from xtiny.nnunet.names import dataset_id_of
from xtiny.nnunet.width_names import is_width_configuration
from xtiny.paths import nnunet_dirs

PLANS_IDENTIFIER = "nnUNetPlans"


def plans_path(dataset_name: str, plans_identifier: str = PLANS_IDENTIFIER) -> Path:
    """``$nnUNet_preprocessed/<dataset>/<plans_identifier>.json``."""
    return nnunet_dirs().preprocessed / dataset_name / f"{plans_identifier}.json"


def planning_command(dataset_name: str, configuration: str = "2d") -> str:
    """The nnU-Net command that plans and preprocesses ``configuration`` (for error messages)."""
    return f"nnUNetv2_plan_and_preprocess -d {dataset_id_of(dataset_name)} -c {configuration}"


def load_plans(dataset_name: str, configuration: str | None = None,
               plans_identifier: str = PLANS_IDENTIFIER) -> dict:
    """The plans dict of ``dataset_name``; with ``configuration``, also checks that the plans hold it.

    XTinyError telling how to plan when the plans file or the configuration is missing.
    """
    path = plans_path(dataset_name, plans_identifier)
    if not path.is_file():
        raise XTinyError(f"dataset {dataset_name} has no nnU-Net plans ({path} missing).",
                         fix=f"run `{planning_command(dataset_name, configuration or '2d')}` "
                             "(or `xtiny run`, which plans) first.")
    plans = read_json(path, "nnU-Net plans file")
    if configuration is not None:
        require_configuration(plans, configuration, path)
    return plans


def require_configuration(plans: dict, configuration: str, path: Path | str) -> None:
    """XTinyError naming the file and the available configurations when ``configuration`` is not in ``plans``."""
    configs = plans.get("configurations", {})
    if configuration in configs:
        return
    dataset_name = str(plans.get("dataset_name", Path(path).parent.name))
    if is_width_configuration(configuration):
        fix = f"run `xtiny search -d {dataset_name}` (it writes the xtiny configurations) or pick an existing one."
    else:
        fix = f"run `{planning_command(dataset_name, configuration)}` or pick an existing configuration."
    raise XTinyError(f"configuration '{configuration}' is not in the plans {path} "
                     f"(available: {', '.join(configs) or 'none'}).", fix=fix)


def plans_manager(plans: dict):
    """nnU-Net's ``PlansManager`` of a plans dict (configurations, label manager, intensity properties)."""
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    return PlansManager(plans)


def configuration_manager(plans: dict, configuration: str):
    """nnU-Net's ``ConfigurationManager`` for ``configuration`` (inheritance resolved by nnU-Net)."""
    return plans_manager(plans).get_configuration(configuration)


def configuration_dict(plans: dict, configuration: str) -> dict:
    """The plans entry of ``configuration`` with ``inherits_from`` resolved (a copy; nnU-Net's resolution)."""
    import copy

    return copy.deepcopy(configuration_manager(plans, configuration).configuration)


def preprocessed_data_folder(dataset_name: str, plans: dict, configuration: str) -> Path:
    """``$nnUNet_preprocessed/<dataset>/<data_identifier>`` of ``configuration`` (may not exist yet)."""
    identifier = configuration_manager(plans, configuration).data_identifier
    return nnunet_dirs().preprocessed / dataset_name / str(identifier)


def is_preprocessed(dataset_name: str, configuration: str, plans_identifier: str = PLANS_IDENTIFIER) -> bool:
    """True when the plans hold ``configuration`` and its data folder holds preprocessed cases."""
    path = plans_path(dataset_name, plans_identifier)
    if not path.is_file():
        return False
    plans = read_json(path, "nnU-Net plans file")
    if configuration not in plans.get("configurations", {}):
        return False
    folder = preprocessed_data_folder(dataset_name, plans, configuration)
    return folder.is_dir() and any(folder.iterdir())


def require_preprocessed(dataset_name: str, plans: dict, configuration: str) -> Path:
    """The configuration's preprocessed data folder; XTinyError with the planning command when it is empty."""
    folder = preprocessed_data_folder(dataset_name, plans, configuration)
    if not folder.is_dir() or not any(p.suffix in (".b2nd", ".npz", ".npy") for p in folder.iterdir()):
        raise XTinyError(
            f"dataset {dataset_name} is not preprocessed for '{configuration}' ({folder} is missing or empty).",
            fix=f"run `{planning_command(dataset_name, configuration)}`.")
    return folder


def read_preprocessed_dataset_json(dataset_name: str) -> dict:
    """The preprocessed ``dataset.json`` (nnU-Net copies it next to the plans)."""
    return read_json(nnunet_dirs().preprocessed / dataset_name / "dataset.json", "preprocessed dataset.json")


def preprocessed_at(dataset_name: str, plans: dict, configuration: str) -> float | None:
    """When the configuration's preprocessed data were last written (newest file mtime, seconds since the epoch);
    a training older than this was trained on other data. None when there are no data."""
    folder = preprocessed_data_folder(dataset_name, plans, configuration)
    times = [p.stat().st_mtime for p in folder.iterdir() if p.is_file()] if folder.is_dir() else []
    return max(times) if times else None
