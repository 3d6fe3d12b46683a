"""ONNX fp32 and TorchScript export of an nnU-Net network, and the logits of each (checked by
:mod:`xtiny.export.fidelity`)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

OPSET = 17
INPUT_NAME, OUTPUT_NAME = "input", "logits"


def stride_product(plans: dict, configuration: str) -> list[int]:
    """Per-axis product of the encoder strides: spatial sizes fed to the network must be multiples of it."""
    from xtiny.nnunet.plans import configuration_manager

    kwargs = configuration_manager(plans, configuration).network_arch_init_kwargs
    strides = kwargs["strides"]
    dims = len(strides[0]) if isinstance(strides[0], (list, tuple)) else 1
    prod = [1] * dims
    for s in strides:
        s = list(s) if isinstance(s, (list, tuple)) else [s] * dims
        prod = [a * b for a, b in zip(prod, s, strict=False)]
    return prod


def export_onnx(net, path: str | Path, example: np.ndarray) -> Path:
    """One self-contained ONNX file, opset 17, batch and spatial axes dynamic; validated by onnx.checker."""
    import onnx
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    spatial = {i: f"dim{i - 2}" for i in range(2, example.ndim)}
    axes = {0: "batch", **spatial}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.from_numpy(example),), str(path), dynamo=False, opset_version=OPSET,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes}, do_constant_folding=True)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    return path


def torch_logits(net, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The network's (or a loaded TorchScript module's) logits for each of ``inputs``."""
    import torch

    with torch.no_grad():
        return [net(torch.from_numpy(x)).numpy() for x in inputs]


def onnx_logits(onnx_path: str | Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """onnxruntime's (CPU) logits of the model file for each of ``inputs``."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return [session.run(None, {INPUT_NAME: x})[0] for x in inputs]


def export_torchscript(net, path: str | Path, example: np.ndarray) -> Path:
    """``torch.jit.trace`` of the network, saved to ``path`` (checked by the caller, reloaded from the file)."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.jit.trace(net, (torch.from_numpy(example),), check_trace=False).save(str(path))
    return path


def load_torchscript(path: str | Path):
    """The saved TorchScript module, on the CPU."""
    import torch

    return torch.jit.load(str(path), map_location="cpu")
