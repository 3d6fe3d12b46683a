"""Safe archive extraction: refuses absolute paths, ``..`` members and links pointing outside."""

from __future__ import annotations

import tarfile
import zipfile
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
