"""The package installs in the user's layout and the CLI behaves as documented."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from xtiny.atomic import atomic_write_json, read_json
from xtiny.cli import COMMANDS, main
from xtiny.errors import XTinyError

XTINY = str(Path(sys.executable).with_name("xtiny"))


def test_help_lists_every_subcommand() -> None:
    out = subprocess.run([XTINY, "--help"], capture_output=True, text=True, check=True).stdout
    for name in ("datasets", "search", "train", "sweep", "evaluate", "export", "predict", "report", "demo"):
        assert name in out
    assert set(COMMANDS) >= {"datasets", "search", "train", "sweep", "evaluate", "export", "predict", "report", "demo"}


@pytest.mark.parametrize("name", COMMANDS)
def test_every_subcommand_has_help(name: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main([name, "--help"])
    assert exc.value.code == 0
    assert "usage: xtiny " + name in capsys.readouterr().out


def test_version() -> None:
    out = subprocess.run([XTINY, "--version"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"xtiny {importlib.metadata.version('xtiny')}"


def test_subpackages_import_from_any_directory(tmp_path: Path) -> None:
    code = "import xtiny.datasets, xtiny.sensitivity, xtiny.evaluation; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


@pytest.mark.parametrize("module", ["datasets", "sensitivity", "evaluation"])
def test_no_top_level_module_is_installed(module: str, tmp_path: Path) -> None:
    code = f"import importlib.util, sys; sys.exit(0 if importlib.util.find_spec({module!r}) is None else 1)"
    assert subprocess.run([sys.executable, "-c", code], cwd=tmp_path).returncode == 0
    top_level = importlib.metadata.distribution("xtiny").read_text("top_level.txt") or ""
    assert module not in top_level.split()


def test_user_error_is_one_line_with_exit_code_2(tmp_path: Path) -> None:
    env = {**os.environ, "nnUNet_raw": str(tmp_path / "r"), "nnUNet_preprocessed": str(tmp_path / "p"),
           "nnUNet_results": str(tmp_path / "s")}
    proc = subprocess.run([XTINY, "search", "-d", "Dataset999_DoesNotExist"], capture_output=True, text=True,
                          env=env, cwd=tmp_path)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("[xtiny]")]
    assert len(lines) == 1 and "error" in lines[0] and "Traceback" not in proc.stderr


def test_default_work_folder_is_announced(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("nnUNet_")}
    proc = subprocess.run([XTINY, "search", "-d", "7"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert "xtiny_work" in proc.stderr and proc.returncode == 2
    assert (tmp_path / "xtiny_work" / "raw").is_dir()


def test_atomic_json_keeps_backup_and_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "plans.json"
    atomic_write_json(target, {"v": 1})
    atomic_write_json(target, {"v": 2}, backup=True)
    assert json.loads(target.read_text()) == {"v": 2}
    assert json.loads((tmp_path / "plans.json.bak").read_text()) == {"v": 1}
    with pytest.raises(ValueError):
        atomic_write_json(target, {"v": float("nan")})  # unserializable: nothing written
    assert json.loads(target.read_text()) == {"v": 2}
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_read_json_names_the_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "search.json"
    broken.write_text("{not json")
    with pytest.raises(XTinyError, match="search.json"):
        read_json(broken, "search result")
