"""Versions of the software stack, recorded in search.json, edge bundles, reports and benchmark results."""

from __future__ import annotations

import platform

STACK = ("xtiny", "nnunetv2", "dynamic_network_architectures", "torch", "monai", "onnx", "onnxruntime", "openvino",
         "numpy")


def stack_versions() -> dict[str, str]:
    """``{"python": ..., "<distribution>": version or "not installed"}`` for :data:`STACK`."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in STACK:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out
