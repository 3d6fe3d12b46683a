"""The edge predictor: nnU-Net's inference (preprocess, Gaussian sliding window, optional mirroring, argmax, export
in the input's geometry) with numpy and onnxruntime or OpenVINO; tiles of many slices / images run in batches."""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xtiny.atomic import atomic_write_text
from xtiny.edge.bundle import BundleError, EdgeBundle, load_bundle
from xtiny.edge.engines import check_engine_options, make_engine, physical_cores
from xtiny.edge.imageio import read_image, write_segmentation
from xtiny.edge.preprocessing import new_shape_for, nonzero_bbox, normalize, resize
from xtiny.edge.sliding import sliding_window_batched
from xtiny.errors import XTinyError

STAGES = ("read", "preprocess", "engine_setup", "network", "stitch", "write")
LOG_NAME = "predict.log"
# Memory one tile may take in flight: input, output and the network's full-resolution feature maps, estimated as
# 64 float32 maps of the patch (an XTiny net has <= 32 channels at full resolution, nnU-Net's 2d 32).
TILE_MAPS = 64
BATCH_MEMORY_BYTES = 512 * 2**20


def default_batch_size(threads: int, patch: list[int], memory_bytes: int = BATCH_MEMORY_BYTES) -> int:
    """Tiles per network call: two per thread (``bench/bench_edge.py``: one or two tiles per one-thread stream
    beat larger batches, which leave the cache), at most what fits ``memory_bytes``."""
    tile_bytes = int(np.prod(patch)) * 4 * TILE_MAPS
    return int(max(1, min(2 * threads, memory_bytes // tile_bytes)))


@dataclass
class _Case:
    """A read and preprocessed case waiting for the network."""

    output: Path
    reference: Any
    images: list[np.ndarray]  # network inputs (C, *patch-dims), one per slice for 2D models on volumes
    full_shape: tuple[int, ...]
    cropped_shape: tuple[int, ...]
    box: list[tuple[int, int]]


class EdgePredictor:
    """Run an exported bundle on images.

    ``variant`` picks ``fp32`` / ``int8`` / ``int8_qoperator``; ``engine`` is ``ort``, ``openvino`` or ``auto``
    (time both on the job's first batches, keep the faster; see :class:`xtiny.edge.engines.AutoEngine`); ``threads`` defaults to the physical cores; ``batch_size``
    (tiles per network call, across slices and images) to :func:`default_batch_size`. Mirroring is off unless asked
    for (it costs 4 network passes per 2D tile, 8 in 3D)."""

    def __init__(self, bundle: str | Path | EdgeBundle, *, variant: str = "fp32", engine: str = "auto",
                 mirroring: bool = False, threads: int | None = None, batch_size: int | None = None) -> None:
        check_engine_options(engine, threads)
        if batch_size is not None and batch_size < 1:
            raise XTinyError(f"--batch must be >= 1, got {batch_size}.", fix="omit it to size batches automatically.")
        started = self.created = time.perf_counter()
        self.bundle = bundle if isinstance(bundle, EdgeBundle) else load_bundle(bundle)
        self.pre = self.bundle.preprocess
        self.variant = variant
        self.model_path = self.bundle.model_path(variant)
        self.requested_engine = engine
        self.threads = threads or physical_cores()
        self.mirroring = mirroring
        self.mirror_axes = self.pre["mirroring_axes"] if mirroring else None
        self.batch_size = batch_size or default_batch_size(self.threads, self.pre["patch_size"])
        self.num_classes = len(self.pre["labels"])
        expected = (self.batch_size, self.pre["num_input_channels"], *self.pre["patch_size"])
        self.engine = make_engine(engine, self.model_path, self.threads, expected)
        self.timings: dict[str, float] = defaultdict(float)
        self.timings["engine_setup"] += time.perf_counter() - started
        self._setup_seen = self.engine.setup_seconds

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Raw network logits for a batch ``(B, C, *patch)`` (compiling / making sessions counted as engine setup)."""
        started = time.perf_counter()
        out = self.engine.run(batch)
        setup = self.engine.setup_seconds - self._setup_seen
        self._setup_seen = self.engine.setup_seconds
        self.timings["engine_setup"] += setup
        self.timings["network"] += time.perf_counter() - started - setup
        return out

    def _sliding(self, images: list[np.ndarray]) -> list[np.ndarray]:
        return sliding_window_batched(self.run, images, self.pre["patch_size"], self.num_classes,
                                      step=self.pre.get("tile_step_size", 0.5),
                                      sigma_scale=self.pre.get("gaussian_sigma_scale", 0.125),
                                      mirror_axes=self.mirror_axes, batch_size=self.batch_size)

    def logits_preprocessed(self, data: np.ndarray) -> np.ndarray:
        """Sliding-window logits ``(K, d0, d1, d2)`` for preprocessed data ``(C, d0, d1, d2)``."""
        if len(self.pre["patch_size"]) == data.ndim - 1:
            return self._sliding([data])[0]
        return np.stack(self._sliding([data[:, d] for d in range(data.shape[1])]), axis=1)

    def _preprocess(self, data: np.ndarray, spacing: tuple[float, ...]) -> tuple[np.ndarray, dict]:
        """Transposed, cropped, normalized, resampled data and what is needed to put labels back."""
        pre = self.pre
        if data.shape[0] != pre["num_input_channels"]:
            raise BundleError(f"the model expects {pre['num_input_channels']} input channel(s), got {data.shape[0]}.",
                              fix="pass one file per channel named CASE_XXXX<ending> (XXXX = channel index).")
        forward = pre["transpose_forward"]
        data = data.transpose([0, *[a + 1 for a in forward]])
        spacing = [spacing[a] for a in forward]
        full_shape = data.shape[1:]
        box = nonzero_bbox(data)
        data = data[(slice(None), *[slice(lo, hi) for lo, hi in box])]
        cropped_shape = data.shape[1:]
        data = normalize(data, pre["normalization_schemes"], pre["use_mask_for_norm"], pre["intensity_properties"])
        target = list(pre["spacing"])
        if len(target) < len(spacing):
            target = [spacing[0], *target]
        data = resize(data, new_shape_for(cropped_shape, spacing, target), order=1)
        return data, {"full_shape": full_shape, "cropped_shape": cropped_shape, "box": box}

    def _labels(self, logits: np.ndarray | list[np.ndarray], geometry: dict) -> np.ndarray:
        """Labels in the input's geometry from logits ``(K, *preprocessed)``, or from a list of per-slice logits
        ``(K, h, w)`` (2D models: argmax slice by slice when no resampling is needed, without stacking them)."""
        cropped = tuple(geometry["cropped_shape"])
        if isinstance(logits, list) and (len(logits), *logits[0].shape[1:]) != cropped:
            logits = np.stack(logits, axis=1)
        if not isinstance(logits, list):
            logits = resize(logits, cropped, order=1)
        seg = np.zeros(geometry["full_shape"], dtype=np.uint8 if self.num_classes < 256 else np.uint16)
        inside = seg[tuple(slice(lo, hi) for lo, hi in geometry["box"])]
        if isinstance(logits, list):
            for d, part in enumerate(logits):
                inside[d] = self._argmax(part)
        else:
            inside[...] = self._argmax(logits)
        return seg.transpose(self.pre["transpose_backward"])

    def _argmax(self, logits: np.ndarray) -> np.ndarray:
        """Class index along axis 0; two classes by one comparison (ties go to 0, as argmax)."""
        return logits[1] > logits[0] if self.num_classes == 2 else np.argmax(logits, axis=0)

    def predict_array(self, data: np.ndarray, spacing: tuple[float, ...]) -> np.ndarray:
        """Labels ``(d0, d1, d2)`` for raw image data ``(C, d0, d1, d2)`` with its voxel spacing."""
        data, geometry = self._preprocess(data, spacing)
        return self._labels(self.logits_preprocessed(data), geometry)

    def _read_case(self, files: list[str | Path], output: Path) -> _Case:
        started = time.perf_counter()
        arrays, spacing, reference = [], None, None
        for f in files:
            array, sp, ref = read_image(f)
            arrays.append(array)
            if spacing is None:
                spacing, reference = sp, ref
        data = np.concatenate(arrays, axis=0) if len(arrays) > 1 else arrays[0]
        read_done = time.perf_counter()
        self.timings["read"] += read_done - started
        data, geometry = self._preprocess(data, spacing)
        images = [data] if len(self.pre["patch_size"]) == data.ndim - 1 else [data[:, d] for d in range(data.shape[1])]
        self.timings["preprocess"] += time.perf_counter() - read_done
        return _Case(output, reference, images, **geometry)

    def _finish(self, cases: list[_Case]) -> list[Path]:
        """Network + stitching for the tiles of all ``cases`` together, then labels written case by case."""
        started = time.perf_counter()
        before = self.timings["network"] + self.timings["engine_setup"] + self.timings["write"]
        logits = self._sliding([image for case in cases for image in case.images])
        volume = len(self.pre["patch_size"]) == 3
        written, first = [], 0
        for case in cases:
            parts = logits[first:first + len(case.images)]
            first += len(case.images)
            seg = self._labels(parts[0] if volume else parts,
                               {"full_shape": case.full_shape, "cropped_shape": case.cropped_shape, "box": case.box})
            stitched = time.perf_counter()
            written.append(write_segmentation(seg, case.output, case.reference))
            self.timings["write"] += time.perf_counter() - stitched
        elsewhere = self.timings["network"] + self.timings["engine_setup"] + self.timings["write"] - before
        self.timings["stitch"] += time.perf_counter() - started - elsewhere
        return written

    def predict_files(self, files: list[str | Path], output: str | Path) -> Path:
        """Predict one case given its channel files (channel order) and write the labels to ``output``."""
        return self._finish([self._read_case(files, Path(output))])[0]

    def predict_folder(self, input_dir: str | Path, output_dir: str | Path) -> list[Path]:
        """Predict every case ``CASE_XXXX<ending>`` in ``input_dir`` into ``output_dir/CASE<ending>``; cases are
        gathered until they hold a few batches of tiles, so small images (PNGs, frames) share network calls.
        Writes ``output_dir/predict.log`` (engine chosen, threads, batch, seconds per stage)."""
        cases = group_cases(input_dir, self.pre["file_ending"], self.pre["num_input_channels"])
        written: list[Path] = []
        pending: list[_Case] = []
        for case, files in cases.items():
            pending.append(self._read_case(files, Path(output_dir) / f"{case}{self.pre['file_ending']}"))
            if sum(len(c.images) for c in pending) >= 4 * self.batch_size:
                written += self._finish(pending)
                pending = []
        if pending:
            written += self._finish(pending)
        self.write_log(Path(output_dir), len(written))
        return written

    def summary(self) -> dict:
        """Engine choice, settings and seconds per stage so far."""
        choice = self.engine.choice() if hasattr(self.engine, "choice") else {"engine": self.engine.name,
                                                                             "requested": self.requested_engine}
        return {"engine": choice["engine"], "choice": choice,
                "model": self.model_path.name, "threads": self.threads, "batch_size": self.batch_size,
                "mirroring": self.mirroring, "stage_seconds": {k: round(self.timings[k], 4) for k in STAGES}}

    def write_log(self, folder: Path, cases: int) -> Path:
        """``folder/predict.log``: a readable line per fact and the summary as JSON on the last line (seconds since
        this predictor was made, bundle check included)."""
        seconds = time.perf_counter() - self.created
        info = {**self.summary(), "cases": cases, "total_seconds": round(seconds, 4)}
        choice = info["choice"]
        lines = [f"model {info['model']}, engine {info['engine']} (requested {self.requested_engine}"
                 + (f"; timed ms {choice['timed_ms']}" if choice.get("timed_ms") else "") + ")",
                 *([f"notice: {choice['notice']}"] if choice.get("notice") else []),
                 f"threads {self.threads}, batch {self.batch_size} tile(s), mirroring {'on' if self.mirroring else 'off'}",
                 f"{cases} case(s) in {seconds:.3f} s; seconds per stage: "
                 + ", ".join(f"{k} {v:.3f}" for k, v in info["stage_seconds"].items()),
                 "summary " + json.dumps(info)]
        return atomic_write_text(folder / LOG_NAME, "\n".join(lines) + "\n")


def group_cases(folder: str | Path, ending: str, channels: int) -> dict[str, list[Path]]:
    """``{case: [channel files in order]}`` from nnU-Net-style names; clear error when a channel is missing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BundleError(f"input folder not found: {folder}.", fix="pass a folder of images.")
    pattern = re.compile(rf"^(.+)_(\d{{4}}){re.escape(ending)}$")
    found: dict[str, dict[int, Path]] = defaultdict(dict)
    for path in sorted(folder.iterdir()):
        match = pattern.match(path.name)
        if match:
            found[match.group(1)][int(match.group(2))] = path
    if not found:
        raise BundleError(f"no images named CASE_XXXX{ending} in {folder}.",
                          fix=f"name inputs like nnU-Net does, e.g. case1_0000{ending}.")
    cases = {}
    for case, chans in sorted(found.items()):
        missing = [c for c in range(channels) if c not in chans]
        if missing:
            raise BundleError(f"case '{case}' in {folder} lacks channel(s) {missing}.",
                              fix=f"provide {case}_0000{ending} .. {case}_{channels - 1:04d}{ending}.")
        cases[case] = [chans[c] for c in range(channels)]
    return cases
