"""Edge predictor vs ``nnUNetv2_predict``: the same checkpoint, the same raw held-out cases, per-case Dice between
the two label maps (fp32, mirroring on for both).

    .venv/bin/python bench/bench_edge_agreement.py [--caps 16 8 32] [--cases 12]

Data and models: ``bench_accuracy.py --budget small``'s synthetic bus dataset (id 960, 96x96 PNG) and the widths
``bench_int8.py`` trains there (MONAI backend, 12 epochs x 50 iterations, fold 0; trained here when missing).
Each width is exported (``export_model``: ONNX + edge bundle), then both command lines run in child processes:
``xtiny predict BUNDLE -i IN -o OUT --threads 2 --mirroring`` (mirroring is off by default in ``xtiny predict``;
on here as in nnU-Net's predictor) and ``nnUNetv2_predict -i IN -o OUT -d 960 -c CONFIG -f 0 -tr
TRAINER -device cpu -npp 1 -nps 1``. Target: Dice >= 0.99 per case. Writes ``bench/results/edge_agreement_cpu.json``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))



def _timed(cmd: list[str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - started


def main() -> int:
    from common import trained_widths_parser

    ap = trained_widths_parser(__doc__, [16, 8, 32])
    ap.add_argument("--cases", type=int, default=12)
    args = ap.parse_args()
    import numpy as np
    from bench_accuracy import BUDGETS, DATASET_ID
    from common import load_average, synthetic_dataset, trained_with_monai, write_result
    from PIL import Image

    from xtiny.export.evaluate import dice
    from xtiny.export.pipeline import ExportSettings, export_model
    from xtiny.family import add_width_family
    from xtiny.nnunet.splits import fold_split
    from xtiny.nnunet.width_names import width_configuration_name
    from xtiny.paths import nnunet_dirs
    from xtiny.training.backends.trainer_classes import budget_trainer_name

    load_start = load_average()
    work = Path(args.work)
    name = synthetic_dataset(work, "bus", DATASET_ID, BUDGETS["small"]["cases"], BUDGETS["small"]["size"])
    add_width_family(name, "2d", caps=args.caps)
    trainer = budget_trainer_name(args.epochs, args.iterations, 0, backend="monai")
    folder = nnunet_dirs().preprocessed / name / "nnUNetPlans_2d"
    _, val_ids = fold_split(name, folder, 0)
    val_ids = sorted(val_ids)[:args.cases]
    rows, per_case = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "in"
        inputs.mkdir()
        for case in val_ids:
            shutil.copy(nnunet_dirs().raw / name / "imagesTr" / f"{case}_0000.png", inputs)
        for cap in args.caps:
            config = width_configuration_name("2d", cap)
            trained_with_monai(work, name, config, args.epochs, args.iterations)
            out = Path(tmp) / config
            export_model(name, config, 0, ExportSettings(formats=("onnx", "bundle"), trainer=trainer, max_val_cases=2),
                         output_dir=out / "export", log=lambda *_: None)
            edge_s = _timed([sys.executable, "-m", "xtiny", "predict", str(out / "export" / "edge"), "-i",
                             str(inputs), "-o", str(out / "edge"), "--threads", "2", "--mirroring"])
            nnunet_s = _timed([str(Path(sys.executable).parent / "nnUNetv2_predict"), "-i", str(inputs), "-o",
                               str(out / "nnunet"), "-d", str(DATASET_ID), "-c", config, "-f", "0", "-tr", trainer,
                               "-device", "cpu", "-npp", "1", "-nps", "1", "--disable_progress_bar"])
            scores, empty = {}, 0
            for case in val_ids:
                ref = np.asarray(Image.open(out / "nnunet" / f"{case}.png"))
                ours = np.asarray(Image.open(out / "edge" / f"{case}.png"))
                scores[case] = dice(ref, ours, [1]) if ref.shape == ours.shape else 0.0
                empty += int(not ref.any())
            per_case[config] = scores
            values = list(scores.values())
            rows.append([config, len(values), round(min(values), 4), round(float(np.mean(values)), 4),
                         sum(v >= 0.99 for v in values), empty, round(edge_s, 1), round(nnunet_s, 1)])
            print(f"[agreement] {config}: min {min(values):.4f}, mean {np.mean(values):.4f}", flush=True)
    notes = [f"Synthetic bus {name}: the first {len(val_ids)} held-out raw PNGs of fold 0; {trainer}; both "
             "predictors with Gaussian sliding window and mirroring, fp32. Dice of the foreground between the two "
             "label maps (empty vs empty counts 1).",
             "Wall seconds of each whole command (start-up included; xtiny predict with 2 threads, --engine auto, "
             "nnUNetv2_predict with torch's default threads and -npp 1 -nps 1): for orientation, not a speed claim.",
             f"Load average {load_start} at start, {load_average()} at end."]
    path = write_result("edge_agreement_cpu", "Edge predictor vs nnUNetv2_predict, same checkpoint, per-case Dice",
                        ["config", "cases", "min Dice", "mean Dice", "cases >= 0.99", "nnU-Net empty", "xtiny predict s",
                         "nnUNetv2_predict s"], rows, notes=notes, dataset=name, trainer=trainer, per_case=per_case)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
