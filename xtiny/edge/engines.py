"""Inference engines for the edge bundle's ONNX files: onnxruntime (always there) and OpenVINO (optional extra
``xtiny[openvino]``), one ``run(batch) -> logits`` interface, and ``auto`` that keeps the faster one on this device.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from xtiny.errors import XTinyError

ENGINE_CHOICES = ("auto", "ort", "openvino")


class _Engine:
    """Shared dispatch: a batch smaller than the thread count runs as one call on all threads (latency); a larger
    batch is split into ``threads`` parts run at once, one thread each (tiny nets scale better across tiles than
    across the channels of one layer)."""

    name = "engine"

    def __init__(self, threads: int) -> None:
        self.threads = int(threads)
        self._pool: ThreadPoolExecutor | None = None

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Logits for a float32 batch ``(B, C, *patch)``."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if self.threads == 1 or len(batch) < self.threads:
            return self._run_whole(batch)
        return np.concatenate(self._run_split(np.array_split(batch, self.threads)))

    def _run_whole(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _run_split(self, parts: list[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError


class OrtEngine(_Engine):
    """onnxruntime on the CPU: one session with ``threads`` intra-op threads, and ``threads`` one-thread sessions
    for split batches (created when first needed)."""

    name = "ort"

    def __init__(self, model: str | Path, threads: int) -> None:
        super().__init__(threads)
        self.model = str(model)
        self.session = self._session(self.threads)
        self.input_name = self.session.get_inputs()[0].name
        self._singles: list = []

    def _session(self, threads: int):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        return onnxruntime.InferenceSession(self.model, options, providers=["CPUExecutionProvider"])

    def _run_whole(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: batch})[0]

    def _run_split(self, parts: list[np.ndarray]) -> list[np.ndarray]:
        if not self._singles:
            self._singles = [self._session(1) for _ in range(self.threads)]
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="xtiny-ort")
        futures = [self._pool.submit(s.run, None, {self.input_name: p}) for s, p in zip(self._singles, parts,
                                                                                        strict=False)]
        return [f.result()[0] for f in futures]


class OpenVinoEngine(_Engine):
    """OpenVINO on the CPU in fp32 (no bf16, even on CPUs that have it). Whole batches run on one stream of
    ``threads`` threads; split batches on ``threads`` one-thread streams. The ONNX graph has a dynamic batch and
    spatial size; each input shape is compiled once, static (the CPU plugin is faster so), and reused."""

    name = "openvino"

    def __init__(self, model: str | Path, threads: int) -> None:
        super().__init__(threads)
        ov = openvino_module()
        self.core = ov.Core()
        self.model = self.core.read_model(str(model))
        self._requests: dict[tuple, list] = {}

    def _requests_for(self, shape: tuple[int, ...], streams: int) -> list:
        key = (shape, streams)
        if key not in self._requests:
            model = self.model.clone()
            model.reshape({model.inputs[0].get_any_name(): list(shape)})
            config = {"INFERENCE_NUM_THREADS": self.threads, "NUM_STREAMS": streams, "INFERENCE_PRECISION_HINT": "f32",
                      "PERFORMANCE_HINT": "LATENCY" if streams == 1 else "THROUGHPUT"}
            compiled = self.core.compile_model(model, "CPU", config)
            self._requests[key] = [compiled.create_infer_request() for _ in range(streams)]
        return self._requests[key]

    def _run_whole(self, batch: np.ndarray) -> np.ndarray:
        request = self._requests_for(batch.shape, 1)[0]
        request.infer([batch])
        return np.array(request.get_output_tensor(0).data)

    def _run_split(self, parts: list[np.ndarray]) -> list[np.ndarray]:
        requests = []
        for index, part in enumerate(parts):
            request = self._requests_for(part.shape, self.threads)[index]
            request.start_async([part])
            requests.append(request)
        for request in requests:
            request.wait()
        return [np.array(r.get_output_tensor(0).data) for r in requests]


def openvino_module():
    """``openvino`` if it is installed, else None."""
    try:
        import openvino
    except ImportError:
        return None
    return openvino


def physical_cores() -> int:
    """Physical CPU cores this process may use (hyper-threads not counted; ``os.cpu_count()`` as fallback)."""
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return max(1, allowed)
    cores, physical = set(), "0"
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "physical id":
            physical = value.strip()
        elif key == "core id":
            cores.add((physical, value.strip()))
    if not cores:
        return max(1, allowed)
    logical = text.count("processor\t:") or allowed
    per_core = max(1, logical // len(cores))
    return max(1, min(len(cores), allowed // per_core or 1))


def check_engine_options(engine: str, threads: int | None) -> None:
    """XTinyError for an unknown engine, ``openvino`` asked for but not installed, or a thread count below 1."""
    if engine not in ENGINE_CHOICES:
        raise XTinyError(f"unknown engine '{engine}'.", fix=f"use one of {', '.join(ENGINE_CHOICES)}.")
    if engine == "openvino" and openvino_module() is None:
        raise XTinyError("engine 'openvino' asked for, but OpenVINO is not installed.",
                         fix="pip install 'xtiny[openvino]', or use --engine ort (or auto).")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise XTinyError(f"--threads must be a whole number >= 1, got {threads}.",
                         fix=f"omit it to use the {physical_cores()} physical core(s) of this machine.")


def median_ms(run: Callable[[np.ndarray], np.ndarray], example: np.ndarray, *, repeats: int, warmup: int = 1) -> float:
    """Median wall time (ms) of ``run(example)`` after ``warmup`` calls."""
    for _ in range(warmup):
        run(example)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(example)
        times.append((time.perf_counter() - start) * 1000.0)
    return float(np.median(times))


def open_engine(engine: str, model: str | Path, threads: int):
    """An engine object (``ort`` or ``openvino``) for one ONNX file."""
    check_engine_options(engine, threads)
    if engine == "openvino":
        return OpenVinoEngine(model, threads)
    return OrtEngine(model, threads)


def pick_engine(engine: str, model: str | Path, threads: int, example: np.ndarray, *,
                repeats: int = 5) -> tuple[object, dict]:
    """The engine to use and a record of how it was chosen.

    ``auto`` times every installed engine on ``example`` (the first batch of tiles; ``repeats`` runs after one
    warm-up) and keeps the fastest. Without OpenVINO, ``auto`` is onnxruntime with a one-line notice; if OpenVINO
    cannot read or compile the model, likewise."""
    check_engine_options(engine, threads)
    if engine != "auto":
        return open_engine(engine, model, threads), {"engine": engine, "requested": engine}
    record: dict = {"requested": "auto", "timed_ms": {}}
    candidates = [OrtEngine(model, threads)]
    if openvino_module() is None:
        record["notice"] = "OpenVINO not installed (pip install 'xtiny[openvino]'): using onnxruntime"
    else:
        try:
            candidates.append(OpenVinoEngine(model, threads))
            candidates[-1].run(example)
        except Exception as exc:  # OpenVINO may not read or compile a graph onnxruntime runs
            candidates.pop()
            record["notice"] = f"OpenVINO could not run {Path(model).name} ({type(exc).__name__}): using onnxruntime"
    for candidate in candidates:
        record["timed_ms"][candidate.name] = round(median_ms(candidate.run, example, repeats=repeats), 3)
    best = min(candidates, key=lambda c: record["timed_ms"][c.name])
    record["engine"] = best.name
    return best, record
