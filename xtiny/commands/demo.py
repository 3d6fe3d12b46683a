"""`xtiny demo`: `xtiny run` on a synthetic dataset generated on the spot, with budgets for a 2-core CPU."""

from __future__ import annotations

import argparse

HELP = "the whole job on a built-in synthetic dataset (default < 15 min on a 2-core CPU, --quick < 5 min)"

DEMO_IDS = {"default": 500, "quick": 501}  # separate datasets, so switching profiles never mixes results
# Budgets measured on the 2-core CI machine: cap-8 net at 128 px ~0.09 s/iteration, full 2d ~0.85 s/iteration.
# The tiny pick learns more slowly per iteration but each iteration is ~10x cheaper, so it gets 2.5x the
# iterations of the full nnU-Net 2d and still costs a third of its CPU time. The budgets are part of the trainer
# names (nnUNetTrainer_XTiny_{E}ep_{I}it_...) shown in the report; `xtiny run` gives both the same budget.
PROFILES = {
    "default": {"cases": 60, "size": 128, "epochs": 25, "iterations": 40, "baseline_epochs": 10,
                "baseline_iterations": 40, "k": 16, "seeds": 2, "val_iterations": 4},
    "quick": {"cases": 30, "size": 96, "epochs": 12, "iterations": 40, "baseline_epochs": 3,
              "baseline_iterations": 20, "k": 8, "seeds": 1, "val_iterations": 2},
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="smaller data and budgets (< 5 minutes)")
    parser.add_argument("--kind", default="bus", help="synthetic kind (default bus: breast ultrasound)")
    parser.add_argument("--no-baseline", action="store_true", help="skip training the full nnU-Net 2d")


def run(args: argparse.Namespace) -> int:
    from xtiny.datasets.synth import generate_dataset
    from xtiny.paths import nnunet_dirs
    from xtiny.pipeline import RunOptions, run_pipeline
    from xtiny.pipeline_stages import STAGES

    profile = "quick" if args.quick else "default"
    p = PROFILES[profile]
    folder = generate_dataset(args.kind, dataset_id=DEMO_IDS[profile], num_cases=p["cases"], seed=0, size=p["size"],
                              raw_dir=nnunet_dirs().raw, preview=True)
    print(f"[demo] synthetic '{args.kind}' dataset: {folder}")
    opts = RunOptions(dataset=folder.name, k=p["k"], seeds=p["seeds"], epochs=p["epochs"],
                      iterations_per_epoch=p["iterations"], val_iterations=p["val_iterations"],
                      with_baseline=not args.no_baseline, baseline_epochs=p["baseline_epochs"],
                      baseline_iterations_per_epoch=p["baseline_iterations"], num_processes=2)
    results = run_pipeline(opts, STAGES)
    print(f"[demo] pick: {results['search']['chosen']}")
    print(f"[demo] edge bundle: {results['export'].get('bundle_dir')}")
    print(f"[demo] report: {results['report']['report_path']}")
    return 0
