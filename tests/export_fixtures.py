"""Shared helpers for tests/test_export*.py, tests/test_edge*.py and the 3D end-to-end test: one exported model per
session, the edge predictor run with torch/nnunetv2/monai unimportable, and nnU-Net's own predictor."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# Runs `xtiny predict` with torch / nnunetv2 / monai (and the modules named in XTINY_TEST_BLOCK) made unimportable.
BLOCKED_RUN = """
import os, sys
BLOCKED = {'torch', 'nnunetv2', 'monai', 'scipy', 'SimpleITK', *os.environ.get('XTINY_TEST_BLOCK', '').split()}
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ImportError('blocked in the edge test: ' + name)
        return None
sys.meta_path.insert(0, _Block())
from xtiny.cli import main
code = main(sys.argv[1:])
leaked = [m for m in sys.modules if m.split('.')[0] in ('torch', 'nnunetv2', 'monai')]
assert not leaked, leaked
sys.exit(code)
"""


def edge_predict_without_torch(bundle: Path, inputs: Path, outputs: Path, *options: str,
                               block: str = "") -> subprocess.CompletedProcess:
    """``xtiny predict BUNDLE -i INPUTS -o OUTPUTS OPTIONS`` in a subprocess that cannot import torch (nor the
    space-separated modules in ``block``). OPTIONS default to ``--threads 1 --mirroring`` (as nnU-Net's predictor)."""
    import os

    env = {**os.environ, "XTINY_TEST_BLOCK": block}
    return subprocess.run([sys.executable, "-c", BLOCKED_RUN, "predict", str(bundle), "-i", str(inputs),
                           "-o", str(outputs), *(options or ("--threads", "1", "--mirroring"))],
                          capture_output=True, text=True, timeout=300, env=env)


def copy_raw_images(dataset: str, cases: list[str], folder: Path) -> Path:
    """The first channel's raw images (``CASE_0000.png``) of ``cases`` of ``dataset``, copied into ``folder``."""
    from xtiny.paths import nnunet_dirs

    folder.mkdir(parents=True, exist_ok=True)
    for case in cases:
        (folder / f"{case}_0000.png").write_bytes(
            (nnunet_dirs().raw / dataset / "imagesTr" / f"{case}_0000.png").read_bytes())
    return folder


def nnunet_predict(dataset: str, configuration: str, trainer: str, inputs: Path, outputs: Path) -> None:
    """nnU-Net's predictor (Gaussian sliding window, mirroring) on the fold-0 final checkpoint."""
    import torch
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    from xtiny.nnunet.trained import find_trainer_folder

    predictor = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=True,
                                device=torch.device("cpu"), allow_tqdm=False, verbose=False)
    predictor.initialize_from_trained_model_folder(str(find_trainer_folder(dataset, configuration, trainer)), (0,),
                                                   "checkpoint_final.pth")
    outputs.mkdir(parents=True, exist_ok=True)
    predictor.predict_from_files_sequential(str(inputs), str(outputs), False, True, None)


def exported_model(request, tmp_root: Path) -> dict:
    """Export the briefly trained ``trained_bus`` model (nnU-Net backend) to every format, once."""
    from xtiny.export import ExportSettings, export_model

    trained = request.getfixturevalue("trained_bus")
    dataset = request.getfixturevalue("planned_bus")
    out = tmp_root / "export"
    report = export_model(dataset, trained.configuration, 0,
                          ExportSettings(trainer=trained.trainer_name, max_val_cases=2, calibration_patches=4),
                          output_dir=out)
    return {"dataset": dataset, "configuration": trained.configuration, "trainer": trained.trainer_name,
            "out": out, "report": report}
