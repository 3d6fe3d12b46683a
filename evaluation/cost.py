"""Cost of any torch model: parameters, MACs/FLOPs, peak memory, CPU latency (torch and onnxruntime), file sizes.

Definitions (also written into every result under ``"definitions"``):
- ``params``: number of trainable and non-trainable parameters (buffers such as BN statistics excluded).
- ``macs``: multiply-accumulates of Conv/ConvTranspose/Linear/matmul ops for one forward pass of one patch,
  counted by ``torch.utils.flop_counter.FlopCounterMode`` (which counts 2 FLOPs per MAC);
  ``flops = 2 * macs``. Element-wise ops (norms, activations, additions, pooling) are not counted —
  the same convention as the ptflops/thop numbers most papers print ("GFLOPs" there are often MACs).
- ``peak_mem_mb``: growth of the process's peak resident set size caused by one no-grad forward pass,
  measured in a fresh subprocess after the model is loaded: the high-water mark is reset through
  ``/proc/self/clear_refs`` and ``VmHWM - VmRSS(before)`` is reported (fallback ``ru_maxrss`` delta) (so it is the
  activation/workspace memory of inference, not the interpreter or weights). ``tracemalloc`` cannot see
  torch's allocator, hence the subprocess. Linux only; ``None`` elsewhere.
- ``latency_ms``: median wall time of a batch-1 forward pass after warm-up, torch eager and onnxruntime
  (CPUExecutionProvider), with 1 intra-op thread and with all cores.
- ``size_fp32_bytes`` / ``size_int8_bytes``: ONNX file size as exported (:func:`xtiny.export.onnx_export.export_onnx`),
  and of the INT8 model XTiny ships (:func:`xtiny.export.quantize.quantize_int8`: static QDQ, per-channel weights,
  segmentation head in fp32), calibrated here on the random example patch (the size does not depend on it).
"""

from __future__ import annotations

import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from xtiny.meta_pass import count_parameters

DEFINITIONS = {
    "params": "parameter count (buffers excluded)",
    "macs": "multiply-accumulates of conv/linear/matmul for one patch (torch FlopCounterMode / 2)",
    "flops": "2 * macs",
    "peak_mem_mb": "peak RSS growth (MiB) of one no-grad forward in a fresh subprocess (VmHWM reset)",
    "latency_ms": "median batch-1 forward time on CPU after warm-up; torch eager and onnxruntime, 1 and all threads",
    "size_fp32_bytes": "ONNX file size (fp32)",
    "size_int8_bytes": "ONNX file size of the shipped INT8 model (static QDQ, per-channel, head in fp32)",
}


def _example(model: nn.Module, in_channels: int | None, patch_size: Sequence[int], device: str = "cpu"
             ) -> torch.Tensor:
    if in_channels is None:
        first = next(m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Conv3d | nn.Linear))
        in_channels = first.in_channels if not isinstance(first, nn.Linear) else first.in_features
    return torch.randn(1, int(in_channels), *[int(s) for s in patch_size], device=device)


def macs_and_flops(model: nn.Module, patch_size: Sequence[int], in_channels: int | None = None) -> dict[str, int]:
    """MACs and FLOPs (= 2 MACs) of one forward pass on a ``(1, C, *patch_size)`` input (shape-only pass)."""
    from xtiny.meta_pass import meta_profile

    macs = meta_profile(model, tuple(_example(model, in_channels, patch_size, device="meta").shape[1:]))["macs"]
    return {"macs": macs, "flops": 2 * macs}


_MEM_SCRIPT = r"""
import pickle, resource, sys, torch
torch.set_num_threads(1)
model = torch.load(sys.argv[1], weights_only=False).eval()
x = torch.randn(*pickle.loads(bytes.fromhex(sys.argv[2])))

def status_kb(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])

try:  # reset the peak-RSS high-water mark (Linux >= 4.0) so imports/loading do not mask the forward pass
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    before, key = status_kb("VmRSS"), "VmHWM"
except OSError:
    before, key = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, None
with torch.no_grad():
    model(x)
after = status_kb(key) if key else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(max(0, after - before) / 1024.0)
"""


def peak_memory_mb(model: nn.Module, patch_size: Sequence[int], in_channels: int | None = None) -> float | None:
    """Peak RSS growth (MiB) of one no-grad forward in a fresh subprocess (see module docstring)."""
    if not sys.platform.startswith("linux"):
        return None
    x = _example(model, in_channels, patch_size)
    with tempfile.TemporaryDirectory(prefix="xtiny-mem-") as tmp:
        path = Path(tmp) / "model.pt"
        torch.save(model, path)
        env = dict(os.environ, OMP_NUM_THREADS="1")
        proc = subprocess.run([sys.executable, "-c", _MEM_SCRIPT, str(path), pickle.dumps(tuple(x.shape)).hex()],
                              capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"memory probe failed: {proc.stderr[-2000:]}")
    return float(proc.stdout.strip().splitlines()[-1])


def _median_ms(fn, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return float(statistics.median(times))


def torch_latency_ms(model: nn.Module, x: torch.Tensor, threads: int, repeats: int = 10, warmup: int = 2) -> float:
    """Median eager-mode CPU latency with ``threads`` intra-op threads."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model.eval()
        with torch.no_grad():
            return _median_ms(lambda: model(x), repeats, warmup)
    finally:
        torch.set_num_threads(previous)


def ort_latency_ms(onnx_path: str | os.PathLike, x: torch.Tensor, threads: int, repeats: int = 10,
                   warmup: int = 2) -> float:
    """Median onnxruntime CPU latency with ``threads`` intra-op threads (0 = all cores)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x.numpy()}
    return _median_ms(lambda: sess.run(None, feed), repeats, warmup)


def measure_cost(model: nn.Module, patch_size: Sequence[int], in_channels: int | None = None, *,
                 repeats: int = 10, warmup: int = 2, latency: bool = True, memory: bool = True,
                 onnx: bool = True) -> dict:
    """All cost measures of ``model`` for one ``(1, C, *patch_size)`` patch (see module docstring)."""
    model = model.cpu().eval()
    x = _example(model, in_channels, patch_size)
    all_threads = os.cpu_count() or 1
    result: dict = {"patch_size": [int(s) for s in patch_size], "in_channels": int(x.shape[1]),
                    "params": count_parameters(model), **macs_and_flops(model, patch_size, int(x.shape[1])),
                    "definitions": DEFINITIONS, "threads_all": all_threads}
    result["peak_mem_mb"] = peak_memory_mb(model, patch_size, int(x.shape[1])) if memory else None
    if latency:
        result["latency_ms"] = {"torch_1t": torch_latency_ms(model, x, 1, repeats, warmup),
                                "torch_all": torch_latency_ms(model, x, all_threads, repeats, warmup)}
    if onnx:
        with tempfile.TemporaryDirectory(prefix="xtiny-onnx-") as tmp:
            from xtiny.export.onnx_export import export_onnx
            from xtiny.export.quantize import quantize_int8

            example = x.numpy()
            fp32 = export_onnx(model, Path(tmp) / "model.onnx", example)
            int8 = quantize_int8(fp32, Path(tmp) / "model.int8.onnx", [example])
            result["size_fp32_bytes"] = fp32.stat().st_size
            result["size_int8_bytes"] = int8.stat().st_size
            if latency:
                result.setdefault("latency_ms", {})
                result["latency_ms"]["ort_1t"] = ort_latency_ms(fp32, x, 1, repeats, warmup)
                result["latency_ms"]["ort_all"] = ort_latency_ms(fp32, x, all_threads, repeats, warmup)
    return result
