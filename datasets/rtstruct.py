"""DICOM CT series and RT-STRUCT contours → a CT volume and a voxel mask on its grid (read with pydicom).

Geometry (DICOM PS3.3 C.7.6.2): ``ImageOrientationPatient`` gives the direction of increasing column index (``u``)
and of increasing row index (``v``); ``PixelSpacing`` is (row spacing, column spacing). A patient point ``p`` of a
slice with ``ImagePositionPatient`` ``o`` lies at column ``(p - o)·u / column spacing`` and row
``(p - o)·v / row spacing``; slices are ordered by ``o·n`` (``n = u × v``). A planar contour belongs to the slice
whose ``o·n`` is nearest its own (within half a slice spacing). Contours of one ROI on one slice combine by
even-odd (XOR), so an inner contour cuts a hole.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xtiny.errors import XTinyError


def fill_polygon(cols_rows: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A (rows, cols) boolean mask: pixels whose centre lies inside the closed polygon of ``cols_rows`` (N, 2)
    vertices in pixel coordinates (column, row; pixel ``(r, c)`` has its centre at ``(c, r)``)."""
    from matplotlib.path import Path as PolygonPath

    pts = np.asarray(cols_rows, float)
    mask = np.zeros(shape, bool)
    if len(pts) < 3:
        return mask
    c0, r0 = np.maximum(np.floor(pts.min(axis=0)).astype(int), 0)
    c1, r1 = np.minimum(np.ceil(pts.max(axis=0)).astype(int), [shape[1] - 1, shape[0] - 1])
    if c1 < c0 or r1 < r0:
        return mask
    rr, cc = np.mgrid[r0:r1 + 1, c0:c1 + 1]
    inside = PolygonPath(pts, closed=False).contains_points(np.column_stack([cc.ravel(), rr.ravel()]))
    mask[r0:r1 + 1, c0:c1 + 1] = inside.reshape(rr.shape)
    return mask


@dataclass(frozen=True)
class CTSeries:
    """A CT volume (Z, Y, X) in HU on the grid of its slices: ``origin`` (first slice's position), ``u``, ``v``, ``n``
    (column, row, slice directions), ``spacing_zyx`` in mm."""

    hu: np.ndarray
    origin: np.ndarray
    u: np.ndarray
    v: np.ndarray
    n: np.ndarray
    spacing_zyx: tuple[float, float, float]

    def to_pixels(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Patient points (N, 3) → ((N, 2) column/row pixel coordinates, (N,) fractional slice index)."""
        rel = np.asarray(points, float) - self.origin
        cols_rows = np.column_stack([rel @ self.u / self.spacing_zyx[2], rel @ self.v / self.spacing_zyx[1]])
        return cols_rows, rel @ self.n / self.spacing_zyx[0]


def _orientation(ds: Any, where: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    iop = np.asarray([float(x) for x in ds.ImageOrientationPatient])
    u, v = iop[:3], iop[3:]
    n = np.cross(u, v)
    if not np.isclose(np.linalg.norm(n), 1.0, atol=1e-3):
        raise XTinyError(f"{where}: ImageOrientationPatient {iop.tolist()} is not two orthonormal directions.",
                         fix="use an intact CT series.")
    return u, v, n


def read_ct_series(files: list[Path]) -> CTSeries:
    """Read one CT series (one file per slice, any order) into HU, slices sorted along the slice normal."""
    import pydicom

    if not files:
        raise XTinyError("no CT slices given.", fix="pass the DICOM files of one CT series.")
    slices = [pydicom.dcmread(str(f)) for f in files]
    u, v, n = _orientation(slices[0], files[0])
    order = np.argsort([float(np.dot([float(x) for x in s.ImagePositionPatient], n)) for s in slices])
    slices = [slices[i] for i in order]
    positions = np.array([[float(x) for x in s.ImagePositionPatient] for s in slices])
    steps = np.diff(positions @ n)
    if len(slices) > 1 and (steps.min() <= 0 or not np.allclose(steps, steps.mean(), rtol=0.01, atol=0.01)):
        raise XTinyError(f"{files[0].parent}: CT slices are not evenly spaced along their normal "
                         f"(steps {np.unique(np.round(steps, 3)).tolist()} mm).", fix="use one complete CT series.")
    dz = float(steps.mean()) if len(slices) > 1 else float(slices[0].get("SliceThickness", 1.0))
    row_spacing, col_spacing = (float(x) for x in slices[0].PixelSpacing)
    hu = np.stack([s.pixel_array.astype(np.float32) * float(s.get("RescaleSlope", 1) or 1)
                   + float(s.get("RescaleIntercept", 0) or 0) for s in slices])
    return CTSeries(hu, positions[0], u, v, n, (dz, row_spacing, col_spacing))


def roi_names(rtstruct: Any) -> dict[int, str]:
    """``{ROINumber: ROIName}`` of an RT-STRUCT dataset."""
    return {int(r.ROINumber): str(r.ROIName) for r in getattr(rtstruct, "StructureSetROISequence", [])}


def contour_mask(rtstruct_file: Path, series: CTSeries, roi_name: str) -> np.ndarray:
    """The (Z, Y, X) uint8 mask of the RT-STRUCT's ROI ``roi_name`` on ``series``' grid (planar contours filled,
    even-odd per slice); XTinyError when the ROI is missing, has no contour or a contour lies off every slice."""
    import pydicom

    rs = pydicom.dcmread(str(rtstruct_file))
    numbers = [num for num, name in roi_names(rs).items() if name == roi_name]
    if not numbers:
        raise XTinyError(f"{rtstruct_file} has no contour named {roi_name!r} (ROIs: {sorted(roi_names(rs).values())}).",
                         fix=f"use an RT-STRUCT that holds the {roi_name} contour.")
    mask = np.zeros(series.hu.shape, bool)
    count = 0
    for roi in getattr(rs, "ROIContourSequence", []):
        if int(roi.ReferencedROINumber) not in numbers:
            continue
        for contour in getattr(roi, "ContourSequence", []):
            points = np.asarray([float(x) for x in contour.ContourData]).reshape(-1, 3)
            cols_rows, k = series.to_pixels(points)
            z = int(round(float(k.mean())))
            if not 0 <= z < mask.shape[0] or np.abs(k - z).max() > 0.5:
                raise XTinyError(f"{rtstruct_file}: a {roi_name} contour lies at slice index {k.mean():.2f}, on no "
                                 f"slice of the {mask.shape[0]}-slice CT series.",
                                 fix="pass the CT series the RT-STRUCT was drawn on.")
            mask[z] ^= fill_polygon(cols_rows, mask.shape[1:])
            count += 1
    if count == 0:
        raise XTinyError(f"{rtstruct_file}: the ROI {roi_name!r} has no contour.",
                         fix=f"use an RT-STRUCT whose {roi_name} holds contours.")
    return mask.astype(np.uint8)
