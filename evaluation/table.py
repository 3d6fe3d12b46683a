"""The comparison table, shaped like the paper's: rows = models; params, FLOPs, latency, then Dice ± sd and
HD95 ± sd per dataset (foreground mean over cases)."""

from __future__ import annotations

from collections.abc import Sequence


def format_count(n: int | None) -> str:
    """``33_470_000`` → ``33.47M``; ``417_514`` → ``417.5k``; ``388`` → ``388``."""
    if n is None:
        return "n/a"
    if n >= 1_000_000:
        return f"{n / 1e6:.2f}M"
    if n >= 1_000:
        return f"{n / 1e3:.1f}k"
    return str(int(n))


def format_mean_sd(stat: dict | None, scale: float = 1.0) -> str:
    """``{"mean", "sd", "undefined"?}`` → ``"65.10±3.20"`` (scaled; ``n/a`` without a mean)."""
    if not stat or not isinstance(stat.get("mean"), (int, float)):
        return "n/a"
    text = f"{scale * stat['mean']:.2f}±{scale * (stat.get('sd') or 0):.2f}"
    return text + (f" ({stat['undefined']} undef.)" if stat.get("undefined") else "")


def _budget_cell(training: dict) -> str:
    if not training.get("iterations"):
        return "n/a"
    return f"{training['iterations']} ({training['epochs']}x{training['iterations_per_epoch']})"


def markdown_table(summaries: Sequence[dict]) -> str:
    """Markdown table over one or more datasets' evaluation summaries (``evaluate_models`` output).

    Cost columns come from the first dataset a model appears in (GFLOPs = 2 x MACs at that plan's patch size).
    """
    order: list[str] = []
    for s in summaries:
        order += [m for m in s["models"] if m not in order]
    head = ["model", "params", "GFLOPs", "latency (ms, 1 thread)", "training iterations", "training s"]
    for s in summaries:
        head += [f"{s['dataset']} Dice %", f"{s['dataset']} HD95"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in order:
        first = next(s["models"][m] for s in summaries if m in s["models"])
        cost = first.get("cost") or {}
        flops = cost.get("flops")
        lat = cost.get("latency_ms")
        training = first.get("training") or {}
        cells = [first.get("display", m), format_count(cost.get("params")),
                 "n/a" if flops is None else f"{flops / 1e9:.3f}", "n/a" if lat is None else f"{lat:.1f}",
                 _budget_cell(training), "n/a" if training.get("seconds") is None else f"{training['seconds']:.0f}"]
        for s in summaries:
            e = s["models"].get(m)
            cells += ["n/a", "n/a"] if e is None else [format_mean_sd(e["foreground"]["dice"], 100.0), format_mean_sd(e["foreground"]["hd95"])]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"- {s['dataset']}: {s['num_cases']} {s['split']} cases of fold {s['fold']}; budgets: "
             f"{s.get('budget', 'not recorded')}" for s in summaries]
    conv = summaries[0].get("conventions", {}) if summaries else {}
    notes += [f"- empty masks: both empty → {conv.get('both_empty', '')}; one empty → {conv.get('one_empty', '')}",
              "- Dice/HD95: foreground mean over cases ± sample sd; HD95 in physical units (pixels for PNG)",
              "- GFLOPs = 2 × MACs of conv/linear layers for one patch at the plan's patch size"]
    return "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"
