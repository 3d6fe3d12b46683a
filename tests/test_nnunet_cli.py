"""nnU-Net's own CLI on a model `xtiny train` made, from a plain shell that follows the README: no nnU-Net variable
set, `eval "$(xtiny env)"`, then nnUNetv2_predict and nnUNetv2_train --c; predictions equal `xtiny predict`'s."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.export_fixtures import copy_raw_images
from xtiny.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
CONFIGURATION = "2d_xtiny4"


def readme_nnunet_commands() -> list[str]:
    """The lines of the README's "nnU-Net's own CLI" code block."""
    text = README.read_text()
    block = re.search(r"<!-- nnunet-cli -->\s*```bash\n(.*?)```", text, re.S)
    assert block, "README lacks the nnU-Net CLI block"
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_nnunet_cli_predicts_and_continues_an_xtiny_model(planned_bus: str, nnunet_work: Path, tmp_path: Path,
                                                          capsys) -> None:
    from PIL import Image

    from xtiny.export import ExportSettings, export_model
    from xtiny.export.evaluate import dice
    from xtiny.family import add_width_family
    from xtiny.nnunet.checkpoints import load_checkpoint
    from xtiny.nnunet.trained import find_trainer_folder

    add_width_family(planned_bus, "2d")
    assert main(["train", "-d", planned_bus, "-c", CONFIGURATION, "--epochs", "1", "--iterations", "10",
                 "--val-iterations", "1"]) == 0
    out = capsys.readouterr().out
    trainer = "nnUNetTrainer_XTiny_1ep_10it_1val"
    assert 'eval "$(xtiny env)"' in out and f"-c {CONFIGURATION} -f 0 -tr {trainer}" in out

    cases = ["synthbus_0000", "synthbus_0003"]
    inputs = copy_raw_images(planned_bus, cases, tmp_path / "in")
    shell_dir = tmp_path / "shell"
    shell_dir.mkdir()
    (shell_dir / "xtiny_work").symlink_to(nnunet_work)  # xtiny's default folders, as after `make demo`
    did = planned_bus[len("Dataset"):len("Dataset") + 3].lstrip("0")
    lines = [line.replace("INPUT_FOLDER", str(inputs)).replace("OUTPUT_FOLDER", str(tmp_path / "nnunet"))
             .replace(" 101 ", f" {did} ").replace("-d 101", f"-d {did}").replace("2d_xtiny8", CONFIGURATION)
             .replace("nnUNetTrainer_XTiny_100ep", trainer) for line in readme_nnunet_commands()]
    assert lines[0] == 'eval "$(xtiny env)"' and lines[1].startswith("nnUNetv2_predict") and "--c" in lines[2]
    env = {k: v for k, v in os.environ.items()
           if k not in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results", "nnUNet_extTrainer", "XTINY_WORK")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(["bash", "-c", " && ".join(lines)], cwd=shell_dir, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]

    fold = find_trainer_folder(planned_bus, CONFIGURATION, trainer) / "fold_0"
    checkpoint = load_checkpoint(fold / "checkpoint_final.pth")
    assert checkpoint["trainer_name"] == trainer and checkpoint["current_epoch"] == 1  # honest, and not retrained

    export_model(planned_bus, CONFIGURATION, 0, ExportSettings(formats=("onnx", "bundle"), trainer=trainer,
                                                               max_val_cases=1, calibration_patches=2),
                 output_dir=tmp_path / "export", log=lambda *_: None)
    assert main(["predict", str(tmp_path / "export"), "-i", str(inputs), "-o", str(tmp_path / "edge"),
                 "--mirroring"]) == 0  # nnUNetv2_predict mirrors; xtiny predict only when asked
    labels = [int(v) for v in range(1, 2)]
    for case in cases:
        ref = np.asarray(Image.open(tmp_path / "nnunet" / f"{case}.png"))
        ours = np.asarray(Image.open(tmp_path / "edge" / f"{case}.png"))
        assert ref.shape == ours.shape
        assert dice(ref, ours, labels) >= 0.99, case


def test_predict_names_the_bundle_inside_a_folder(tmp_path: Path, capsys) -> None:
    (tmp_path / "export" / "notes").mkdir(parents=True)
    assert main(["predict", str(tmp_path / "export"), "-i", str(tmp_path), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "is not an edge bundle" in err and "'edge' folder" in err
