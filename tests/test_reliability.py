"""Reliability catalogue (issue 10): every bad input is answered with a specific message and exit code 2, and
nothing is written; untrusted files never run code. Cases already covered elsewhere are listed in RELIABILITY.md.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from xtiny.cli import main
from xtiny.errors import XTinyError
from xtiny.nnunet.plans import plans_path
from xtiny.paths import nnunet_dirs

REPO = Path(__file__).resolve().parents[1]


def _expect_error(argv: list[str], capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    """``xtiny argv`` exits 2 with every needle in its one-line error."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("xtiny ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], err
    return lines[0]


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (to prove that nothing was written)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _plans_only_copy(source: str, name: str, keep: tuple[str, ...]) -> str:
    """A preprocessed copy of ``source`` named ``name`` whose plans keep only the ``keep`` configurations."""
    src, dst = plans_path(source).parent, nnunet_dirs().preprocessed / name
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.bak", ".*"))
    plans = json.loads((dst / "nnUNetPlans.json").read_text())
    plans["dataset_name"] = name
    plans["configurations"] = {k: v for k, v in plans["configurations"].items() if k in keep}
    (dst / "nnUNetPlans.json").write_text(json.dumps(plans, indent=2))
    return name


# ---------------------------------------------------------------- 1. bad input catalogue (what was missing)

@pytest.fixture()
def raw_bus(tmp_path: Path) -> Path:
    from xtiny.datasets.synth import generate_dataset

    return generate_dataset("bus", dataset_id=960, num_cases=5, seed=3, size=32, raw_dir=tmp_path)


def test_corrupt_png_is_reported(raw_bus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (raw_bus / "imagesTr" / "synthbus_0001_0000.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 8)
    before = _tree(raw_bus)
    _expect_error(["datasets", "validate", str(raw_bus)], capsys,
                  "synthbus_0001_0000.png is corrupt or not an image", "Fix:")
    assert _tree(raw_bus) == before


def test_truncated_nifti_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from xtiny.datasets.rawio import write_case, write_dataset_json

    folder = tmp_path / "Dataset961_Trunc"
    vol = np.ones((8, 16, 16), np.float32)
    for cid in ("c0", "c1"):
        write_case(folder, cid, [vol], np.zeros_like(vol, np.uint8), ".nii.gz")
    write_dataset_json(folder, channel_names={"0": "MR"}, labels={"background": 0, "x": 1}, num_training=2,
                       file_ending=".nii.gz")
    image = folder / "imagesTr" / "c1_0000.nii.gz"
    image.write_bytes(image.read_bytes()[:-40])  # SimpleITK alone reads this without complaint
    _expect_error(["datasets", "validate", str(folder)], capsys, "cannot read case 'c1'", "c1_0000.nii.gz")


def test_dataset_with_one_case_is_refused(raw_bus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for cid in ("0001", "0002", "0003", "0004"):
        (raw_bus / "imagesTr" / f"synthbus_{cid}_0000.png").unlink()
        (raw_bus / "labelsTr" / f"synthbus_{cid}.png").unlink()
    meta = json.loads((raw_bus / "dataset.json").read_text())
    (raw_bus / "dataset.json").write_text(json.dumps({**meta, "numTraining": 1}))
    _expect_error(["datasets", "validate", str(raw_bus)], capsys, "only 1 training case",
                  "5-fold cross-validation")


def test_inf_voxels_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from xtiny.datasets.rawio import write_case, write_dataset_json

    folder = tmp_path / "Dataset962_Inf"
    vol = np.ones((4, 8, 8), np.float32)
    bad = vol.copy()
    bad[1, 2, 3] = np.inf
    write_case(folder, "c0", [vol], np.zeros_like(vol, np.uint8), ".nii.gz")
    write_case(folder, "c1", [bad], np.zeros_like(vol, np.uint8), ".nii.gz")
    write_dataset_json(folder, channel_names={"0": "CT"}, labels={"background": 0, "x": 1}, num_training=2,
                       file_ending=".nii.gz")
    _expect_error(["datasets", "validate", str(folder)], capsys, "case 'c1' image contains NaN or inf")


@pytest.mark.parametrize("argv", [
    ["search", "-d", "963"], ["search", "-d", "NoSuchDataset"], ["train", "-d", "Dataset963_Nope", "-c", "2d"],
    ["export", "-d", "963", "-c", "2d"], ["datasets", "validate", "963"], ["report", "-d", "NoSuchDataset"],
])
def test_unknown_dataset_id_or_name(argv: list[str], capsys: pytest.CaptureFixture[str], nnunet_work: Path) -> None:
    before = sorted(p.relative_to(nnunet_work) for p in nnunet_work.rglob("*"))
    _expect_error(argv, capsys, "unknown dataset", "Fix:")
    assert sorted(p.relative_to(nnunet_work) for p in nnunet_work.rglob("*")) == before


def test_2d_dataset_asked_for_3d_fullres(planned_bus: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = plans_path(planned_bus).read_bytes()
    _expect_error(["search", "-d", planned_bus, "-c", "3d_fullres", "--device", "cpu", "--quiet"], capsys,
                  "'3d_fullres' is not in", "nnUNetv2_plan_and_preprocess -d 901 -c 3d_fullres")
    assert plans_path(planned_bus).read_bytes() == before


def test_plans_without_base_configuration(planned_bus: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A plans file holding only 3d_fullres (a 3D dataset) asked for 2d, and the other way round."""
    name = _plans_only_copy(planned_bus, "Dataset964_No2d", keep=("3d_fullres",))
    path = plans_path(name)
    before = path.read_bytes()
    _expect_error(["search", "-d", name, "-c", "2d", "--device", "cpu", "--quiet"], capsys,
                  "'2d' is not in", "nnUNetv2_plan_and_preprocess -d 964 -c 2d")
    _expect_error(["search", "-d", name, "-c", "3d_fullres", "--device", "cpu", "--quiet"], capsys,
                  "'3d_fullres' is not in")
    assert path.read_bytes() == before and not path.with_name(path.name + ".bak").exists()


@pytest.mark.parametrize("caps", [["8", "0"], ["-4"], ["16", "-1", "2"]])
def test_non_positive_caps_write_nothing(planned_bus: str, caps: list[str],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    before = plans_path(planned_bus).read_bytes()
    _expect_error(["search", "-d", planned_bus, "--caps", *caps, "--device", "cpu", "--quiet"], capsys,
                  "caps must be positive integers", "Fix:")
    assert plans_path(planned_bus).read_bytes() == before


def test_export_of_a_configuration_never_trained(planned_bus: str, capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path) -> None:
    _expect_error(["export", "-d", planned_bus, "-c", "2d_xtiny2", "-o", str(tmp_path / "out")], capsys,
                  "no trained model", "xtiny train -d")
    assert not (tmp_path / "out").exists()


class _Evil:
    """Unpickling this calls os.system (what a malicious checkpoint would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture()
def fake_trainer_folder(planned_bus: str):
    folder = nnunet_dirs().results / planned_bus / "nnUNetTrainer__nnUNetPlans__2d_rel"
    (folder / "fold_0").mkdir(parents=True, exist_ok=True)
    yield folder
    shutil.rmtree(folder)


def test_malicious_checkpoint_never_runs_code(fake_trainer_folder: Path, tmp_path: Path, planned_bus: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    from xtiny.nnunet.checkpoints import load_checkpoint

    marker = tmp_path / "pwned"
    ckpt = fake_trainer_folder / "fold_0" / "checkpoint_final.pth"
    torch.save({"network_weights": {}, "trainer_name": _Evil(marker)}, ckpt)
    with pytest.raises(XTinyError, match="cannot load checkpoint"):
        load_checkpoint(ckpt)
    assert not marker.exists()
    _expect_error(["export", "-d", planned_bus, "-c", "2d_rel", "-o", str(tmp_path / "out")], capsys,
                  "cannot load checkpoint", "checkpoint_final.pth")
    assert not marker.exists() and not (tmp_path / "out").exists()
    # the payload is live: an unrestricted load (what XTiny never does) would have run it
    torch.load(ckpt, weights_only=False)
    assert marker.exists()


def test_missing_and_foreign_checkpoint(fake_trainer_folder: Path, tmp_path: Path, planned_bus: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    argv = ["export", "-d", planned_bus, "-c", "2d_rel", "-o", str(tmp_path / "out")]
    _expect_error(argv, capsys, "checkpoint not found", "fold_0")
    torch.save({"state_dict": {"w": torch.zeros(2)}, "epoch": 3}, fake_trainer_folder / "fold_0" /
               "checkpoint_final.pth")  # e.g. a PyTorch Lightning checkpoint
    _expect_error(argv, capsys, "is not an nnU-Net checkpoint (no 'network_weights')")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- 3. untrusted content

# (file, pattern) pairs that are allowed, each for a stated reason (see RELIABILITY.md).
ALLOWED = {
    # cost.py pickles a model it built itself into a private temp dir and loads it in its own subprocess
    ("evaluation/cost.py", "weights_only=False"), ("evaluation/cost.py", "pickle.load"),
}
RISKY = {"eval(": re.compile(r"(?<![\w.])eval\("), "exec(": re.compile(r"(?<![\w.])exec\("),
         "pickle.load": re.compile(r"pickle\.loads?\(|load_pickle\("), "weights_only=False": re.compile(
             r"weights_only=False"), "yaml.load": re.compile(r"yaml\.(unsafe_)?load\(")}


def _code_lines(path: Path, *, strings: bool) -> dict[int, str]:
    """Source lines without comments (and without strings unless ``strings``), tokens joined without spaces."""
    import io
    import tokenize

    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    if not strings:
        skip.add(tokenize.STRING)
    lines: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline):
        if tok.type not in skip and tok.string:
            lines[tok.start[0]] = lines.get(tok.start[0], "") + tok.string
    return lines


def test_no_eval_or_unrestricted_unpickling_in_the_source() -> None:
    found = []
    for folder in ("xtiny", "datasets", "sensitivity", "evaluation"):
        for path in sorted((REPO / folder).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            code_only, with_strings = _code_lines(path, strings=False), _code_lines(path, strings=True)
            for name, pattern in RISKY.items():
                # eval( / exec( in code only (docstrings mention .eval()); unpickling also inside script strings
                lines = code_only if name in ("eval(", "exec(") else with_strings
                found += [f"{rel}:{n}: {code}" for n, code in lines.items()
                          if pattern.search(code) and (rel, name) not in ALLOWED]
    assert not found, "unsafe deserialization / eval of files:\n" + "\n".join(found)


def test_dataset_json_paths_cannot_escape(raw_bus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Absolute paths and symlinks are refused too (``..`` is in test_datasets_validate.py::_escape)."""
    outside = raw_bus.parent / "outside.png"
    shutil.copy(raw_bus / "imagesTr" / "synthbus_0000_0000.png", outside)
    meta = json.loads((raw_bus / "dataset.json").read_text())
    label = "labelsTr/synthbus_0000.png"
    for images in ([str(outside)], ["imagesTr/link.png"]):
        (raw_bus / "imagesTr" / "link.png").unlink(missing_ok=True)
        (raw_bus / "imagesTr" / "link.png").symlink_to(outside)
        (raw_bus / "dataset.json").write_text(json.dumps(
            {**meta, "numTraining": 1, "dataset": {"a": {"images": images, "label": label}}}))
        _expect_error(["datasets", "validate", str(raw_bus)], capsys, "outside the dataset folder")


def test_zip_archive_members_cannot_escape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Zip counterpart of test_datasets_convert.py::test_cli_convert_and_archive_safety (tar ``..``)."""
    import zipfile

    for member in ("/abs/escape.txt", "BUSBRA/../../escape.txt", "C:/escape.txt"):
        archive = tmp_path / "evil.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr(member, "x")
        _expect_error(["datasets", "convert", "busbra", str(archive), "--id", "965"], capsys,
                      f"unsafe member '{member}'")
    assert not (tmp_path.parent / "escape.txt").exists() and not (nnunet_dirs().raw / "Dataset965_BUSBRA").exists()


def test_bundle_manifest_cannot_point_outside(tmp_path: Path) -> None:
    """A forged manifest/preprocess.json naming files outside the bundle is refused (changed files: test_edge)."""
    from xtiny.edge import BundleError, load_bundle
    from xtiny.edge.bundle import sha256_of

    outside = tmp_path / "secret.onnx"
    outside.write_bytes(b"not yours")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "manifest.json").write_text(json.dumps({"files": {"../secret.onnx": {"sha256": sha256_of(outside)}}}))
    with pytest.raises(BundleError, match="outside the bundle"):
        load_bundle(bundle)
