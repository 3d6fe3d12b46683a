"""Shared fixtures. One nnU-Net work folder per test session; tiny synthetic datasets planned once.

nnU-Net's folders are set before any test runs, so every test sees real nnU-Net paths.
Dataset ids 900-999 are reserved for tests.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="xtiny-tests-"))
for _key, _env in (("raw", "nnUNet_raw"), ("preprocessed", "nnUNet_preprocessed"), ("results", "nnUNet_results")):
    os.environ[_env] = str(_SESSION_DIR / _key)
    (_SESSION_DIR / _key).mkdir(parents=True, exist_ok=True)
os.environ.setdefault("nnUNet_n_proc_DA", "0")  # no data-augmentation worker processes on the 2-core CI
os.environ.setdefault("nnUNet_compile", "false")
os.environ.setdefault("nnUNet_def_n_proc", "2")  # nnU-Net's final validation would spawn 8 workers on 2 cores
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def nnunet_work() -> Path:
    """The session's nnU-Net work folder (raw/, preprocessed/, results/)."""
    return _SESSION_DIR


_PLANNED: dict[tuple, str] = {}  # (kind, cases, size, configurations, seed) -> the dataset planned first


def planned_synthetic(kind: str, dataset_id: int, cases: int, size: int,
                      configurations: tuple[str, ...] = ("2d",), seed: int = 0) -> str:
    """A synthetic ``kind`` dataset in the session's nnU-Net folders, planned and preprocessed; its name.

    nnU-Net plans a given raw dataset the same way every time (its fingerprint sampler is seeded), so the second
    request for the same data gets a copy of the first one's raw and preprocessed folders under its own id, not a
    second 20-s planning. Each id's training results stay its own.
    """
    from xtiny.datasets.synth import generate_dataset
    from xtiny.nnunet.planning import plan_and_preprocess

    spec = (kind, cases, size, tuple(configurations), seed)
    folder = generate_dataset(kind, dataset_id=dataset_id, num_cases=cases, seed=seed, size=size,
                              raw_dir=Path(os.environ["nnUNet_raw"]))
    if spec in _PLANNED and _PLANNED[spec] != folder.name:
        return _copy_planned(_PLANNED[spec], folder.name)
    _PLANNED[spec] = plan_and_preprocess(dataset_id, configurations=configurations, num_processes=2)
    return _PLANNED[spec]


def _copy_planned(source: str, name: str) -> str:
    """``source``'s preprocessed folder as dataset ``name`` (whose raw folder holds the same data); ``name``."""
    import json
    import shutil

    target = Path(os.environ["nnUNet_preprocessed"]) / name
    shutil.copytree(Path(os.environ["nnUNet_preprocessed"]) / source, target)
    for file, key in (("nnUNetPlans.json", "dataset_name"), ("dataset.json", "name")):
        data = json.loads((target / file).read_text())
        if key in data:
            data[key] = name
        (target / file).write_text(json.dumps(data, indent=4))
    return name


@pytest.fixture(scope="session")
def planned_bus() -> str:
    """Synthetic breast-ultrasound dataset (id 901, 12 cases, 64x64), nnU-Net-planned and preprocessed for 2d."""
    return planned_synthetic("bus", 901, 12, 64, ("2d",))


@pytest.fixture(scope="session")
def planned_cardiac() -> str:
    """Synthetic multi-class cardiac MRI dataset (id 902, 12 cases, 64x64), planned and preprocessed for 2d."""
    return planned_synthetic("cardiac", 902, 12, 64, ("2d",))


@pytest.fixture(scope="session")
def trained_bus(planned_bus: str):
    """A width-capped config (cap 8) of ``planned_bus`` trained briefly with nnU-Net's own trainer (fold 0).

    Returns the ``TrainResult`` of ``xtiny.training.backends.nnunet_backend.train_nnunet``.
    """
    from xtiny.family import add_width_family
    from xtiny.training.backends.nnunet_backend import train_nnunet
    from xtiny.training.spec import TrainSpec

    configs = add_width_family(planned_bus, "2d")
    assert "2d_xtiny8" in configs
    return train_nnunet(planned_bus, "2d_xtiny8", TrainSpec(epochs=1, iterations_per_epoch=20, val_iterations=2))
