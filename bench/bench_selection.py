"""Selection quality: does the training-free pick land on the knee that training every width finds?

    .venv/bin/python bench/bench_selection.py [--budget small|paper] [--kinds bus cardiac ...] [--device cpu]
    .venv/bin/python bench/bench_selection.py --smoke      # seconds: proves the script runs, numbers mean nothing

For each synthetic kind (nnU-Net-planned 2d, a fresh dataset per kind in ``--work``):

1. Width search (``xtiny.search.run_search``, K images, 3 seeds) with the Jacobian probe and the other zero-cost
   proxies (NASWOT, SynFlow, GradNorm, SNIP, ZiCo) scored on the same networks and images.
2. Oracle sweep (``xtiny.training.sweep.run_sweep``, MONAI backend, one budget for all): every width cap below
   the base's widest stage, plus the full ``2d`` (which is identical to the widest cap, so that cap takes 2d's Dice).
3. Observed knee = smallest candidate whose validation Dice is within 1 point of the best.
4. Each selector's pick (Jacobian with the TV and PWL rules; every other proxy with the TV rule): its Dice gap to
   the best, its size relative to the observed knee, and the Spearman correlation of its scores with trained Dice
   over the family (log-parameters as the trivial reference).
5. Stability of the XTiny pick over 5 single initialization seeds and over K = 8/16/32/all probe images.

Writes ``bench/results/selection_<kind>_<device>.json`` (bench/common.write_result). Finished sweep jobs and probe
scores are reused from ``--work``, so an interrupted run resumes. Check ``uptime`` first.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

OTHER_PROXIES = ("naswot", "synflow", "gradnorm", "snip", "zico")
DATASET_IDS = {"bus": 970, "cardiac": 971, "derm": 972, "fundus": 973, "echo": 974}  # 2d kinds
# size (px), cases, epochs x iterations (MONAI backend), probe K, seeds (search), seeds of the other proxies,
# stability seeds, K values (0 = all cases). "small" is sized for ~10-15 min on 2 idle CPU cores.
BUDGETS = {
    "smoke": {"size": 64, "cases": 12, "epochs": 1, "iterations": 2, "k": 8, "seeds": 1, "proxy_seeds": 1,
              "stability_seeds": 2, "k_values": [4, 8, 0]},
    "small": {"size": 96, "cases": 40, "epochs": 8, "iterations": 50, "k": 32, "seeds": 3, "proxy_seeds": 1,
              "stability_seeds": 5, "k_values": [8, 16, 32, 0]},
    "paper": {"size": 256, "cases": 200, "epochs": 100, "iterations": 250, "k": 32, "seeds": 3, "proxy_seeds": 3,
              "stability_seeds": 5, "k_values": [8, 16, 32, 0]},
}


def spearman(scores: list, dice: list) -> float | None:
    """Spearman rank correlation (None when undefined: missing values or a constant side)."""
    from scipy.stats import spearmanr

    pairs = [(s, d) for s, d in zip(scores, dice, strict=True) if s is not None and d is not None
             and math.isfinite(s) and math.isfinite(d)]
    if len(pairs) < 3 or len({p[0] for p in pairs}) < 2 or len({p[1] for p in pairs}) < 2:
        return None
    rho = spearmanr([p[0] for p in pairs], [p[1] for p in pairs]).statistic
    return round(float(rho), 3) if math.isfinite(rho) else None


def family_dice(sweep: dict, search: dict) -> dict[str, dict]:
    """Per search candidate: params and trained Dice (a cap identical to ``2d`` takes 2d's trained Dice)."""
    trained = {r["configuration"]: r for r in sweep["candidates"]}
    base = trained.get(search["base_configuration"])
    out = {}
    for c in search["candidates"]:
        row = trained.get(c["name"])
        if row is None and base is not None and c["params"] == base["params"]:
            row = base
        out[c["name"]] = {"params": c["params"], "dice": None if row is None else row["dice"],
                          "train_seconds": None if row is None else row["train_seconds"]}
    return out


def selectors(search: dict, proxy_search: dict) -> dict[str, tuple[str, list]]:
    """name → (pick, per-candidate scores widest first) for the Jacobian rules and every other proxy (TV rule)."""
    from xtiny.sensitivity.knee import select_knee

    cands = search["candidates"]
    caps, names = [c["cap"] for c in cands], [c["name"] for c in cands]
    jac = [c["score"] for c in cands]
    out = {f"Jacobian probe, {rule} rule" + (" (XTiny)" if rule == search["rule"] else ""): (pick, jac)
           for rule, pick in search["picks_by_rule"].items()}
    for proxy in proxy_search["proxies"]:
        scores = [c["proxies"][proxy]["mean"] for c in proxy_search["candidates"]]
        finite = [float("nan") if s is None else float(s) for s in scores]
        pick = select_knee(caps, finite, names, rule="tv").chosen if any(map(math.isfinite, finite)) else None
        out[f"{proxy}, tv rule"] = (pick, scores)
    return out


def run_kind(kind: str, budget: dict, args) -> Path:
    from common import device_tag, load_average, synthetic_dataset, write_result

    from xtiny.search import run_search
    from xtiny.training.sweep import observed_knee, run_sweep

    load_start = load_average()
    t0 = time.perf_counter()
    name = synthetic_dataset(Path(args.work), kind, DATASET_IDS[kind], budget["cases"], budget["size"])
    prep_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    search = run_search(name, k=budget["k"], seeds=budget["seeds"], device=args.device, rule="tv", progress=False)
    proxy_search = run_search(name, k=budget["k"], seeds=list(range(budget["proxy_seeds"])), device=args.device,
                              proxies=OTHER_PROXIES, progress=False, write=False)
    search_s = time.perf_counter() - t0
    print(f"[selection] {kind}: search {search_s:.0f} s, pick {search['chosen']}", flush=True)

    base_params = max(c["params"] for c in search["candidates"])
    train_caps = [c["cap"] for c in search["candidates"] if c["params"] < base_params]
    t0 = time.perf_counter()
    sweep = run_sweep(name, epochs=budget["epochs"], backend="monai", caps=train_caps,
                      iterations_per_epoch=budget["iterations"], val_iterations=0, device=args.device,
                      jobs=args.jobs)
    sweep_s = time.perf_counter() - t0
    print(f"[selection] {kind}: sweep {sweep_s:.0f} s", flush=True)

    fam = family_dice(sweep, search)
    rows_for_knee = [{"configuration": n, **v} for n, v in fam.items()]
    knee = observed_knee(rows_for_knee)
    best_name = max((n for n in fam if fam[n]["dice"] is not None), key=lambda n: fam[n]["dice"], default=None)
    best = fam[best_name]["dice"] if best_name else None
    dice_list = [fam[c["name"]]["dice"] for c in search["candidates"]]

    def describe(label: str, pick: str | None, scores: list | None) -> list:
        entry = fam.get(pick) if pick else None
        dice = entry["dice"] if entry else None
        gap = None if dice is None or best is None else round(100 * (best - dice), 2)
        ratio = (round(entry["params"] / fam[knee]["params"], 3) if entry and knee else None)
        rho = spearman(scores, dice_list) if scores is not None else None
        return [label, pick, entry["params"] if entry else None, None if dice is None else round(100 * dice, 2),
                gap, ratio, rho]

    rows = [describe("oracle: observed knee (within 1 pt of best)", knee, None),
            describe("oracle: best trained Dice", best_name, None)]
    picks = selectors(search, proxy_search)
    rows += [describe(label, pick, scores) for label, (pick, scores) in picks.items()]
    log_params = [math.log10(c["params"]) for c in search["candidates"]]
    rows.append(["log10 params (reference, no pick)", None, None, None, None, None,
                 spearman(log_params, dice_list)])

    t0 = time.perf_counter()
    by_seed = {s: run_search(name, k=budget["k"], seeds=[s], device=args.device, write=False,
                             progress=False)["chosen"] for s in range(budget["stability_seeds"])}
    by_k = {}
    for k in budget["k_values"]:
        k_eff = k or 10**6
        res = run_search(name, k=k_eff, seeds=budget["seeds"], device=args.device, write=False, progress=False)
        by_k["all" if not k else str(k)] = {"k": res["k"], "chosen": res["chosen"]}
    stability_s = time.perf_counter() - t0
    seed_agree = sum(p == search["chosen"] for p in by_seed.values()) / len(by_seed)
    k_agree = sum(v["chosen"] == search["chosen"] for v in by_k.values()) / len(by_k)

    cand_header = ["configuration", "cap", "params", "GFLOPs", "trained Dice %", "train s", "Jacobian score",
                   *OTHER_PROXIES]
    cand_rows = [[c["name"], c["cap"], c["params"], round(c["flops"] / 1e9, 4),
                  None if fam[c["name"]]["dice"] is None else round(100 * fam[c["name"]]["dice"], 2),
                  fam[c["name"]]["train_seconds"], c["score"],
                  *[pc["proxies"][p]["mean"] for p in OTHER_PROXIES]]
                 for c, pc in zip(search["candidates"], proxy_search["candidates"], strict=True)]
    stab_rows = [[f"init seed {s} (K={search['k']})", p, p == search["chosen"]] for s, p in by_seed.items()]
    stab_rows += [[f"K={v['k']} ({key}), {budget['seeds']} seeds", v["chosen"], v["chosen"] == search["chosen"]]
                  for key, v in by_k.items()]
    tag = device_tag(args.device)
    budget_name = "smoke" if args.smoke else args.budget
    total = prep_s + search_s + sweep_s + stability_s
    notes = [
        f"Synthetic '{kind}' dataset {name}: {budget['cases']} cases of {budget['size']}x{budget['size']}, fold 0 "
        f"(validation Dice on its held-out cases); budget '{budget_name}': MONAI backend, {budget['epochs']} epochs "
        f"x {budget['iterations']} iterations for every width (same seed).",
        f"XTiny pick {search['chosen']} vs observed knee {knee}: "
        f"{'agree' if search['chosen'] == knee else 'differ'}; best Dice {None if best is None else round(100 * best, 2)}"
        f" % ({best_name}).",
        f"Pick stability: {seed_agree:.0%} of {len(by_seed)} single init seeds and {k_agree:.0%} of K values "
        f"{', '.join(by_k)} give the same pick.",
        "Gap = best Dice - pick's Dice (points); params ratio = pick params / observed-knee params; Spearman over "
        "the family's candidates (scores vs trained Dice; the widest cap equals 2d and takes its Dice).",
        f"Jacobian scores: mean of {budget['seeds']} init seeds; other proxies: {budget['proxy_seeds']} seed(s), same "
        "K images; those needing a loss use intensity-quantile pseudo-labels (label-free; sensitivity/proxies.py).",
        f"Wall time {total:.0f} s (prepare {prep_s:.0f}, search+proxies {search_s:.0f}, sweep {sweep_s:.0f}, "
        f"stability {stability_s:.0f}); load average {load_start} at start, {load_average()} at end.",
    ]
    if budget_name == "smoke":
        notes.insert(0, "SMOKE RUN: minimal sizes to prove the script works; the figures carry no meaning.")
    return write_result(
        f"selection_{kind}_{tag}" + ("_smoke" if budget_name == "smoke" else ""),
        f"Selection quality, synthetic {kind}, {budget['size']}x{budget['size']}, budget {budget_name}, {tag}",
        ["selector", "pick", "params", "trained Dice %", "gap to best (pts)", "params / knee params",
         "Spearman ρ (score vs Dice)"], rows, notes=notes,
        extra_tables=[{"title": "Family: trained Dice and zero-cost scores", "header": cand_header, "rows": cand_rows},
                      {"title": "Stability of the XTiny pick", "header": ["probe setting", "pick", "same as main"],
                       "rows": stab_rows}],
        dataset=name, budget=budget_name, budget_settings=budget, observed_knee=knee, xtiny_pick=search["chosen"],
        seed_agreement=seed_agree, k_agreement=k_agree, timings_s={"prepare": prep_s, "search": search_s,
                                                                   "sweep": sweep_s, "stability": stability_s},
        load_average_start=load_start, load_average_end=load_average())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", choices=["small", "paper"], default="small")
    ap.add_argument("--smoke", action="store_true", help="minimal sizes (seconds); results marked as smoke")
    ap.add_argument("--kinds", nargs="+", default=["bus"], choices=sorted(DATASET_IDS))
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    ap.add_argument("--jobs", type=int, default=1, help="sweep jobs in parallel (local process pool)")
    ap.add_argument("--work", default=None, help="work folder (default /tmp/xtiny-bench-selection-<budget>)")
    args = ap.parse_args()
    budget = BUDGETS["smoke" if args.smoke else args.budget]
    args.work = args.work or f"/tmp/xtiny-bench-selection-{'smoke' if args.smoke else args.budget}"
    os.environ.setdefault("MPLBACKEND", "Agg")
    for kind in args.kinds:
        path = run_kind(kind, budget, args)
        print(f"[selection] {kind}: wrote {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
