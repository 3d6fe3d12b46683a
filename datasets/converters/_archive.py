"""Safe archive extraction: refuses absolute paths, ``..`` members and links pointing outside."""

from __future__ import annotations

import shutil
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from xtiny.errors import XTinyError


def _check_member(archive: Path, name: str) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and path.parts[0].endswith(":")):
        raise XTinyError(f"archive {archive} has an unsafe member '{name}' (absolute path or '..').",
                         fix="extract it yourself after checking its contents, then pass the folder.")


def safe_extract(archive: Path, dest: Path) -> Path:
    """Extract ``archive`` (.zip, .tar, .tar.gz, .tgz) into ``dest`` after checking every member."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                _check_member(archive, name)
            zf.extractall(dest)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            for member in tf.getmembers():
                _check_member(archive, member.name)
                if member.issym() or member.islnk() or not (member.isfile() or member.isdir()):
                    raise XTinyError(f"archive {archive} has a link or special member '{member.name}'.",
                                     fix="extract it yourself after checking its contents, then pass the folder.")
            tf.extractall(dest)
    else:
        raise XTinyError(f"{archive} is not a folder, zip or tar archive.", fix="pass the extracted folder.")
    return dest


def extract_selected(archive: Path, dest: Path, keep: Callable[[str], bool]) -> list[Path]:
    """Extract only the regular-file members of ``archive`` (.zip or .tar[.gz]) whose name ``keep`` accepts into
    ``dest`` (their archive paths below it); each one is checked first (no absolute path, no ``..``, no link).
    Returns the written files in archive order."""
    written: list[Path] = []
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir() and keep(i.filename)]
            for info in infos:
                _check_member(archive, info.filename)
                written.append(Path(zf.extract(info, dest)))
        return written
    if not tarfile.is_tarfile(archive):
        raise XTinyError(f"{archive} is not a zip or tar archive.", fix="delete it and fetch it again.")
    with tarfile.open(archive) as tf:
        for member in tf:
            if member.isdir() or not keep(member.name):
                continue
            _check_member(archive, member.name)
            if not member.isfile():
                raise XTinyError(f"archive {archive} has a link or special member '{member.name}'.",
                                 fix="delete it and fetch it again.")
            target = dest / PurePosixPath(member.name)
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tf.extractfile(member)
            if source is None:
                raise XTinyError(f"archive {archive}: member '{member.name}' cannot be read.",
                                 fix="delete it and fetch it again.")
            with source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)
            written.append(target)
    return written
