"""ONNX fp32 and TorchScript export of an nnU-Net network, checked against torch on real inputs."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from xtiny.errors import XTinyError

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


def onnx_max_abs_diff(net, onnx_path: str | Path, inputs: list[np.ndarray]) -> float:
    """Largest |torch - onnxruntime| logit difference over ``inputs``."""
    import onnxruntime
    import torch

    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    worst = 0.0
    with torch.no_grad():
        for x in inputs:
            ref = net(torch.from_numpy(x)).numpy()
            got = session.run(None, {INPUT_NAME: x})[0]
            if ref.shape != got.shape:
                raise XTinyError(f"ONNX output shape {got.shape} differs from torch {ref.shape}.")
            worst = max(worst, float(np.abs(ref - got).max()))
    return worst


def export_torchscript(net, path: str | Path, example: np.ndarray) -> Path:
    """``torch.jit.trace`` of the network, saved to ``path``, reloaded and compared once."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x = torch.from_numpy(example)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(net, (x,), check_trace=False)
        traced.save(str(path))
        again = torch.jit.load(str(path))
        diff = float((again(x) - net(x)).abs().max())
    if diff > 1e-4:
        raise XTinyError(f"TorchScript export {path} differs from the network (max |diff| {diff:.2e}).")
    return path
