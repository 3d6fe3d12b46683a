"""Networks built from plans exactly as nnU-Net's trainer builds them (``get_network_from_plans``)."""

from __future__ import annotations

from typing import Any

from xtiny.nnunet.plans import (
    configuration_manager,
    load_plans,
    plans_manager,
    plans_path,
    read_preprocessed_dataset_json,
    require_configuration,
)


def network_io(plans: dict, dataset_description: dict, configuration: str) -> tuple[Any, Any, int, int]:
    """``(plans_manager, configuration_manager, input_channels, output_heads)`` as nnU-Net's trainer computes them."""
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels

    manager = plans_manager(plans)
    config = configuration_manager(plans, configuration)
    channels = determine_num_input_channels(manager, config, dataset_description)
    heads = manager.get_label_manager(dataset_description).num_segmentation_heads
    return manager, config, channels, heads


def build_network_from_plans(plans: dict, dataset_description: dict, configuration: str, *,
                             deep_supervision: bool = False, seed: int | None = None, initialize: bool = True):
    """The torch module nnU-Net builds for ``configuration`` of ``plans`` (He init when ``initialize``; ``seed``
    fixes the RNG). Same path as ``nnUNetTrainer.build_network_architecture``: plans → ConfigurationManager →
    ``get_network_from_plans``; inputs from dataset.json, outputs from the label manager."""
    import torch
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

    _, config, channels, heads = network_io(plans, dataset_description, configuration)
    if seed is not None:
        torch.manual_seed(int(seed))
    return get_network_from_plans(config.network_arch_class_name, config.network_arch_init_kwargs,
                                  config.network_arch_init_kwargs_req_import, channels, heads,
                                  allow_init=initialize, deep_supervision=deep_supervision)


def planned_network_io(dataset_name: str, configuration: str) -> tuple[Any, Any, int, int]:
    """:func:`network_io` for a configuration of the dataset's preprocessed plans (XTinyError when absent)."""
    plans = load_plans(dataset_name)
    require_configuration(plans, configuration, plans_path(dataset_name))
    return network_io(plans, read_preprocessed_dataset_json(dataset_name), configuration)


def build_planned_network(dataset_name: str, configuration: str, *, deep_supervision: bool = False,
                          seed: int | None = None):
    """:func:`build_network_from_plans` for a configuration of the dataset's preprocessed plans."""
    plans = load_plans(dataset_name)
    require_configuration(plans, configuration, plans_path(dataset_name))
    return build_network_from_plans(plans, read_preprocessed_dataset_json(dataset_name), configuration,
                                    deep_supervision=deep_supervision, seed=seed)
