"""INT8 fidelity and cost on trained XTiny nets: what ``xtiny export`` writes (fp32, INT8 QDQ and QOperator with
the segmentation head in fp32) plus, for comparison, QDQ with every convolution quantized.

    .venv/bin/python bench/bench_int8.py [--caps 8 16 32] [--epochs 12] [--iterations 50] [--val-cases 12]

Data: the synthetic bus dataset of ``bench_accuracy.py --budget small`` (id 960, 60 cases of 96x96, same work
folder, so its trained pick is reused). Each width is trained with the MONAI backend (epochs x iterations,
fold 0) unless a finished checkpoint exists, then exported with ``xtiny.export.pipeline.export_model``
(calibration: 16 training patches of fold 0). Dice of every format against the ground truth on fold 0's
validation cases (the same cases for all formats), its agreement with fp32, file size and 1-thread latency.
Writes ``bench/results/int8_cpu.json``. Check ``uptime`` first.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))



def main() -> int:
    from common import trained_widths_parser

    ap = trained_widths_parser(__doc__, [8, 16, 32])
    ap.add_argument("--val-cases", type=int, default=12)
    args = ap.parse_args()
    from bench_accuracy import BUDGETS, DATASET_ID
    from common import load_average, synthetic_dataset, trained_with_monai, write_result

    from xtiny.export.data import export_data
    from xtiny.export.evaluate import latency_ms, onnx_validation_dice
    from xtiny.export.pipeline import MODEL_FILES, ExportSettings, export_model
    from xtiny.export.quantize import quantize_int8
    from xtiny.family import add_width_family
    from xtiny.nnunet.trained import load_trained_model
    from xtiny.nnunet.width_names import width_configuration_name
    from xtiny.training.backends.trainer_classes import budget_trainer_name

    load_start, started = load_average(), time.perf_counter()
    work = Path(args.work)
    cases, size = BUDGETS["small"]["cases"], BUDGETS["small"]["size"]
    name = synthetic_dataset(work, "bus", DATASET_ID, cases, size)
    add_width_family(name, "2d", caps=args.caps)
    trainer = budget_trainer_name(args.epochs, args.iterations, 0, backend="monai")
    rows, details = [], {}
    for cap in args.caps:
        config = width_configuration_name("2d", cap)
        trained_with_monai(work, name, config, args.epochs, args.iterations)
        settings = ExportSettings(formats=("onnx", "int8"), trainer=trainer, max_val_cases=args.val_cases)
        report = export_model(name, config, 0, settings, output_dir=work / "int8" / config, log=lambda *_: None)
        m = report["metrics"]
        edge = work / "int8" / config / "edge"
        model = load_trained_model(name, config, 0, trainer=trainer)
        data = export_data(name, model.plans, config, 0)
        with tempfile.TemporaryDirectory() as tmp:
            every = quantize_int8(edge / MODEL_FILES["fp32"], Path(tmp) / "all_convs.onnx", data.calibration,
                                  float_logits=False)
            cases = data.validation_cases(args.val_cases)
            m |= onnx_validation_dice({"fp32": edge / MODEL_FILES["fp32"], "int8_all_convs": every}, cases, data.patch,
                                 len(model.dataset_json["labels"]))
            m["latency_ms_int8_all_convs"] = latency_ms(every, data.calibration[0], threads=1)
            m["size_bytes_int8_all_convs"] = every.stat().st_size
        details[config] = m
        for variant in ("fp32", "int8", "int8_qoperator", "int8_all_convs"):
            rows.append([config, variant, round(100 * m[f"dice_{variant}"], 2),
                         round(100 * (m[f"dice_{variant}"] - m["dice_fp32"]), 2),
                         "" if variant == "fp32" else round(100 * m[f"agreement_{variant}_vs_fp32"], 2),
                         round(m[f"size_bytes_{variant}"] / 1024, 1), round(m[f"latency_ms_{variant}"], 3),
                         m.get("recommended_model") == variant])
        print(f"[int8] {config}: " + ", ".join(f"{r[1]} {r[2]} ({r[3]:+})" for r in rows[-4:]), flush=True)
    notes = [
        f"Synthetic bus {name}: {cases} cases of {size}x{size}; MONAI backend {trainer}; validation: the first "
        f"{args.val_cases} held-out cases of fold 0; Dice = foreground Dice vs ground truth, mean over cases.",
        "int8 = QDQ and int8_qoperator = QOperator, as `xtiny export` writes them (per-channel int8 weights, uint8 "
        "activations, MinMax on 16 training patches, segmentation head in fp32); int8_all_convs = QDQ with the head "
        "quantized too (comparison only). Target: INT8 costs at most 1 Dice point.",
        f"Latency: median of 20 one-patch runs ({size}x{size}), onnxruntime, 1 thread. Wall {time.perf_counter() - started:.0f} s; "
        f"load average {load_start} at start, {load_average()} at end.",
    ]
    out = write_result("int8_cpu", f"INT8 vs fp32 on trained XTiny nets, synthetic bus {size}x{size}, cpu",
                       ["config", "format", "Dice %", "Δ vs fp32 (points)", "agreement with fp32 %", "KiB",
                        "latency ms", "recommended"], rows, notes=notes, dataset=name, trainer=trainer,
                       metrics=details)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
