"""`xtiny demo`: `xtiny run` on a synthetic dataset generated on the spot, with budgets for a 2-core CPU."""

from __future__ import annotations

import argparse

HELP = "the whole job on a built-in synthetic dataset (default < 15 min on a 2-core CPU, --quick < 5 min)"

DEMO_ID = 500
# kind, cases, size; then pick epochs x iterations, baseline epochs x iterations, probe K and seeds
PROFILES = {
    "default": {"cases": 60, "size": 128, "epochs": 8, "iterations": 50, "baseline_epochs": 2,
                "baseline_iterations": 25, "k": 32, "seeds": 3, "val_iterations": 5},
    "quick": {"cases": 30, "size": 96, "epochs": 3, "iterations": 40, "baseline_epochs": 1,
              "baseline_iterations": 10, "k": 16, "seeds": 1, "val_iterations": 2},
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="smaller data and budgets (< 5 minutes)")
    parser.add_argument("--kind", default="bus", help="synthetic kind (default bus: breast ultrasound)")
    parser.add_argument("--no-baseline", action="store_true", help="skip training the full nnU-Net 2d")


def run(args: argparse.Namespace) -> int:
    from xtiny.datasets.synth import generate_dataset
    from xtiny.pipeline import RunOptions, run_pipeline
    from xtiny.pipeline_stages import STAGES
    from xtiny.paths import nnunet_dirs

    p = PROFILES["quick" if args.quick else "default"]
    folder = generate_dataset(args.kind, dataset_id=DEMO_ID, num_cases=p["cases"], seed=0, size=p["size"],
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
