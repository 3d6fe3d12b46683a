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
        self.setup_seconds = 0.0  # making sessions / compiling, so callers can tell it from inference

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Logits for a float32 batch ``(B, C, *patch)``."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if self.threads == 1 or len(batch) < self.threads:
            return self._run_whole(batch)
        return np.concatenate(self._run_split(np.array_split(batch, self.threads)))

    def prepare(self, shape: tuple[int, ...]) -> None:
        """Make sessions / compile for batches of ``shape`` now (run() would on first use)."""
        self.run(np.zeros(shape, np.float32))

    def _run_whole(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _run_split(self, parts: list[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError


class OrtEngine(_Engine):
    """onnxruntime on the CPU: ``threads`` one-thread sessions for split batches, and one session with ``threads``
    intra-op threads for batches smaller than that (each made when first needed)."""

    name = "ort"

    def __init__(self, model: str | Path, threads: int) -> None:
        super().__init__(threads)
        started = time.perf_counter()
        self.model = str(model)
        self._whole = None  # made on first use: a job of full batches never needs it
        self._singles: list = []
        self.input_name = self._session(1, keep=True).get_inputs()[0].name
        self.setup_seconds += time.perf_counter() - started

    def _session(self, threads: int, *, keep: bool = False):
        """A session with ``threads`` intra-op threads; ``keep`` files it as the whole-batch session (when this
        engine has one thread) or as a one-thread session of split batches."""
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(self.model, options, providers=["CPUExecutionProvider"])
        if keep and self.threads == 1:
            self._whole = session
        elif keep:
            self._singles.append(session)
        return session

    def _run_whole(self, batch: np.ndarray) -> np.ndarray:
        if self._whole is None:
            started = time.perf_counter()
            self._whole = self._session(self.threads)
            self.setup_seconds += time.perf_counter() - started
        return self._whole.run(None, {self.input_name: batch})[0]

    def _run_split(self, parts: list[np.ndarray]) -> list[np.ndarray]:
        if self._pool is None:
            started = time.perf_counter()
            self._singles += [self._session(1) for _ in range(self.threads - len(self._singles))]
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="xtiny-ort")
            self.setup_seconds += time.perf_counter() - started
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
        started = time.perf_counter()
        ov = openvino_module()
        self.core = ov.Core()
        self.path = Path(model)
        try:
            self.model = self.core.read_model(str(model))
        except Exception as exc:  # e.g. a QOperator INT8 graph OpenVINO's ONNX reader does not convert
            raise self._unusable(exc) from exc
        self._requests: dict[tuple, list] = {}
        self.setup_seconds += time.perf_counter() - started

    def _requests_for(self, shape: tuple[int, ...], streams: int) -> list:
        key = (shape, streams)
        if key not in self._requests:
            started = time.perf_counter()
            model = self.model.clone()
            model.reshape({model.inputs[0].get_any_name(): list(shape)})
            config = {"INFERENCE_NUM_THREADS": self.threads, "NUM_STREAMS": streams, "INFERENCE_PRECISION_HINT": "f32",
                      "PERFORMANCE_HINT": "LATENCY" if streams == 1 else "THROUGHPUT"}
            try:
                compiled = self.core.compile_model(model, "CPU", config)
            except Exception as exc:
                raise self._unusable(exc) from exc
            self._requests[key] = [compiled.create_infer_request() for _ in range(streams)]
            self.setup_seconds += time.perf_counter() - started
        return self._requests[key]

    def _unusable(self, exc: Exception) -> XTinyError:
        return XTinyError(f"OpenVINO cannot run {self.path} ({describe_failure(exc)}).",
                          fix="use --engine ort or auto, or another --model (OpenVINO reads fp32 and QDQ int8).")

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


def openvino_installed() -> bool:
    """Whether ``openvino`` can be found (without importing it, which takes a while)."""
    import importlib.util

    try:
        return importlib.util.find_spec("openvino") is not None
    except (ImportError, ValueError):
        return False


def openvino_module():
    """``openvino`` if it is installed, else None."""
    try:
        import openvino
    except ImportError:
        return None
    return openvino


def describe_failure(exc: Exception) -> str:
    """One short line for an engine's failure: the ONNX operators OpenVINO could not convert when it says so
    (e.g. ``QLinearConv`` of a QOperator INT8 model), else the exception's first line."""
    import re

    text = str(exc)
    ops = list(dict.fromkeys(op.split("-")[0] for op in re.findall(r"^-- (\S+) with a message", text, re.M)))
    if ops:
        return f"{type(exc).__name__}: OpenVINO could not convert ONNX operator(s) {', '.join(ops)}"
    first = next((line for line in text.splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first[:120]}"


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


class AutoEngine:
    """``--engine auto``: onnxruntime starts at once while OpenVINO is imported and compiled in the background (for
    ``expected``, the first batch's shape); every result is used, none is computed twice. Once OpenVINO is ready,
    batches of the first batch's shape alternate between the engines: after one warm-up batch each, ``timed``
    batches each are timed (none while a compile runs beside them) and the engine with the lower median keeps the
    rest of the job. Without OpenVINO, or when OpenVINO cannot read, compile or run the model, onnxruntime with a
    one-line notice."""

    name = "auto"

    def __init__(self, model: str | Path, threads: int, *, timed: int = 2,
                 expected: tuple[int, ...] | None = None) -> None:
        self.threads, self.timed, self.model = int(threads), timed, Path(model)
        self.record: dict = {"requested": "auto"}
        self.candidates: list[_Engine] = [OrtEngine(model, threads)]
        self._setup = self.candidates[0].setup_seconds  # foreground only: background compiling costs no wall time
        self._pending = None
        if not openvino_installed():
            self.record["notice"] = "OpenVINO not installed (pip install 'xtiny[openvino]'): using onnxruntime"
        else:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="xtiny-openvino")
            self._pending = self._pool.submit(self._openvino, expected)
        self.warm: set[str] = set()
        self.runs: dict[str, int] = {}
        self.times: dict[str, list[float]] = {}
        self.shape: tuple[int, ...] | None = None
        self.chosen: _Engine | None = None

    def _openvino(self, expected: tuple[int, ...] | None) -> OpenVinoEngine:
        if openvino_module() is None:
            raise ImportError("openvino could not be imported")
        engine = OpenVinoEngine(self.model, self.threads)
        if expected:
            engine.prepare(expected)
        return engine

    def _notice(self, exc: Exception) -> None:
        self.record["notice"] = f"OpenVINO could not run {self.model.name} ({describe_failure(exc)}): using onnxruntime"

    def wait_ready(self) -> None:
        """Block until the background OpenVINO compile has finished (or failed)."""
        if self._pending is not None:
            self._pending.exception()
        self._collect()

    def _collect(self) -> None:
        if self._pending is not None and self._pending.done():
            try:
                self.candidates.append(self._pending.result())
            except Exception as exc:  # OpenVINO may not read or compile a graph onnxruntime runs
                self._notice(exc)
            self._pending = None

    def _choose(self, engine: _Engine) -> None:
        self.chosen = engine
        self.record["engine"] = engine.name

    @property
    def setup_seconds(self) -> float:
        """Seconds spent making sessions and compiling on the caller's thread (not inference)."""
        return self._setup

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Logits for a float32 batch ``(B, C, *patch)`` from the engine whose turn it is, or the chosen one."""
        if self.chosen is not None:
            return self._timed_run(self.chosen, batch)[0]
        self._collect()
        if self._pending is None and len(self.candidates) == 1:
            self._choose(self.candidates[0])
            return self._timed_run(self.chosen, batch)[0]
        self.shape = self.shape or tuple(batch.shape)
        if self._pending is not None or tuple(batch.shape) != self.shape:
            # OpenVINO still compiling (it would slow onnxruntime's timing), or a batch of another shape (e.g. the
            # last, smaller one): run on onnxruntime, untimed
            self.warm.add(self.candidates[0].name)
            return self._timed_run(self.candidates[0], batch)[0]
        cold = [c for c in self.candidates if c.name not in self.warm]
        candidate = cold[0] if cold else min(self.candidates, key=lambda c: len(self.times.get(c.name, [])))
        try:
            out, seconds = self._timed_run(candidate, batch)
        except Exception as exc:  # an OpenVINO run failure: drop it, onnxruntime goes on
            if candidate is self.candidates[0]:
                raise
            self._notice(exc)
            self._choose(self.candidates[0])
            return self._timed_run(self.chosen, batch)[0]
        if candidate.name in self.warm:
            self.times.setdefault(candidate.name, []).append(seconds)
        self.warm.add(candidate.name)
        if all(len(self.times.get(c.name, [])) >= self.timed for c in self.candidates):
            medians = {name: float(np.median(t)) * 1000 for name, t in self.times.items()}
            self.record["timed_ms"] = {name: round(ms, 3) for name, ms in medians.items()}
            self.record["timed_batch"] = list(self.shape)
            self._choose(next(c for c in self.candidates if c.name == min(medians, key=medians.get)))
        return out

    def _timed_run(self, engine: _Engine, batch: np.ndarray) -> tuple[np.ndarray, float]:
        """Output and inference seconds of one call, its compiling / session making added to setup."""
        self.runs[engine.name] = self.runs.get(engine.name, 0) + 1
        setup, started = engine.setup_seconds, time.perf_counter()
        out = engine.run(batch)
        spent = engine.setup_seconds - setup
        self._setup += spent
        return out, time.perf_counter() - started - spent

    def choice(self) -> dict:
        """How the engine was chosen, or, when the job ended before every engine was timed, the engines that ran
        (``engine`` like ``ort`` or ``ort+openvino``, ``decided`` False)."""
        self._collect()
        if self.chosen is None and self._pending is None and len(self.candidates) == 1:
            self._choose(self.candidates[0])
        if self.chosen is None:
            ran = ", ".join(f"{name} {count}" for name, count in self.runs.items())
            return {**self.record, "engine": "+".join(self.runs) or self.candidates[0].name, "decided": False,
                    "notice": f"auto: the job ended before every engine was timed (batches run: {ran}"
                              + ("; OpenVINO still compiling" if self._pending is not None else "") + ")"}
        return {**self.record, "decided": True}


def make_engine(engine: str, model: str | Path, threads: int, expected: tuple[int, ...] | None = None):
    """``OrtEngine``, ``OpenVinoEngine`` or ``AutoEngine`` (OpenVINO compiled for ``expected`` in the background)
    for one ONNX file, options checked first."""
    check_engine_options(engine, threads)
    if engine == "auto":
        return AutoEngine(model, threads, expected=expected)
    return open_engine(engine, model, threads)
