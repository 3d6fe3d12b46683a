"""Model registry: lightweight baselines (UNeXt, CMUNeXt-S, TinyU-Net) next to nnU-Net's plan configurations.

One file per architecture; :func:`build_model` is the factory training backends call.
"""

from xtiny.models.registry import REGISTRY, baseline_names, build_model, display_name, get_spec, is_baseline

__all__ = ["REGISTRY", "baseline_names", "build_model", "display_name", "get_spec", "is_baseline"]
