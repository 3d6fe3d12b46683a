"""Figures for an evaluation: a box plot per metric across models and Dice vs log-parameters."""

from __future__ import annotations

import math
from pathlib import Path


def write_plots(summary: dict, rows: list[dict], out_dir: Path, tag: str) -> list[Path]:
    """Write ``box_<metric>_<tag>.png`` (dice, hd95) and ``dice_vs_params_<tag>.png``; returns the paths."""
    from xtiny.plotting import pyplot

    plt = pyplot()

    from xtiny.atomic import atomic_write_bytes

    models = list(summary["models"])
    paths = []

    def save(fig, name: str) -> None:
        import io

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        paths.append(atomic_write_bytes(out_dir / name, buf.getvalue()))

    for metric in ("dice", "hd95"):
        data = []
        for m in models:
            per_case: dict[str, list[float]] = {}
            for r in rows:
                if r["model"] == m and isinstance(r[metric], float) and math.isfinite(r[metric]):
                    per_case.setdefault(r["case"], []).append(r[metric])
            data.append([sum(v) / len(v) for v in per_case.values()] or [math.nan])
        fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(models) + 3), 3.6))
        ax.boxplot(data, showmeans=True)
        ax.set_xticks(range(1, len(models) + 1), [summary["models"][m]["display"] for m in models], rotation=20,
                      fontsize=8)
        ax.set_ylabel({"dice": "Dice per case", "hd95": "HD95 per case"}[metric], fontsize=9)
        ax.set_title(f"{metric.upper()}: {summary['dataset']}, {summary['split']} fold {summary['fold']}", fontsize=10)
        save(fig, f"box_{metric}_{tag}.png")

    fig, ax = plt.subplots(figsize=(7, 3.8))
    fam = []
    for m in models:
        e = summary["models"][m]
        params, dice = (e.get("cost") or {}).get("params"), e["foreground"]["dice"]["mean"]
        if not params or dice is None:
            continue
        is_family, marker, colour = _marker(e.get("configuration", m))
        ax.scatter([params], [dice], marker=marker, color=colour, s=40)
        its = (e.get("training") or {}).get("iterations")
        ax.annotate(f"{e['display']}{f' ({its} it)' if its else ''}", (params, dice), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
        if is_family:
            fam.append((params, dice))
    if len(fam) > 1:  # only the width family is a curve; other models are separate markers
        fam.sort()
        ax.plot([p for p, _ in fam], [d for _, d in fam], color="C0", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("parameters (log)")
    ax.set_ylabel("Dice (foreground mean)")
    ax.set_title(f"Dice vs parameters; {summary.get('budget', '')}\n(circles joined: XTiny width family; triangle: "
                 "full nnU-Net; squares: other nets)", fontsize=8)
    save(fig, f"dice_vs_params_{tag}.png")
    return paths


def _marker(configuration: str) -> tuple[bool, str, str]:
    """``(is_family, marker, colour)``: circles for the width family, a triangle for a full nnU-Net
    configuration (``2d``, ``3d_fullres``), squares for the other networks."""
    from xtiny.models import is_baseline
    from xtiny.nnunet.width_names import is_width_configuration

    if is_width_configuration(configuration):
        return True, "o", "C0"
    return (False, "s", "C1") if is_baseline(configuration) else (False, "^", "C2")
