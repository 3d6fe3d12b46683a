"""Learning curves of the width family (issue #28): at which training length does the probe's pick hold, and how short
can confirm's trainings be and still decide as they do at the full length?

    .venv/bin/python bench/bench_curves.py [--datasets bus cardiac mni colin27 lungct] [--epochs 16] [--iterations 50]
                                           [--short 2 4] [--device cpu] [--work DIR]
    .venv/bin/python bench/bench_curves.py --smoke       # a minute: proves the script runs, numbers mean nothing

Per dataset (datasets, ids and sizes as ``bench_selection.py --budgets small``: 96 px synthetic, MNI152 at 2 mm,
Colin27 on a 2 mm in-plane grid, lungct's slices on a 2 mm grid with per-patient Dice):

1. the width search with XTiny's defaults (the stop rule): the probe's pick;
2. one **long family run** (MONAI backend, one batch stream) of every width from cap 4 up to the full ``2d`` (narrower
   only when the pick is), ``--epochs`` x ``--iterations``, every network validated on the whole fold-0 validation
   cases at 1/16, 1/8, 1/4 and 1/2 of the schedule and at its end (``xtiny train --validate-at``);
3. **planned-short family runs** of the same widths at ``--short`` epochs, each with its poly learning rate ending
   there: how far a checkpoint of the long run stands from a run planned that short, and what a confirm of that
   length (which is such a run) decides.

From the curves, per length: the gap to the full nnU-Net of the probe's pick, of the pick confirm would make
(:func:`xtiny.training.schedules.confirm.replay_confirm` with confirm's defaults: 2 neighbours, 1 point, 3 steps) and
of the narrowest width within 1 point of the best; whether that confirm agrees with the full-length confirm; and
what that confirm's trainings cost, as a share of one full-size training of the full length (per-iteration step
times measured in the long family run). The length from which the probe's pick stays within 1 point of the best,
and a log-linear fit of the pick's gap extrapolated to the paper's 250k iterations with its 95 % interval
(labelled as an extrapolation). Writes ``bench/results/curves_<dataset>_<length>it_<device>.json`` with a figure
(``.png``) after each dataset, and ``curves_summary_<length>it_<device>.json`` across the datasets: how often each shorter
confirm decided as the full-length one, and the shortest planned length that agreed on every dataset (what
``CONFIRM_BUDGET_FRACTION`` rests on).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

FRACTIONS = (1 / 16, 1 / 8, 1 / 4, 1 / 2)
PAPER_ITERATIONS = 1000 * 250  # nnU-Net's default schedule, the paper's
MIN_CAP = 4
TOLERANCE = 1.0  # Dice points: "within 1 point of the best", and confirm's default tolerance
T95 = {1: 12.71, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447}  # two-sided Student t, 95 %


def members_of(search: dict) -> tuple[list[str], list[str], dict[str, int]]:
    """(candidate names widest first, the members to train: caps >= 4 below the full one (and the pick), plus
    ``2d``; each candidate's cap). The widest candidate is the full ``2d`` network itself."""
    rows = sorted(search["candidates"], key=lambda c: -int(c["cap"]))
    names = [r["name"] for r in rows]
    caps = {r["name"]: int(r["cap"]) for r in rows}
    full_cap = caps[names[0]]
    members = [n for n in names if caps[n] < full_cap and (caps[n] >= MIN_CAP or n == search["chosen"])]
    return names, [*members, "2d"], caps


def dice_of_candidates(point: dict[str, float | None], names: list[str]) -> dict[str, float | None]:
    """Member Dice → candidate Dice: the widest candidate is the full ``2d``."""
    return {n: point.get("2d" if i == 0 else n) for i, n in enumerate(names)}


def analyse_point(dice: dict[str, float | None], names: list[str], caps: dict[str, int], pick: str,
                  step_s: dict[str, float], iterations: int, full_iterations: int) -> dict:
    """One length's figures (Dice in points): gaps to the full net, confirm's decision and its cost."""
    from xtiny.training.schedules.confirm import replay_confirm

    full = dice[names[0]]
    trained = {n: d for n, d in dice.items() if d is not None}
    best = max(trained.values())
    narrowest = min((n for n, d in trained.items() if 100 * (best - d) <= TOLERANCE), key=lambda n: caps[n])
    replay = replay_confirm(dice, names, pick)
    confirmed = replay["confirmed"]

    def gap(name):
        return None if dice.get(name) is None or full is None else round(100 * (full - dice[name]), 2)

    def member(name):
        return "2d" if name == names[0] else name

    # a confirm of this length: its trainings; when it is the full length the confirmed width's training is reused
    spent = sum(step_s[member(n)] for n in replay["trained"]) * iterations
    reused = step_s[member(confirmed)] * iterations if iterations == full_iterations else 0.0
    extra = 100 * (spent - reused) / (step_s["2d"] * full_iterations)
    # a confirm whose every training is still at (about) zero Dice "confirms" the pick by default: say so
    blind = all((dice.get(n) or 0.0) < 0.01 for n in replay["trained"])
    return {"iterations": iterations, "full": round(100 * full, 2), "best": round(100 * best, 2), "blind": blind,
            "pick": round(100 * dice[pick], 2) if dice[pick] is not None else None, "pick_gap": gap(pick),
            "pick_within_1": dice[pick] is not None and 100 * (best - dice[pick]) <= TOLERANCE,
            "confirmed": confirmed, "confirmed_gap": gap(confirmed), "confirm_trained": replay["trained"],
            "confirm_extra_pct": round(extra, 1), "narrowest_within_1": narrowest, "narrowest_gap": gap(narrowest)}


def holds_from(points: list[dict]) -> int | None:
    """The first length from which the pick stays within 1 point of the best at every later length (None: never)."""
    held = None
    for p in sorted(points, key=lambda p: p["iterations"]):
        if p["pick_within_1"]:
            held = held if held is not None else p["iterations"]
        else:
            held = None
    return held


def extrapolate(points: list[dict], to_iterations: int = PAPER_ITERATIONS) -> dict | None:
    """Least squares of the pick's gap (points) on log10(iterations), its value at ``to_iterations`` and the 95 %
    prediction interval of that value (Student t, n - 2 degrees of freedom). An extrapolation far outside the data."""
    xs = [math.log10(p["iterations"]) for p in points if p["pick_gap"] is not None]
    ys = [p["pick_gap"] for p in points if p["pick_gap"] is not None]
    n = len(xs)
    if n < 3:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    intercept = my - slope * mx
    resid = [y - (intercept + slope * x) for x, y in zip(xs, ys, strict=True)]
    s = math.sqrt(sum(r * r for r in resid) / (n - 2))
    x0 = math.log10(to_iterations)
    half = T95.get(n - 2, 2.0) * s * math.sqrt(1 + 1 / n + (x0 - mx) ** 2 / sxx)
    return {"slope_points_per_decade": round(slope, 2), "at_iterations": to_iterations,
            "pick_gap": round(intercept + slope * x0, 1), "interval_95": round(half, 1), "n": n}


def plot_curves(label: str, long_curves: dict[str, dict[int, float]], short: dict[int, dict[str, float]],
                pick: str, confirmed: str, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    colours = plt.cm.viridis([i / max(1, len(long_curves) - 1) for i in range(len(long_curves))])
    for colour, (member, curve) in zip(colours, long_curves.items(), strict=True):
        its = sorted(curve)
        style = {"color": "black", "ls": "--", "lw": 2} if member == "2d" else {"color": colour, "lw": 1.2}
        if member == pick:
            style = {"color": "tab:red", "lw": 2.6}
        elif member == confirmed and member != "2d":
            style = {"color": "tab:green", "lw": 2.2}
        name = member + (" (probe pick)" if member == pick else "") + (" (confirmed)" if member == confirmed else "")
        ax.plot(its, [100 * (curve[i] or 0) for i in its], marker="o", ms=3, label=name, **style)
        planned = [(i, run[member]) for i, run in short.items() if run.get(member) is not None]
        if planned:
            ax.scatter([i for i, _ in planned], [100 * d for _, d in planned], marker="s", facecolors="none",
                       edgecolors=style["color"], s=40, zorder=3)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("training iterations (log scale; squares: runs planned that short)")
    ax.set_ylabel("validation Dice (%)")
    ax.set_title(f"{label}: learning curves of the width family (one batch stream)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def result_tag(args) -> str:
    """``800it_cpu``: the full length and the device, in every result name of this bench."""
    return f"{args.epochs * args.iterations}it_{args.device}"


def run_dataset(label: str, args) -> dict:
    from bench_selection import BUDGETS, prepare_dataset
    from common import RESULTS, few_patients_note, load_average, patient_dice_of, write_result

    from xtiny.atomic import read_json
    from xtiny.search import SearchSettings, run_search
    from xtiny.training.backends.family_run import train_family
    from xtiny.training.spec import TrainSpec

    load_start, started = load_average(), time.perf_counter()
    budget = {**BUDGETS["small"], "size": args.size, "cases": args.cases}
    name = prepare_dataset(label, budget, Path(args.work))
    t0 = time.perf_counter()
    search = run_search(name, "2d", SearchSettings(device=args.device), progress=False)
    search_s = time.perf_counter() - t0
    pick = search["chosen"]
    names, members, caps = members_of(search)
    full_its = args.epochs * args.iterations
    print(f"[curves] {label}: pick {pick}; family {','.join(members)}; {full_its} iterations", flush=True)

    def spec(epochs):
        return TrainSpec(backend="monai", epochs=epochs, iterations_per_epoch=args.iterations, val_iterations=0,
                         device=args.device, seed=args.seed)

    results = train_family(name, members, spec(args.epochs), validate_at=FRACTIONS)
    long_curves = {r.configuration: {p["iterations"]: p["dice"] for p in r.extra["validation_curve"]} for r in results}
    records = {r.configuration: read_json(r.checkpoint.parent / "family_run.json", "family run") for r in results}
    long_s = records["2d"]["family_seconds"]  # the run's own wall time, also when a rerun reads it back
    trained_its = {c: full_its for c in members}
    step_s = {c: records[c]["step_seconds"][c] / trained_its[c] for c in members}  # MONAI: seconds in train_step
    short: dict[int, dict[str, float]] = {}
    short_s = {}
    for epochs in args.short:
        runs = train_family(name, members, spec(epochs))
        short_s[epochs * args.iterations] = read_json(runs[0].checkpoint.parent / "family_run.json",
                                                      "family run")["family_seconds"]
        short[epochs * args.iterations] = {r.configuration: r.validation_dice for r in runs}
    lengths = sorted({i for curve in long_curves.values() for i in curve})
    points = [{"source": "long run checkpoint" if i < full_its else "long run, end",
               **analyse_point(dice_of_candidates({c: long_curves[c].get(i) for c in members}, names), names, caps,
                               pick, step_s, i, full_its)} for i in lengths]
    planned = [{"source": "planned short run",
                **analyse_point(dice_of_candidates(short[i], names), names, caps, pick, step_s, i, full_its)}
               for i in sorted(short)]
    final = points[-1]["confirmed"]
    for p in [*points, *planned]:
        p["fraction"] = round(p["iterations"] / full_its, 4)
        p["agrees_with_full_length"] = p["confirmed"] == final
    held = holds_from(points)
    trend = extrapolate(points)
    png = RESULTS / f"curves_{label}_{result_tag(args)}.png"
    plot_curves(label, long_curves, short, pick, final, png)
    header = ["source", "iterations", "fraction", "full 2d Dice %", "best Dice %", "probe pick Dice %",
              "pick gap to full (points)", "confirm's pick", "its gap",
              "confirm agrees with full length (blind: all its widths at 0 Dice)",
              "confirm extra cost % of one full training", "narrowest within 1 point of best", "its gap"]
    rows = [[p["source"], p["iterations"], p["fraction"], p["full"], p["best"], p["pick"], p["pick_gap"],
             p["confirmed"], p["confirmed_gap"],
             ("yes" if p["agrees_with_full_length"] else "no") + (" (blind)" if p["blind"] else ""),
             p["confirm_extra_pct"],
             p["narrowest_within_1"], p["narrowest_gap"]] for p in [*points, *planned]]
    dice_rows = [[m, caps.get(m, caps[names[0]]) if m != "2d" else caps[names[0]],
                  *[None if long_curves[m].get(i) is None else round(100 * long_curves[m][i], 2) for i in lengths],
                  *[None if short[i].get(m) is None else round(100 * short[i][m], 2) for i in sorted(short)],
                  round(1000 * step_s[m], 1)] for m in members]
    wall = time.perf_counter() - started
    trend_note = ("too few points for a trend" if trend is None else
                  f"EXTRAPOLATION, far outside the measured lengths: a log-linear fit of the pick's gap over the "
                  f"{trend['n']} long-run points gives {trend['slope_points_per_decade']:+.1f} points per decade of "
                  f"iterations and {trend['pick_gap']:.1f} +- {trend['interval_95']:.1f} points (95 % prediction "
                  f"interval) at the paper's {PAPER_ITERATIONS} iterations")
    notes = [f"{name}: fold-0 validation Dice on whole cases (MONAI backend, no mirroring), the family of caps "
             f"{MIN_CAP}..{caps[names[0]] // 2} and the full 2d on one batch stream, batch stream seed {args.seed}, "
             f"{args.iterations} iterations per epoch, nnU-Net's poly learning rate to each run's own end.",
             f"The probe's pick: {pick} (XTiny's default search, stop rule, {search_s:.0f} s). "
             f"It stays within {TOLERANCE:g} point of the best width from "
             f"{'(not reached)' if held is None else f'{held} iterations'} on, along the long run.",
             f"Confirm replayed with its defaults (start at the pick, 2 neighbours, {TOLERANCE:g} point, 3 steps) on "
             "each length's Dice; its extra cost = its trainings at that length (step times of the long run) over "
             "one full-size training of the full length (at the full length the confirmed width's training is "
             "reused and not counted).",
             trend_note,
             f"Figure (Dice vs iterations, one line per width, the picks marked): ![{label} learning curves]"
             f"(bench/results/{png.name})",
             f"Training wall time (each family run's own, from its family_run.json): long run {long_s:.0f} s "
             f"(validation at {len(lengths)} points included), planned short runs {short_s} s; this invocation "
             f"{wall:.0f} s (finished runs are read back); load average {load_start} at its start, {load_average()} "
             f"at its end, {os.cpu_count()} cores.", *([args.note] if args.note else [])]
    extra_tables = [{"title": f"{label}: validation Dice % of every width along the long run and in the planned short "
                              "runs, and its training step time",
                     "header": ["member", "cap", *[f"{i} it" for i in lengths],
                                *[f"{i} it planned" for i in sorted(short)], "ms per step"],
                     "rows": dice_rows}]
    per_patient = {r.configuration: patient_dice_of(name, r.checkpoint) for r in results}
    per_patient = {m: v for m, v in per_patient.items() if v}
    if per_patient:
        patients = sorted({p for v in per_patient.values() for p in v})
        extra_tables.append({"title": f"{label}: Dice % per validation patient at the end of the long run "
                                      f"({full_its} iterations; slices pooled)",
                             "header": ["member", *patients],
                             "rows": [[m, *[v.get(p) for p in patients]] for m, v in per_patient.items()]})
    few = few_patients_note(name)
    if few:
        notes.insert(0, few)
    out = write_result(f"curves_{label}_{result_tag(args)}",
                       f"Learning curves of the width family, {label}, {full_its} iterations, {args.device}", header, rows, notes=notes,
                       extra_tables=extra_tables, dataset=name, pick=pick, holds_from=held, trend=trend,
                       points=points, planned=planned, curves={m: {str(i): d for i, d in c.items()}
                                                              for m, c in long_curves.items()},
                       full_iterations=full_its, wall_s=round(wall, 1), long_run_s=long_s, short_runs_s=short_s,
                       figure=png.name, per_patient=per_patient or None)
    print(f"[curves] {label}: wrote {out} and {png.name} ({wall:.0f} s)", flush=True)
    return read_json(out, "bench result")


def summarise(results: dict[str, dict], args) -> Path:
    """Across datasets: agreement of each shorter confirm with the full-length one, and the default it supports: the
    shortest planned fraction from which every planned fraction agreed, on every dataset, without a blind confirm
    (one whose widths were all still at 0 Dice agrees by accident)."""
    from common import write_result

    fractions = sorted({p["fraction"] for r in results.values() for p in [*r["points"], *r["planned"]]})
    rows, agree_planned = [], {}
    for f in fractions:
        for source in ("long run checkpoint", "planned short run", "long run, end"):
            hits = [p for r in results.values() for p in [*r["points"], *r["planned"]]
                    if p["fraction"] == f and p["source"] == source]
            if not hits:
                continue
            agree = sum(p["agrees_with_full_length"] for p in hits)
            blind = sum(p["blind"] for p in hits)
            within = sum(p["pick_within_1"] for p in hits)
            cost = max(p["confirm_extra_pct"] for p in hits)
            rows.append([f, source, f"{agree}/{len(hits)}" + (f" ({blind} blind)" if blind else ""),
                         f"{within}/{len(hits)}", cost,
                         round(sum(p["pick_gap"] for p in hits if p["pick_gap"] is not None) / len(hits), 1)])
            if source == "planned short run":
                agree_planned[f] = agree == len(hits) == len(results) and not blind
    default = 1.0
    for f in sorted(agree_planned, reverse=True):  # from the longest planned fraction down, while all agree
        if not agree_planned[f]:
            break
        default = f
    held = {label: r["holds_from"] for label, r in results.items()}
    notes = [f"Datasets: {', '.join(results)}; full length {args.epochs * args.iterations} iterations per width "
             f"({args.epochs} x {args.iterations}); each dataset's rows come from its own curves_<dataset> result "
             "(its command and date there; a dataset this invocation did not measure is read from it).",
             *([args.note] if args.note else []),
             "Shortest planned-short confirm length from which every planned length decided as the full-length "
             "confirm on every dataset (a blind confirm, all of its widths at 0 Dice, does not count): "
             + (f"{default:g} of the schedule" if default < 1 else "none (keep the full budget)")
             + " (planned runs are what a shorter confirm trains; long-run checkpoints still have a high learning "
               "rate and are shown for the shape of the curve).",
             "The probe's pick stays within 1 point of the best from: "
             + ", ".join(f"{k} {'not reached' if v is None else f'{v} iterations'}" for k, v in held.items()) + "."]
    return write_result(f"curves_summary_{result_tag(args)}",
                        f"Learning curves across datasets, {args.epochs * args.iterations} iterations, {args.device}",
                        ["fraction of the full length", "source", "confirm agrees with the full-length decision",
                         "probe pick within 1 point of the best", "confirm extra cost %, worst dataset",
                         "mean pick gap to full (points)"], rows, notes=notes, default_fraction=default,
                        holds_from=held, datasets=list(results), full_iterations=args.epochs * args.iterations)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["bus", "cardiac", "mni", "colin27", "lungct"])
    ap.add_argument("--epochs", type=int, default=16, help="epochs of the long run (a multiple of 16)")
    ap.add_argument("--iterations", type=int, default=50, help="iterations per epoch")
    ap.add_argument("--short", type=int, nargs="*", default=[2, 4], help="epochs of the planned short runs")
    ap.add_argument("--size", type=int, default=96, help="synthetic image size (px)")
    ap.add_argument("--cases", type=int, default=40, help="synthetic cases")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--work", default=None, help="work folder (default /tmp/xtiny-bench-curves[-smoke])")
    ap.add_argument("--smoke", action="store_true", help="tiny and fast; writes *_smoke.json")
    ap.add_argument("--note", default=None, help="a note for every result of this invocation (e.g. how the machine "
                                                 "was loaded while runs that this invocation reads back trained)")
    args = ap.parse_args()
    if args.smoke:
        args.datasets, args.epochs, args.iterations, args.short, args.size, args.cases = \
            args.datasets[:1], 16, 2, [4], 48, 12
    args.work = args.work or f"/tmp/xtiny-bench-curves{'-smoke' if args.smoke else ''}-{args.size}"
    os.environ.setdefault("MPLBACKEND", "Agg")
    results = {}
    for label in args.datasets:
        results[label] = run_dataset(label, args)
        if args.smoke:
            from common import RESULTS

            for suffix in (".json", ".png"):
                src = RESULTS / f"curves_{label}_{result_tag(args)}{suffix}"
                src.replace(src.with_name(f"{src.stem}_smoke{suffix}"))
        else:
            print(f"[curves] summary: {summarise({**earlier_results(args, results), **results}, args)}", flush=True)
    return 0


def earlier_results(args, measured: dict[str, dict]) -> dict[str, dict]:
    """The committed results of the same length and device for the datasets this invocation did not measure, so
    that the summary always covers every dataset measured at that length (each row keeps its own command)."""
    from common import RESULTS

    from xtiny.atomic import read_json

    found = {}
    for path in sorted(RESULTS.glob(f"curves_*_{result_tag(args)}.json")):
        label = path.name[len("curves_"):-len(f"_{result_tag(args)}.json")]
        if label != "summary" and label not in measured:
            found[label] = read_json(path, "bench result")
    return found


if __name__ == "__main__":
    sys.exit(main())
