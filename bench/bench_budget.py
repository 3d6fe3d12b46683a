"""Is the collapse in a selection sweep a training-budget artefact? Trains the narrow widths of a
``bench_selection.py`` dataset with several budgets and puts their validation Dice side by side.

    .venv/bin/python bench/bench_budget.py [--kind cardiac] [--caps 32 16 8 4] [--epochs 8 32] [--iterations 50]

Same dataset, fold and MONAI backend as ``bench_selection.py --budget small`` (its finished jobs are reused: the
8-epoch column is that bench's sweep). Tiny nets converge more slowly, so a short budget can make a width look
collapsed that a longer one trains well; the width search never sees training, so this tells how far a
small-budget oracle can be trusted to judge its pick. Writes ``bench/results/budget_<kind>_cpu.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kind", default="cardiac")
    ap.add_argument("--caps", type=int, nargs="+", default=[32, 16, 8, 4])
    ap.add_argument("--epochs", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--work", default="/tmp/xtiny-bench-selection-small")
    args = ap.parse_args()
    from bench_selection import BUDGETS, DATASETS
    from common import load_average, synthetic_dataset, write_result

    from xtiny.artifacts import search_json_path
    from xtiny.records.width_search import read_search_record
    from xtiny.training.schedules.sweep import run_sweep
    from xtiny.training.spec import TrainSpec

    load_start, started = load_average(), time.perf_counter()
    budget = BUDGETS["small"]
    name = synthetic_dataset(Path(args.work), args.kind, DATASETS[args.kind][1], budget["cases"], budget["size"])
    search = search_json_path(name, "2d")
    pick = read_search_record(search).chosen if search.is_file() else None
    dice: dict[str, dict[int, float | None]] = {}
    params: dict[str, int] = {}
    for epochs in args.epochs:
        spec = TrainSpec(backend="monai", epochs=epochs, iterations_per_epoch=args.iterations, val_iterations=0)
        sweep = run_sweep(name, spec, caps=args.caps, include_base=False)
        for row in sweep["candidates"]:
            dice.setdefault(row["configuration"], {})[epochs] = row.get("dice")
            params[row["configuration"]] = row["params"]
        print(f"[budget] {args.kind}: {epochs} epochs done", flush=True)
    rows = [[config + (" (probe pick)" if config == pick else ""), params[config],
             *[None if dice[config].get(e) is None else round(100 * dice[config][e], 2) for e in args.epochs]]
            for config in sorted(dice, key=lambda c: -params[c])]
    notes = [f"Synthetic '{args.kind}' {name} ({budget['cases']} cases of {budget['size']}x{budget['size']}), fold 0 "
             f"validation Dice, MONAI backend, {args.iterations} iterations per epoch, same seed for every job.",
             f"Wall {time.perf_counter() - started:.0f} s (finished jobs reused); load average {load_start} at start, "
             f"{load_average()} at end."]
    out = write_result(f"budget_{args.kind}_cpu", f"Collapse vs training budget, synthetic {args.kind}, cpu",
                       ["configuration", "params", *[f"Dice % at {e} epochs" for e in args.epochs]], rows,
                       notes=notes, dataset=name, probe_pick=pick)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
