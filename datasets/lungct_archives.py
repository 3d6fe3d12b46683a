"""The two pinned registry archives that carry the lung CT cases of ``xtiny datasets lungct``.

* ``pycerr-2.5.1-py3-none-any.whl`` (PyPI wheel): ``cerr/datasets/radiomics_phantom_dicom/pat_{1..4}/``, a DICOM CT
  crop and an RT-STRUCT with the contour ``GTV-1`` each (the "Radiomics Digital Phantom" of CancerData, Lambin 2016;
  data CC BY-NC 3.0, pyCERR's code GPL-3).
* ``pyradiomics-3.0.1.tar.gz`` (PyPI sdist; the wheel and a pip install lack ``data/``): ``data/lung{1,2}_image.nrrd``
  + ``_label.nrrd`` (CT + binary lesion label).

An archive is fetched once with the ordinary client (``python -m pip download --no-deps``, nothing installed, none of
its dependencies) into :func:`xtiny.paths.download_cache_dir` ``/lungct``, its sha256 checked against the pin before
it is kept; only the data members are extracted (:func:`xtiny.datasets.converters._archive.extract_selected`).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from xtiny.console import say
from xtiny.errors import XTinyError
from xtiny.paths import download_cache_dir


@dataclass(frozen=True)
class PinnedArchive:
    """One registry file: ``requirement`` fetched by ``pip download`` with ``pip_flags``, known by name, size, hash;
    ``data_prefix``: the archive folder whose members (below it, ending in one of ``data_suffixes``) are extracted."""

    requirement: str
    filename: str
    size: int
    sha256: str
    pip_flags: tuple[str, ...]
    data_prefix: str
    data_suffixes: tuple[str, ...]
    license: str
    layout: str  # "dicom": pat_* folders of CT + RT-STRUCT; "nrrd": data/lung*_image.nrrd + _label.nrrd

    def keeps(self, member: str) -> bool:
        """True for the data members of the archive (everything else stays packed)."""
        return member.startswith(self.data_prefix) and member.endswith(self.data_suffixes)

    def pip_command(self, dest: Path | str) -> list[str]:
        return [sys.executable, "-m", "pip", "download", "--no-deps", *self.pip_flags, self.requirement,
                "-d", str(dest), "--disable-pip-version-check", "--quiet"]


PYCERR = PinnedArchive(
    requirement="pycerr==2.5.1", filename="pycerr-2.5.1-py3-none-any.whl", size=25_881_513,
    sha256="5c3e82cc387538c5c38143827314fc2aa743ef886e8518f7f52beff6805c635d",
    pip_flags=("--only-binary=:all:",), data_prefix="cerr/datasets/radiomics_phantom_dicom/",
    data_suffixes=(".dcm", "README_LICENSE.txt"),
    license="CC BY-NC 3.0 (Radiomics Digital Phantom, CancerData, doi:10.17195/candat.2016.08.1; "
            "cerr/datasets/radiomics_phantom_dicom/README_LICENSE.txt); pyCERR's code is GPL-3",
    layout="dicom",
)
PYRADIOMICS = PinnedArchive(
    requirement="pyradiomics==3.0.1", filename="pyradiomics-3.0.1.tar.gz", size=34_473_030,
    sha256="47c57f441d6cb7973fa3b2ea48d3948df78e3348e1c69e1e2ff19001601fc2f5",
    # an sdist: pip prepares its metadata, with the venv's own setuptools rather than fetching build requirements
    pip_flags=("--no-binary=:all:", "--no-build-isolation"), data_prefix="pyradiomics-3.0.1/",
    data_suffixes=("data/lung1_image.nrrd", "data/lung1_label.nrrd", "data/lung2_image.nrrd",
                   "data/lung2_label.nrrd", "data/README.md", "LICENSE.txt"),
    license="no separate data licence: the sdist's LICENSE.txt is the 3-clause BSD licence (Copyright 2017 Harvard "
            "Medical School) and data/README.md calls the files test cases without naming their source",
    layout="nrrd",
)
LUNGCT_ARCHIVES: tuple[PinnedArchive, ...] = (PYCERR, PYRADIOMICS)


def lungct_cache_dir() -> Path:
    """``<download cache>/lungct``: where the pinned archives are kept."""
    return download_cache_dir() / "lungct"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_command(archive: PinnedArchive, cache: Path) -> str:
    """The shell command that puts ``archive`` into ``cache`` (for error messages and the docs)."""
    flags = " ".join(archive.pip_flags)
    return f"python -m pip download --no-deps {flags} {archive.requirement} -d {cache}"


def _fetch(archive: PinnedArchive, cache: Path, log: Callable[[str], None]) -> None:
    """``pip download`` into a temporary folder of ``cache``, hash checked, then renamed into place."""
    log(f"[xtiny] fetching {archive.filename} ({archive.size / 1e6:.1f} MB) from the package registry with pip "
        f"into {cache} ...")
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".fetch-") as tmp:
        done = subprocess.run(archive.pip_command(tmp), capture_output=True, text=True, check=False)
        got = Path(tmp) / archive.filename
        if done.returncode != 0 or not got.is_file():
            last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
            raise XTinyError(f"could not fetch {archive.requirement} with pip (exit {done.returncode}): {last}",
                             fix=f"where the package registry is reachable run `xtiny datasets lungct --fetch-only` "
                                 f"(or `{fetch_command(archive, cache)}`), then rerun.")
        _check_hash(archive, got)
        got.replace(cache / archive.filename)
    log(f"[xtiny] fetched {archive.filename}: {archive.size / 1e6:.1f} MB, sha256 checked")


def _check_hash(archive: PinnedArchive, path: Path) -> None:
    actual = file_sha256(path)
    if actual != archive.sha256:
        raise XTinyError(f"{path} has sha256 {actual}, not the pinned {archive.sha256} of {archive.requirement}.",
                         fix=f"delete {path} and rerun (it is fetched again), or `{fetch_command(archive, path.parent)}`.")


def ensure_archive(archive: PinnedArchive, cache: Path | None = None, *, fetch: bool = True,
                   log: Callable[[str], None] = say) -> Path:
    """The checked archive file in ``cache`` (default :func:`lungct_cache_dir`), fetched first when missing and
    ``fetch``; XTinyError when it is missing and cannot be fetched, or its hash is not the pinned one."""
    cache = Path(cache) if cache is not None else lungct_cache_dir()
    path = cache / archive.filename
    if not path.is_file():
        if not fetch:
            raise XTinyError(f"{path} is missing.",
                             fix=f"run `xtiny datasets lungct --fetch-only` or `{fetch_command(archive, cache)}`.")
        _fetch(archive, cache, log)
    _check_hash(archive, path)
    return path


def extract_data(archive: PinnedArchive, path: Path, dest: Path) -> Path:
    """Extract the data members of the checked archive file ``path`` into ``dest``; returns ``dest / data_prefix``."""
    from xtiny.datasets.converters._archive import extract_selected

    if not extract_selected(path, dest, archive.keeps):
        raise XTinyError(f"{path} holds no member under {archive.data_prefix}.",
                         fix=f"delete {path} and fetch it again.")
    return dest / archive.data_prefix

