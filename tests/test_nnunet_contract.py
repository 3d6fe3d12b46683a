"""The import-linter contract "nnU-Net only in xtiny.nnunet" lists every module of XTiny but the ground floor."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
INSTALLED_AS = {"datasets": "xtiny.datasets", "sensitivity": "xtiny.sensitivity", "evaluation": "xtiny.evaluation"}


def test_nnunet_contract_covers_every_module() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    contract = next(c for c in contracts if c.get("forbidden_modules") == ["nnunetv2"])
    listed = set(contract["source_modules"])
    package = ROOT / "xtiny"
    modules = {f"xtiny.{p.stem}" for p in package.glob("*.py") if p.stem != "__init__"}
    modules |= {f"xtiny.{p.name}" for p in package.iterdir() if (p / "__init__.py").is_file()}
    modules |= set(INSTALLED_AS.values())
    assert modules - {"xtiny.nnunet"} == listed, "add new modules to the nnunetv2 contract in pyproject.toml"
