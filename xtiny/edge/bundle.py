"""An XTiny edge bundle on disk: ``preprocess.json``, ``manifest.json`` (sha256 of every file), ONNX models.

Only the standard library here; :func:`load_bundle` refuses a bundle whose files do not match the manifest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xtiny.errors import XTinyError

MANIFEST = "manifest.json"
PREPROCESS = "preprocess.json"
FORMAT_VERSION = 1


class BundleError(XTinyError):
    """An edge bundle is missing, malformed or has been modified after export."""


def sha256_of(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of one file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def bundle_files(folder: Path) -> list[str]:
    """Every file of a bundle (relative posix paths, sorted), the manifest itself excluded."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and p.name != MANIFEST and not p.name.startswith("."))


def _read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise BundleError(f"{what} not found: {path}.", fix="point to a folder written by 'xtiny export --format bundle'.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{what} {path} is not valid JSON ({exc}).", fix="re-export the bundle.") from exc



def verify_bundle(folder: str | Path) -> dict:
    """Check every file listed in ``manifest.json`` against its sha256; return the manifest.

    Raises :class:`BundleError` naming the first file that is missing, extra or altered."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BundleError(f"edge bundle folder not found: {folder}.", fix="pass the folder written by 'xtiny export'.")
    manifest = _read_json(folder / MANIFEST, "bundle manifest")
    listed = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(listed, dict) or not listed:
        raise BundleError(f"{folder / MANIFEST} has no 'files' table.", fix="re-export the bundle.")
    fix = "re-export the bundle with 'xtiny export --format bundle' (do not edit its files)."
    for rel, entry in sorted(listed.items()):
        path = folder / rel
        if not path.resolve().is_relative_to(folder.resolve()):
            raise BundleError(f"edge bundle {folder}: manifest entry '{rel}' points outside the bundle.", fix=fix)
        if not path.is_file():
            raise BundleError(f"edge bundle {folder}: file '{rel}' listed in the manifest is missing.", fix=fix)
        expected = entry.get("sha256") if isinstance(entry, dict) else entry
        actual = sha256_of(path)
        if actual != expected:
            raise BundleError(
                f"edge bundle {folder}: sha256 of '{rel}' does not match the manifest "
                f"(expected {str(expected)[:12]}..., found {actual[:12]}...): the file was modified or corrupted.",
                fix=fix)
    extra = sorted(set(bundle_files(folder)) - set(listed))
    if extra:
        raise BundleError(f"edge bundle {folder}: files not in the manifest: {', '.join(extra)}.", fix=fix)
    return manifest


@dataclass
class EdgeBundle:
    """A verified bundle: its folder, preprocessing description and manifest."""

    folder: Path
    preprocess: dict
    manifest: dict

    def model_path(self, variant: str = "fp32") -> Path:
        models = self.preprocess.get("models", {})
        if variant not in models:
            raise BundleError(f"edge bundle {self.folder} has no '{variant}' model (has: {', '.join(models) or 'none'}).",
                              fix="pick one of those with --model, or re-export with --format onnx,int8,bundle.")
        path = self.folder / models[variant]
        if models[variant] not in self.manifest.get("files", {}) or not path.resolve().is_relative_to(self.folder.resolve()):
            raise BundleError(f"edge bundle {self.folder}: model '{models[variant]}' is not a file of the bundle's "
                              "manifest.", fix="re-export the bundle with 'xtiny export --format bundle'.")
        return path


REQUIRED_KEYS = ("format_version", "num_input_channels", "normalization_schemes", "use_mask_for_norm",
                 "intensity_properties", "spacing", "patch_size", "transpose_forward", "transpose_backward",
                 "labels", "file_ending", "mirroring_axes", "models", "input_name")


def bundle_folder(path: str | Path) -> Path:
    """The bundle folder for ``path``: the folder itself when it holds ``manifest.json``, else its one subfolder
    that does (an export folder holds ``edge/``); BundleError naming the choices otherwise."""
    path = Path(path)
    if not path.is_dir() or (path / MANIFEST).is_file():
        return path
    inside = sorted(p.parent for p in path.glob(f"*/{MANIFEST}"))
    if len(inside) == 1:
        return inside[0]
    if inside:
        raise BundleError(f"{path} holds several bundles: {', '.join(p.name for p in inside)}.",
                          fix=f"pass one of them, e.g. {inside[0]}.")
    raise BundleError(f"{path} is not an edge bundle: no {MANIFEST} in it or in a subfolder.",
                      fix="pass the 'edge' folder (or the export folder holding it) written by "
                          "'xtiny export --format bundle'.")


def load_bundle(folder: str | Path) -> EdgeBundle:
    """Verify hashes, then read ``preprocess.json``. An export folder holding ``edge/`` is accepted too."""
    folder = bundle_folder(folder)
    manifest = verify_bundle(folder)
    pre = _read_json(folder / PREPROCESS, "bundle preprocessing file")
    missing = [k for k in REQUIRED_KEYS if k not in pre]
    if missing:
        raise BundleError(f"{folder / PREPROCESS} lacks {', '.join(missing)}.", fix="re-export the bundle.")
    if pre["format_version"] != FORMAT_VERSION:
        raise BundleError(f"{folder / PREPROCESS} has format_version {pre['format_version']}, this runtime reads "
                          f"{FORMAT_VERSION}.", fix="re-export the bundle with this XTiny version.")
    return EdgeBundle(folder, pre, manifest)
