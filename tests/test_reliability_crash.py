"""Reliability (issue 10): crash safety (SIGKILL mid-search, killed training, full disk), determinism of the
search and resource guards of the probe's input loading. See RELIABILITY.md."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.test_reliability import _expect_error, _plans_only_copy
from xtiny.atomic import atomic_write_json
from xtiny.nnunet.plans import plans_path

XTINY = str(Path(sys.executable).with_name("xtiny"))
CAPS = ["32", "16", "8", "4", "2", "1"]


def _temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".tmp") or ".tmp" in p.suffixes)


# ---------------------------------------------------------------- full disk

def _enospc(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_full_disk_keeps_old_file_and_leaves_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from xtiny.errors import XTinyError

    target = tmp_path / "nnUNetPlans.json"
    atomic_write_json(target, {"v": 1})
    before = target.read_bytes()
    monkeypatch.setattr(os, "fsync", _enospc)
    with pytest.raises(XTinyError, match="no space left on device while writing .*nnUNetPlans.json"):
        atomic_write_json(target, {"v": 2}, backup=True)
    assert target.read_bytes() == before and _temp_files(tmp_path) == []
    assert not (tmp_path / "nnUNetPlans.json.bak").exists()


def test_full_disk_during_search_is_a_clear_error(planned_bus: str, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    name = _plans_only_copy(planned_bus, "Dataset966_Full", keep=("2d",))
    path = plans_path(name)
    before = path.read_bytes()
    monkeypatch.setattr(os, "fsync", _enospc)
    _expect_error(["search", "-d", name, "-k", "2", "--seeds", "1", "--caps", "8", "4", "--device", "cpu",
                   "--quiet"], capsys, "no space left on device", "nnUNetPlans.json", "previous file is unchanged")
    assert path.read_bytes() == before and _temp_files(path.parent) == []


# ---------------------------------------------------------------- SIGKILL during the search; determinism

def _cache_files(name: str) -> dict[str, int]:
    from xtiny.sensitivity.cache import cache_dir

    return {p.name: p.stat().st_mtime_ns for p in cache_dir(name).glob("*.json")}


def _comparable(result: dict) -> list[dict]:
    """Candidates without timings (the only fields allowed to differ between runs)."""
    return [{k: v for k, v in c.items() if k != "timings"} for c in result["candidates"]]


def test_killed_search_resumes_from_cache_with_same_pick(planned_bus: str) -> None:
    from xtiny.search import SearchSettings, run_search

    name = _plans_only_copy(planned_bus, "Dataset967_Kill", keep=("2d",))
    argv = [XTINY, "search", "-d", name, "-k", "2", "--seeds", "2", "--caps", *CAPS, "--device", "cpu", "--quiet"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 240
    try:
        while len(_cache_files(name)) < 8 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    killed = _cache_files(name)
    assert proc.returncode == -signal.SIGKILL and 8 <= len(killed), (len(killed), proc.stderr.read())
    plans = json.loads(plans_path(name).read_text())  # still valid JSON, family written completely
    assert {f"2d_xtiny{c}" for c in CAPS} <= set(plans["configurations"])
    from xtiny.sensitivity.cache import cache_dir

    for f in cache_dir(name).glob("*.json"):
        json.loads(f.read_text())

    resumed = run_search(name, settings=SearchSettings(k=2, seeds=2, device="cpu",
                                                       caps=[int(c) for c in CAPS]), progress=False)
    after = _cache_files(name)
    total = 6 + sum(len(c["seeds"]) for c in resumed["candidates"])  # 6 static records + every (candidate, seed)
    assert len(killed) < len(after) == total
    assert all(after[f] == mtime for f, mtime in killed.items()), "cached scores were recomputed"
    fresh = run_search(name, settings=SearchSettings(k=2, seeds=2, device="cpu", caps=[int(c) for c in CAPS],
                                                     use_cache=False), progress=False, write=False)
    assert resumed["chosen"] == fresh["chosen"]
    assert json.dumps(_comparable(resumed)) == json.dumps(_comparable(fresh))  # byte-identical scores on CPU
    saved = json.loads(Path(resumed["search_json"]).read_text())
    assert json.dumps(_comparable(saved)) == json.dumps(_comparable(fresh))


# ---------------------------------------------------------------- killed training → --continue

def test_killed_training_continues(planned_bus: str, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("xtiny.training.backends.nnunet_backend")
    from xtiny.cli import main
    from xtiny.family import add_width_family
    from xtiny.paths import nnunet_dirs

    add_width_family(planned_bus, "2d", caps=[2])
    budget = ["--epochs", "4", "--iterations", "2", "--val-iterations", "1", "--device", "cpu"]
    folder = nnunet_dirs().results / planned_bus / "nnUNetTrainer_XTiny_4ep_2it_1val__nnUNetPlans__2d_xtiny2"
    fold = folder / "fold_0"
    env = {**os.environ, "nnUNet_def_n_proc": "1"}
    proc = subprocess.Popen([XTINY, "train", "-d", planned_bus, "-c", "2d_xtiny2", *budget], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 240
    try:
        while not (fold / "checkpoint_latest.pth").is_file() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()[-2000:]
    assert not (fold / "checkpoint_final.pth").exists()
    from xtiny.nnunet.checkpoints import load_checkpoint

    assert load_checkpoint(fold / "checkpoint_latest.pth")["current_epoch"] >= 1  # never half-written
    assert main(["train", "-d", planned_bus, "-c", "2d_xtiny2", *budget, "--continue"]) == 0
    assert load_checkpoint(fold / "checkpoint_final.pth")["current_epoch"] == 4
    assert "trained 2d_xtiny2" in capsys.readouterr().out


# ---------------------------------------------------------------- resource guards of the probe's input loading

_MAKE_BIG = textwrap.dedent("""
    import json, sys
    import numpy as np
    from pathlib import Path
    from nnunetv2.training.dataloading.nnunet_dataset import nnUNetDatasetBlosc2

    root = Path(sys.argv[1])

    def unet(dims):  # the architecture entry nnU-Net's planner writes (plans without one are not nnU-Net plans)
        conv = {2: "torch.nn.modules.conv.Conv2d", 3: "torch.nn.modules.conv.Conv3d"}[dims]
        norm = {2: "torch.nn.modules.instancenorm.InstanceNorm2d", 3: "torch.nn.modules.instancenorm.InstanceNorm3d"}
        return {"network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
                "arch_kwargs": {"n_stages": 2, "features_per_stage": [8, 16], "conv_op": conv,
                                "kernel_sizes": [[3] * dims] * 2, "strides": [[1] * dims, [2] * dims],
                                "n_conv_per_stage": [1, 1], "n_conv_per_stage_decoder": [1], "conv_bias": True,
                                "norm_op": norm[dims], "norm_op_kwargs": {"eps": 1e-05, "affine": True},
                                "dropout_op": None, "dropout_op_kwargs": None, "nonlin": "torch.nn.LeakyReLU",
                                "nonlin_kwargs": {"inplace": True}},
                "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"]}

    plans = {"dataset_name": root.name, "plans_name": "nnUNetPlans", "configurations": {
        "2d": {"data_identifier": "big_2d", "patch_size": [64, 64], "architecture": unet(2)},
        "3d_fullres": {"data_identifier": "big_3d", "patch_size": [32, 32, 32], "architecture": unet(3)}}}
    (root / "nnUNetPlans.json").write_text(json.dumps(plans))
    for ident, shape in (("big_2d", (1, 1, 4096, 4096)), ("big_3d", (1, 512, 512, 512))):
        (root / ident).mkdir()
        data = np.zeros(shape, np.float32)
        data[..., ::7] = 1.0  # not all zeros: real chunks, not blosc2 special values
        nnUNetDatasetBlosc2.save_case(data, np.zeros(shape, np.int8), {"spacing": [1, 1, 1]},
                                      str(root / ident / "case0"))
""")

_MEASURE = textwrap.dedent("""
    import resource, sys
    from xtiny.sensitivity.inputs import load_probe_inputs
    import nnunetv2.training.dataloading.nnunet_dataset  # imports before the baseline
    import blosc2, torch  # noqa: F401

    def peak_mib():  # VmHWM belongs to this process image; ru_maxrss keeps the forking parent's peak across exec
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    base = peak_mib()
    a = load_probe_inputs(sys.argv[1], "2d", 4)
    b = load_probe_inputs(sys.argv[1], "3d_fullres", 4)
    grown = peak_mib() - base
    whole = blosc2.open(urlpath=str(b.data_folder) + "/case0.b2nd", mode="r")[:]  # control: a whole read shows
    control = peak_mib() - base
    print(a.images.shape, b.images.shape, round(control, 1), round(grown, 1))
""")


def test_huge_case_is_cropped_without_loading_it_whole(nnunet_work: Path) -> None:
    """A 4096x4096 image and a 512^3 volume (256 MiB / 512 MiB as float32) are read as their centre patch only."""
    root = nnunet_work / "preprocessed" / "Dataset968_Huge"
    root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "BLOSC_NTHREADS": "1"}
    subprocess.run([sys.executable, "-c", _MAKE_BIG, str(root)], check=True, env=env, timeout=300)
    out = subprocess.run([sys.executable, "-c", _MEASURE, root.name], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    line = out.stdout.strip().splitlines()[-1]
    assert line.startswith("(1, 1, 64, 64) (1, 1, 32, 32, 32)"), line
    grown_mib, control_mib = float(line.split()[-1]), float(line.split()[-2])
    assert control_mib >= 500, f"RSS measurement is blind: a whole 512 MiB read grew it by {control_mib} MiB"
    print(f"peak RSS growth {grown_mib} MiB (whole-volume control {control_mib} MiB)")
    # blosc2 decompresses whole chunks around the window (tens of MiB); a whole volume would be 512 MiB
    assert grown_mib < 400, f"peak RSS grew by {grown_mib} MiB (a whole 512^3 case is 512 MiB; limit 4 GiB)"
