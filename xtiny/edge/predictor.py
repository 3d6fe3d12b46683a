"""The edge predictor: nnU-Net's inference (preprocess, Gaussian sliding window, mirroring, argmax, export
in the input's geometry) with numpy and onnxruntime only."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from xtiny.edge.bundle import BundleError, EdgeBundle, load_bundle
from xtiny.edge.imageio import read_image, write_segmentation
from xtiny.edge.preprocessing import new_shape_for, nonzero_bbox, normalize, resize
from xtiny.edge.sliding import sliding_window_logits


class EdgePredictor:
    """Run an exported bundle on images. ``variant`` picks ``fp32`` / ``int8`` / ``int8_qoperator``."""

    def __init__(self, bundle: str | Path | EdgeBundle, *, variant: str = "fp32", mirroring: bool = True,
                 threads: int | None = None, batch_size: int = 4) -> None:
        import onnxruntime

        self.bundle = bundle if isinstance(bundle, EdgeBundle) else load_bundle(bundle)
        self.pre = self.bundle.preprocess
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(str(self.bundle.model_path(variant)), options,
                                                    providers=["CPUExecutionProvider"])
        self.input_name = self.pre["input_name"]
        self.mirror_axes = self.pre["mirroring_axes"] if mirroring else None
        self.batch_size = batch_size
        self.num_classes = len(self.pre["labels"])

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Raw network logits for a batch ``(B, C, *patch)``."""
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})[0]

    def logits_preprocessed(self, data: np.ndarray) -> np.ndarray:
        """Sliding-window logits ``(K, d0, d1, d2)`` for preprocessed data ``(C, d0, d1, d2)``."""
        patch = self.pre["patch_size"]
        kwargs = dict(step=self.pre.get("tile_step_size", 0.5), sigma_scale=self.pre.get("gaussian_sigma_scale", 0.125),
                      mirror_axes=self.mirror_axes, batch_size=self.batch_size)
        if len(patch) == data.ndim - 1:
            return sliding_window_logits(self.run, data, patch, self.num_classes, **kwargs)
        slices = [sliding_window_logits(self.run, data[:, d], patch, self.num_classes, **kwargs)
                  for d in range(data.shape[1])]
        return np.stack(slices, axis=1)

    def predict_array(self, data: np.ndarray, spacing: tuple[float, ...]) -> np.ndarray:
        """Labels ``(d0, d1, d2)`` for raw image data ``(C, d0, d1, d2)`` with its voxel spacing."""
        pre = self.pre
        if data.shape[0] != pre["num_input_channels"]:
            raise BundleError(f"the model expects {pre['num_input_channels']} input channel(s), got {data.shape[0]}.",
                              fix="pass one file per channel named CASE_XXXX<ending> (XXXX = channel index).")
        forward, backward = pre["transpose_forward"], pre["transpose_backward"]
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
        logits = resize(self.logits_preprocessed(data), cropped_shape, order=1)
        seg = np.zeros(full_shape, dtype=np.uint8 if self.num_classes < 256 else np.uint16)
        seg[tuple(slice(lo, hi) for lo, hi in box)] = np.argmax(logits, axis=0)
        return seg.transpose(backward)

    def predict_files(self, files: list[str | Path], output: str | Path) -> Path:
        """Predict one case given its channel files (channel order) and write the labels to ``output``."""
        arrays, spacing, reference = [], None, None
        for f in files:
            array, sp, ref = read_image(f)
            arrays.append(array)
            if spacing is None:
                spacing, reference = sp, ref
        data = np.concatenate(arrays, axis=0)
        return write_segmentation(self.predict_array(data, spacing), output, reference)

    def predict_folder(self, input_dir: str | Path, output_dir: str | Path) -> list[Path]:
        """Predict every case ``CASE_XXXX<ending>`` in ``input_dir`` into ``output_dir/CASE<ending>``."""
        cases = group_cases(input_dir, self.pre["file_ending"], self.pre["num_input_channels"])
        return [self.predict_files(files, Path(output_dir) / f"{case}{self.pre['file_ending']}")
                for case, files in cases.items()]


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
