"""Selection quality: does the training-free pick (and the confirmed pick) land on the knee that training every
width finds? Eight datasets, two budgets.

    .venv/bin/python bench/bench_selection.py [--budgets small small4x] [--datasets bus cardiac mni ...]
    .venv/bin/python bench/bench_selection.py --smoke      # minutes: proves the script runs, numbers mean nothing

Datasets: the 2D synthetic kinds (bus, derm, fundus, echo, cardiac), brain3d at 3d_fullres (synthetic, region-based),
and three real ones that install offline: mni (nilearn's MNI152, 2 mm), colin27 (Colin27 T1 + AAL lobes, every
second voxel in-plane) and lungct (6 lung-cancer patients' CT slices with tumour, 2 mm in-plane, folds by patient;
its results add each validation patient's Dice). For each dataset (fresh, in ``--work``):

1. Width search (``xtiny.search.run_search``, K images, 3 seeds) with the Jacobian probe and the other zero-cost
   proxies (NASWOT, SynFlow, GradNorm, SNIP, ZiCo) on the same networks and images (once per dataset).
2. Per budget, the oracle sweep (``run_sweep``; MONAI backend for 2d, nnU-Net for 3d_fullres; one budget for all):
   every width cap below the base's widest stage, plus the full base configuration.
3. Observed knee = smallest candidate whose validation Dice is within 1 point of the best.
4. Confirm (``xtiny.training.schedules.confirm.run_confirm``, tolerance 1 point, 3 steps) at the same budget: it reads the
   sweep's trainings back, and its extra cost is what those trainings took (their logged seconds), next to one
   full-size training at the same budget.
5. Each selector's pick (Jacobian TV (XTiny) and PWL rules, the confirmed pick, every other proxy with the TV rule,
   and two size-only baselines: the TV rule on log10(parameters) and on log10(FLOPs)): its Dice gap to the best,
   its size over the knee's, and the Spearman correlation of its scores with trained Dice.
6. Stability of the XTiny pick over 5 single initialization seeds and over K = 8/16/32/all (first budget only).

Writes ``bench/results/selection_<dataset>_<budget>_<device>.json`` per dataset and budget, then
``selection_summary_<device>.json`` (one table across datasets) and ``selection_panels_<device>.png`` (one
Dice-vs-params panel per dataset, every pick marked). Finished sweep jobs and probe scores are reused from
``--work``, so an interrupted run resumes. Check ``uptime`` first.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

OTHER_PROXIES = ("naswot", "synflow", "gradnorm", "snip", "zico")
# name -> (source, dataset id, base configuration); ids live in the bench's own work folder
DATASETS = {"bus": ("synth", 970, "2d"), "cardiac": ("synth", 971, "2d"), "derm": ("synth", 972, "2d"),
            "fundus": ("synth", 973, "2d"), "echo": ("synth", 974, "2d"), "brain3d": ("synth", 975, "3d_fullres"),
            "mni": ("mni", 981, "2d"), "colin27": ("colin27", 982, "2d"), "lungct": ("lungct", 984, "2d")}
LUNGCT_IN_PLANE_STEP = 2  # lungct's slices on a 2 mm grid (~100 px), the size of the synthetic 96 px budgets
# size (px; synthetic only), cases (synthetic only), epochs x iterations per width, probe K, seeds (search), seeds of
# the other proxies, stability seeds, K values (0 = all cases). "small" is sized for ~10-15 min per 2d dataset on
# 2 idle CPU cores; "small4x" is 4x its epochs.
BUDGETS = {
    "smoke": {"size": 48, "cases": 10, "epochs": 1, "iterations": 2, "k": 4, "seeds": 1, "proxy_seeds": 1,
              "stability_seeds": 2, "k_values": [4, 0]},
    "small": {"size": 96, "cases": 40, "epochs": 8, "iterations": 50, "k": 32, "seeds": 3, "proxy_seeds": 1,
              "stability_seeds": 5, "k_values": [8, 16, 32, 0]},
    "small4x": {"size": 96, "cases": 40, "epochs": 32, "iterations": 50, "k": 32, "seeds": 3, "proxy_seeds": 1,
                "stability_seeds": 5, "k_values": [8, 16, 32, 0]},
    # a lent GPU's one short lease (~7 min of command time): 256 px, 200 cases, 4 x 250 iterations per width;
    # stability trimmed to 3 seeds and K = 16 / all so three datasets fit side by side
    "gpu1k": {"size": 256, "cases": 200, "epochs": 4, "iterations": 250, "k": 32, "seeds": 3, "proxy_seeds": 3,
              "stability_seeds": 3, "k_values": [16, 0]},
    "paper": {"size": 256, "cases": 200, "epochs": 100, "iterations": 250, "k": 32, "seeds": 3, "proxy_seeds": 3,
              "stability_seeds": 5, "k_values": [8, 16, 32, 0]},
}
SIZE_3D = 32  # brain3d volumes (size^3) at every budget but paper


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


def prepare_dataset(label: str, budget: dict, work: Path) -> str:
    """The dataset ``label`` in ``work``, nnU-Net-planned and preprocessed for its base configuration (reused)."""
    from common import use_work_dir

    from xtiny.nnunet.planning import plan_and_preprocess

    source, dataset_id, base = DATASETS[label]
    use_work_dir(work)
    raw = work / "raw"
    if not any(raw.glob(f"Dataset{dataset_id:03d}_*")):
        if source == "synth":
            from xtiny.datasets.synth import generate_dataset

            size = budget["size"] if base == "2d" else min(budget["size"], SIZE_3D)
            generate_dataset(label, dataset_id=dataset_id, num_cases=budget["cases"], seed=0, size=size, raw_dir=raw)
        elif source == "mni":
            from xtiny.datasets.mni import build_mni_dataset

            build_mni_dataset(raw_dir=raw, dataset_id=dataset_id, resolution=2)
        elif source == "lungct":  # the 3D volumes take dataset_id - 1, the 2D slices (trained here) dataset_id
            from xtiny.datasets.lungct import build_lungct_dataset

            build_lungct_dataset(raw_dir=raw, dataset_id=dataset_id - 1, in_plane_step=LUNGCT_IN_PLANE_STEP)
        else:
            from xtiny.datasets.colin27 import build_colin27_dataset

            build_colin27_dataset(raw_dir=raw, dataset_id=dataset_id, in_plane_step=2)
    return plan_and_preprocess(dataset_id, configurations=(base,), num_processes=min(8, os.cpu_count() or 2))


def searches(name: str, base: str, budget: dict, device: str) -> tuple[dict, dict]:
    """The XTiny search (written) and the same family scored by every other proxy (not written)."""
    from xtiny.search import SearchSettings, run_search

    # fixed K and seeds (confidence None), as the committed results were measured; bench_stop_rule.py measures the
    # stop rule against these datasets' K=all picks
    search = run_search(name, base, SearchSettings(k=budget["k"], seeds=budget["seeds"], device=device,
                                                   rule="tv", confidence=None), progress=False)
    proxy_search = run_search(name, base, SearchSettings(k=budget["k"], seeds=list(range(budget["proxy_seeds"])),
                                                         device=device, proxies=OTHER_PROXIES, confidence=None),
                              progress=False, write=False)
    return search, proxy_search


def stability(name: str, base: str, budget: dict, device: str, chosen: str) -> dict:
    """The XTiny pick over single init seeds and over K values."""
    from xtiny.search import SearchSettings, run_search

    by_seed = {s: run_search(name, base, SearchSettings(k=budget["k"], seeds=[s], device=device, confidence=None),
                             write=False, progress=False)["chosen"] for s in range(budget["stability_seeds"])}
    by_k = {}
    for k in budget["k_values"]:
        res = run_search(name, base, SearchSettings(k=k or 10**6, seeds=budget["seeds"], device=device,
                                                    confidence=None), write=False, progress=False)
        by_k["all" if not k else str(k)] = {"k": res["k"], "chosen": res["chosen"]}
    rows = [[f"init seed {s}", p, p == chosen] for s, p in by_seed.items()]
    rows += [[f"K={v['k']} ({key}), {budget['seeds']} seeds", v["chosen"], v["chosen"] == chosen]
             for key, v in by_k.items()]
    return {"rows": rows, "seed_agreement": sum(p == chosen for p in by_seed.values()) / len(by_seed),
            "k_agreement": sum(v["chosen"] == chosen for v in by_k.values()) / len(by_k)}


def size_picks(search: dict) -> dict[str, tuple[str, list]]:
    """The size-only baselines: the XTiny rule applied to log10(parameters) and to log10(FLOPs)."""
    from xtiny.sensitivity.knee import select_knee

    cands = search["candidates"]
    caps, names = [c["cap"] for c in cands], [c["name"] for c in cands]
    out = {}
    for key, label in (("params", "size only: log10 params, tv rule"), ("flops", "size only: log10 FLOPs, tv rule")):
        scores = [math.log10(c[key]) for c in cands]
        out[label] = (select_knee(caps, scores, names, rule=search["rule"]).chosen, scores)
    return out


def run_dataset_budget(label: str, budget_name: str, args, cache: dict) -> Path:
    """Sweep, confirm and compare every selector for one dataset at one budget; write its result JSON."""
    from common import device_tag, few_patients_note, load_average, patient_dice_of, write_result

    from xtiny.commands.sweep import executor_from_args
    from xtiny.training.schedules.confirm import run_confirm
    from xtiny.training.schedules.sweep import observed_knee, run_sweep
    from xtiny.training.spec import TrainSpec

    budget = BUDGETS[budget_name]
    load_start = load_average()
    _, _, base = DATASETS[label]
    backend = "monai" if base == "2d" else "nnunet"
    val_its = 0 if backend == "monai" else 1
    if label not in cache:  # search, proxies and stability do not depend on the training budget
        t0 = time.perf_counter()
        name = prepare_dataset(label, budget, Path(args.work))
        search, proxy_search = searches(name, base, budget, args.device)
        stable = stability(name, base, budget, args.device, search["chosen"])
        cache[label] = {"name": name, "search": search, "proxy_search": proxy_search, "stability": stable,
                        "search_s": time.perf_counter() - t0}
        print(f"[selection] {label}: search {cache[label]['search_s']:.0f} s, pick {search['chosen']}", flush=True)
    name, search, proxy_search = cache[label]["name"], cache[label]["search"], cache[label]["proxy_search"]

    base_params = max(c["params"] for c in search["candidates"])
    train_caps = [c["cap"] for c in search["candidates"] if c["params"] < base_params]
    t0 = time.perf_counter()
    spec = TrainSpec(backend=backend, epochs=budget["epochs"], iterations_per_epoch=budget["iterations"],
                     val_iterations=val_its, device=args.device)
    sweep = run_sweep(name, spec, executor=executor_from_args(args), caps=train_caps, base_configuration=base)
    sweep_s = time.perf_counter() - t0
    confirm = run_confirm(name, base, spec, log=lambda *_: None)
    print(f"[selection] {label} {budget_name}: sweep {sweep_s:.0f} s; confirmed {confirm['confirmed']}", flush=True)

    fam = family_dice(sweep, search)
    knee = observed_knee([{"configuration": n, **v} for n, v in fam.items()])
    best_name = max((n for n in fam if fam[n]["dice"] is not None), key=lambda n: fam[n]["dice"], default=None)
    best = fam[best_name]["dice"] if best_name else None
    dice_list = [fam[c["name"]]["dice"] for c in search["candidates"]]
    base_row = next((r for r in sweep["candidates"] if r["configuration"] == base), {})
    full_s = base_row.get("logged_seconds")

    def describe(selector: str, pick: str | None, scores: list | None) -> list:
        entry = fam.get(pick) if pick else None
        dice = entry["dice"] if entry else None
        gap = None if dice is None or best is None else round(100 * (best - dice), 2)
        ratio = round(entry["params"] / fam[knee]["params"], 3) if entry and knee else None
        rho = spearman(scores, dice_list) if scores is not None else None
        return [selector, pick, entry["params"] if entry else None, None if dice is None else round(100 * dice, 2),
                gap, ratio, rho]

    rows = [describe("oracle: observed knee (within 1 pt of best)", knee, None),
            describe("oracle: best trained Dice", best_name, None)]
    rows += [describe(sel, pick, scores) for sel, (pick, scores) in selectors(search, proxy_search).items()]
    rows.append(describe("confirmed pick (XTiny + confirm)", confirm["confirmed"], None))
    rows += [describe(sel, pick, scores) for sel, (pick, scores) in size_picks(search).items()]

    extra_s = confirm["costs"]["extra_s"]
    confirm_info = {"probe_pick": confirm["probe_pick"], "confirmed": confirm["confirmed"],
                    "trail": confirm["trail"], "extra_seconds": extra_s, "full_size_seconds": full_s,
                    "extra_over_full_size": round(extra_s / full_s, 3) if full_s else None,
                    "trainings": sorted(confirm["trainings"])}
    cand_header = ["configuration", "cap", "params", "GFLOPs", "trained Dice %", "train s", "Jacobian score",
                   *OTHER_PROXIES]
    cand_rows = [[c["name"], c["cap"], c["params"], round(c["flops"] / 1e9, 4),
                  None if fam[c["name"]]["dice"] is None else round(100 * fam[c["name"]]["dice"], 2),
                  fam[c["name"]]["train_seconds"], c["score"],
                  *[pc["proxies"][p]["mean"] for p in OTHER_PROXIES]]
                 for c, pc in zip(search["candidates"], proxy_search["candidates"], strict=True)]
    stable = cache[label]["stability"]
    tag = device_tag(args.device)
    by_name = {r["configuration"]: r for r in sweep["candidates"]}
    per_patient = {c["name"]: patient_dice_of(name, (by_name.get(c["name"]) or by_name.get(base) or {})
                                              .get("checkpoint", "")) for c in search["candidates"]}
    per_patient = {n: v for n, v in per_patient.items() if v}
    few = few_patients_note(name)
    notes = [
        f"{label} ({name}, base {base}); budget '{budget_name}': {backend} backend, {budget['epochs']} epochs x "
        f"{budget['iterations']} iterations for every width (same seed), fold 0 validation Dice.",
        f"XTiny pick {search['chosen']}, confirmed {confirm['confirmed']} ({confirm['stopped_because']}), observed "
        f"knee {knee}; best Dice {None if best is None else round(100 * best, 2)} % ({best_name}).",
        f"Confirm: {len(confirm['trainings'])} trainings read back from the sweep; extra cost {extra_s:.0f} s "
        f"(their logged training time, the confirmed width's own excluded) vs one full-size {base} training "
        f"{'n/a' if not full_s else f'{full_s:.0f} s'}"
        f"{'' if not full_s else f' = {100 * extra_s / full_s:.0f} %'}.",
        f"Pick stability: {stable['seed_agreement']:.0%} of single init seeds and {stable['k_agreement']:.0%} of K "
        "values give the same pick.",
        "Gap = best Dice - pick's Dice (points); params ratio = pick params / observed-knee params; Spearman over "
        "the family (scores vs trained Dice; the widest cap equals the base and takes its Dice).",
        f"Wall time: search+proxies+stability {cache[label]['search_s']:.0f} s (once per dataset), sweep "
        f"{sweep_s:.0f} s; load average {load_start} at start, {load_average()} at end.",
    ]
    if few:
        notes.insert(0, few)
    if budget_name == "smoke":
        notes.insert(0, "SMOKE RUN: minimal sizes to prove the script works; the figures carry no meaning.")
    patients = sorted({p for v in per_patient.values() for p in v})
    patient_tables = [{"title": "Per patient: trained Dice % of each width on each validation patient (slices pooled)",
                       "header": ["configuration", *patients],
                       "rows": [[n, *[v.get(p) for p in patients]] for n, v in per_patient.items()]}] if patients else []
    return write_result(
        f"selection_{label}_{tag}_smoke" if budget_name == "smoke" else f"selection_{label}_{budget_name}_{tag}",
        f"Selection quality, {label}, budget {budget_name}, {tag}",
        ["selector", "pick", "params", "trained Dice %", "gap to best (pts)", "params / knee params",
         "Spearman ρ (score vs Dice)"], rows, notes=notes,
        extra_tables=[{"title": "Family: trained Dice and zero-cost scores", "header": cand_header, "rows": cand_rows},
                      {"title": "Stability of the XTiny pick", "header": ["probe setting", "pick", "same as main"],
                       "rows": stable["rows"]}, *patient_tables],
        dataset=name, dataset_label=label, base_configuration=base, budget=budget_name, budget_settings=budget,
        observed_knee=knee, best=best_name, xtiny_pick=search["chosen"], confirm=confirm_info,
        family=[{"configuration": n, **v, **({"per_patient": per_patient[n]} if n in per_patient else {})}
                for n, v in fam.items()],
        seed_agreement=stable["seed_agreement"], k_agreement=stable["k_agreement"],
        timings_s={"search": cache[label]["search_s"], "sweep": sweep_s},
        load_average_start=load_start, load_average_end=load_average())


def summarize(tag: str) -> Path | None:
    """One table across every dataset and budget measured on ``tag``, and the figure of Dice-vs-params panels."""
    from common import RESULTS, write_result

    results = [json.loads(p.read_text()) for p in sorted(RESULTS.glob(f"selection_*_{tag}*.json"))
               if not p.name.startswith("selection_summary")]
    results = [r for r in results if "confirm" in r]
    smoke = not any(r.get("budget") != "smoke" for r in results)
    results = [r for r in results if (r.get("budget") == "smoke") == smoke]
    if not results:
        return None
    rows = []
    for r in results:
        table = {row[0]: row for row in r["table"]["rows"]}
        xt = next(v for k, v in table.items() if k.endswith("(XTiny)"))
        conf = table["confirmed pick (XTiny + confirm)"]
        sizes = [v for k, v in table.items() if k.startswith("size only: log10 params")]
        rhos = {k: v[6] for k, v in table.items() if v[6] is not None}
        rows.append([r["dataset_label"], r["budget"], r["observed_knee"], xt[1], xt[4], xt[5], conf[1], conf[4],
                     conf[5], r["confirm"]["extra_over_full_size"], sizes[0][1] if sizes else None,
                     sizes[0][4] if sizes else None, xt[6], rhos.get("size only: log10 params, tv rule")])
    suffix = "_smoke" if smoke else ""
    figure = plot_panels(results, RESULTS / f"selection_panels_{tag}{suffix}.png")
    ok = [row for row in rows if row[7] is not None]
    notes = [f"Figure (one Dice-vs-params panel per dataset and budget; circles: observed knee, XTiny pick, "
             f"confirmed pick, params-only pick): ![selection panels](bench/results/{figure.name})",
             f"Confirmed pick within 1 Dice point of the best width: {sum(r[7] <= 1.0 for r in ok)} of {len(ok)}; "
             f"at most 4x the knee's parameters: {sum((r[8] or 0) <= 4 for r in ok)} of {len(ok)}; extra training "
             f"<= 30 % of one full-size training: {sum((r[9] or 9) <= 0.3 for r in ok)} of {len(ok)}.",
             "Each row comes from its own selection_<dataset>_<budget> result (machine and command there)."]
    return write_result(f"selection_summary_{tag}{suffix}", f"Selection quality across datasets ({tag})",
                        ["dataset", "budget", "observed knee", "XTiny pick", "gap (pts)", "params/knee",
                         "confirmed", "gap (pts)", "params/knee", "confirm extra / full-size training",
                         "params-only pick", "gap (pts)", "ρ Jacobian", "ρ log10 params"], rows, notes=notes)


def plot_panels(results: list[dict], path: Path) -> Path:
    """One panel per result: trained Dice vs parameters of the width family, the picks circled."""
    from xtiny.plotting import pyplot, save_png

    plt = pyplot()
    cols = min(4, len(results))
    rows_n = math.ceil(len(results) / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(3.4 * cols, 2.8 * rows_n), squeeze=False)
    marks = (("observed_knee", "tab:green", "knee", 150), ("xtiny_pick", "tab:red", "XTiny", 90),
             ("confirmed", "tab:purple", "confirmed", 230), ("params_pick", "tab:gray", "params-only", 320))
    for ax, r in zip(axes.flat, results, strict=False):
        fam = sorted((f for f in r["family"] if f.get("dice") is not None), key=lambda f: f["params"])
        ax.plot([f["params"] for f in fam], [100 * f["dice"] for f in fam], "o-", ms=3, color="tab:blue")
        table = {row[0]: row for row in r["table"]["rows"]}
        picks = {"observed_knee": r["observed_knee"], "xtiny_pick": r["xtiny_pick"],
                 "confirmed": r["confirm"]["confirmed"],
                 "params_pick": table.get("size only: log10 params, tv rule", [None, None])[1]}
        for key, colour, label, size in marks:
            hit = next((f for f in fam if f["configuration"] == picks[key]), None)
            if hit:
                ax.scatter([hit["params"]], [100 * hit["dice"]], s=size, facecolors="none", edgecolors=colour,
                           linewidths=1.5, label=label)
        ax.set_xscale("log")
        ax.set_title(f"{r['dataset_label']} ({r['budget']})", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(results):]:
        ax.set_axis_off()
    axes.flat[0].legend(fontsize=6, loc="lower right")
    fig.supxlabel("parameters (log)", fontsize=9)
    fig.supylabel("validation Dice (%)", fontsize=9)
    fig.tight_layout()
    return save_png(fig, path, dpi=80)


def main() -> int:
    from xtiny.commands.sweep import add_executor_arguments

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budgets", nargs="+", default=["small", "small4x"], choices=["small", "small4x", "gpu1k", "paper"])
    ap.add_argument("--smoke", action="store_true", help="minimal sizes (minutes); results marked as smoke")
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    add_executor_arguments(ap)  # --jobs, --executor local|ray, --ray-address, --gpus-per-job, --cpus-per-job
    ap.add_argument("--work", default=None, help="work folder (default /tmp/xtiny-bench-selection-<first budget>)")
    args = ap.parse_args()
    budgets = ["smoke"] if args.smoke else args.budgets
    args.work = args.work or f"/tmp/xtiny-bench-selection-{budgets[0]}"
    os.environ.setdefault("MPLBACKEND", "Agg")
    cache: dict = {}
    from common import device_tag

    for label in args.datasets:
        for budget in budgets:
            path = run_dataset_budget(label, budget, args, cache)
            print(f"[selection] {label} {budget}: wrote {path}", flush=True)
            summarize(device_tag(args.device))
    print(f"[selection] summary: {summarize(device_tag(args.device))}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
