"""Fidelity and cost of exported models: Dice on validation cases, file size, single-thread latency."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from xtiny.edge.sliding import sliding_window_logits
from xtiny.export.fidelity import MAX_DICE_DROP
from xtiny.export.onnx_export import INPUT_NAME


def dice(a: np.ndarray, b: np.ndarray, labels: list[int], valid: np.ndarray | None = None) -> float:
    """Mean Dice over ``labels`` (a label absent from both counts as 1)."""
    scores = []
    for label in labels:
        x, y = a == label, b == label
        if valid is not None:
            x, y = x & valid, y & valid
        denom = x.sum() + y.sum()
        scores.append(1.0 if denom == 0 else 2.0 * float((x & y).sum()) / float(denom))
    return float(np.mean(scores)) if scores else 1.0


def session(path: str | Path, threads: int | None = None):
    """A CPU onnxruntime session (``threads`` intra-op threads, sequential execution)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def segment_preprocessed(sess, data: np.ndarray, patch: list[int], num_classes: int,
                         mirror_axes: list[int] | None = None) -> np.ndarray:
    """Argmax labels for preprocessed data ``(C, d0, d1, d2)`` (2D configs slice by slice), mirroring if axes given."""
    def run(x):
        return sess.run(None, {INPUT_NAME: np.ascontiguousarray(x, dtype=np.float32)})[0]

    if len(patch) == data.ndim - 1:
        return np.argmax(sliding_window_logits(run, data, patch, num_classes, mirror_axes=mirror_axes), axis=0)
    return np.stack([np.argmax(sliding_window_logits(run, data[:, d], patch, num_classes, mirror_axes=mirror_axes),
                               axis=0) for d in range(data.shape[1])])


def onnx_validation_dice(models: dict[str, Path], cases: list, patch: list[int], num_classes: int,
                         mirror_axes: list[int] | None = None) -> dict:
    """Per model: mean Dice vs the ground truth on ``cases``; per non-fp32 model also agreement with fp32. With
    ``mirror_axes``, fp32 also with mirroring: ``dice_fp32_mirroring`` and ``mirroring_dice_gain`` (with - without)."""
    labels = list(range(1, num_classes))
    preds: dict[str, list[np.ndarray]] = {}
    out: dict[str, float] = {}

    def mean_dice(predictions: list[np.ndarray]) -> float:
        return float(np.mean([dice(p, case.seg[0], labels, case.seg[0] >= 0)
                              for p, case in zip(predictions, cases, strict=True)]))

    for name, path in models.items():
        sess = session(path)
        preds[name] = [segment_preprocessed(sess, case.data, patch, num_classes) for case in cases]
        out[f"dice_{name}"] = mean_dice(preds[name])
        if name == "fp32" and mirror_axes:
            out["dice_fp32_mirroring"] = mean_dice([segment_preprocessed(sess, case.data, patch, num_classes,
                                                                         mirror_axes) for case in cases])
            out["mirroring_dice_gain"] = out["dice_fp32_mirroring"] - out["dice_fp32"]
    for name in models:
        if name != "fp32" and "fp32" in preds:
            out[f"agreement_{name}_vs_fp32"] = float(np.mean([
                dice(p, q, labels) for p, q in zip(preds[name], preds["fp32"], strict=True)]))
    return out


def latency_ms(path: str | Path, example: np.ndarray, *, threads: int = 1, repeats: int = 20, warmup: int = 3) -> float:
    """Median wall time (ms) of one forward pass on ``example`` with ``threads`` CPU threads."""
    sess = session(path, threads)
    feed = {INPUT_NAME: np.ascontiguousarray(example, dtype=np.float32)}
    for _ in range(warmup):
        sess.run(None, feed)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - start) * 1000.0)
    return float(np.median(times))


def recommend(metrics: dict, models: dict[str, str], max_dice_drop: float = MAX_DICE_DROP) -> str:
    """The fastest model whose validation Dice is within ``max_dice_drop`` of fp32 (INT8's Dice check)."""
    base = metrics.get("dice_fp32")
    best, best_ms = "fp32", metrics.get("latency_ms_fp32", float("inf"))
    for name in models:
        ms = metrics.get(f"latency_ms_{name}")
        ok = base is None or metrics.get(f"dice_{name}", -1.0) >= base - max_dice_drop
        if ms is not None and ok and ms < best_ms:
            best, best_ms = name, ms
    return best
