"""EchoNet-Dynamic (Ouyang et al. 2020): ``Videos/*.avi`` (112x112 grey AVI), ``FileList.csv`` and
``VolumeTracings.csv`` (FileName, X1, Y1, X2, Y2, Frame). For each video the two traced frames become cases
``<video>_ED`` (larger LV area) and ``<video>_ES``. The LV mask is the polygon of the tracing chords
(first row = long axis, skipped; X1/Y1 ends then X2/Y2 ends reversed). Videos are decoded with PyAV
(``pip install av``; optional extra ``xtiny[echonet]``)."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from xtiny.datasets.converters._common import binary_labels, require_cases
from xtiny.datasets.rawio import write_case
from xtiny.errors import XTinyError

NAME = "EchoNetDynamic"
DEFAULT_ID = 602


def read_frames(video: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    """Decode the ``wanted`` frame indices of an AVI as uint8 grey arrays."""
    try:
        import av
    except ImportError as exc:
        raise XTinyError("EchoNet videos need PyAV to decode AVI files.", fix="pip install av") from exc
    frames: dict[int, np.ndarray] = {}
    with av.open(str(video)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                frames[i] = frame.to_ndarray(format="gray")
            if len(frames) == len(wanted):
                break
    return frames


def tracing_mask(rows: list[tuple[float, float, float, float]], shape: tuple[int, int]) -> np.ndarray:
    """Fill the polygon spanned by the chord end points (EchoNet's convention)."""
    from skimage.draw import polygon

    t = np.asarray(rows[1:], dtype=np.float64)
    xs = np.concatenate([t[:, 0], t[::-1, 2]])
    ys = np.concatenate([t[:, 1], t[::-1, 3]])
    mask = np.zeros(shape, np.uint8)
    rr, cc = polygon(np.rint(ys).astype(int), np.rint(xs).astype(int), shape)
    mask[rr, cc] = 1
    return mask


def convert(src: Path, stage: Path) -> dict[str, Any]:
    tracings_csv = next(iter(sorted(src.rglob("VolumeTracings.csv"))), None)
    if tracings_csv is None:
        raise XTinyError(f"no VolumeTracings.csv under {src}.", fix="pass the EchoNet-Dynamic top folder.")
    videos = tracings_csv.parent / "Videos"
    traces: dict[str, dict[int, list[tuple[float, float, float, float]]]] = defaultdict(lambda: defaultdict(list))
    with tracings_csv.open(newline="") as handle:
        for row in csv.DictReader(handle):
            name = Path(row["FileName"]).stem
            traces[name][int(row["Frame"])].append(
                (float(row["X1"]), float(row["Y1"]), float(row["X2"]), float(row["Y2"])))
    count = 0
    for name, by_frame in sorted(traces.items()):
        video = videos / f"{name}.avi"
        if not video.is_file() or len(by_frame) < 2:
            continue
        frames = read_frames(video, set(by_frame))
        masks = {f: tracing_mask(rows, frames[f].shape) for f, rows in by_frame.items() if f in frames}
        if len(masks) < 2:
            continue
        ordered = sorted(masks, key=lambda f: int(masks[f].sum()), reverse=True)
        for phase, f in (("ED", ordered[0]), ("ES", ordered[-1])):
            write_case(stage, f"{name}_{phase}", frames[f], masks[f], ".png")
            count += 2 if phase == "ES" else 0
    require_cases(count, src, "videos with two traced frames")
    return dict(channel_names={"0": "US"}, labels=binary_labels("LV"), num_training=count, file_ending=".png",
                description="EchoNet-Dynamic ED/ES frames with LV tracings",
                reference="https://echonet.github.io/dynamic/")
