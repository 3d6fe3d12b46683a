"""Assemble the per-dataset HTML report from what the pipeline left under ``xtiny_dir(dataset)``.

Sections: dataset (examples with label overlays), width search (sensitivity curve, pick), training,
comparison (table, Dice vs parameters, box plots, sweep), qualitative predictions (pick vs full model),
edge bundle (size, latency), commands and versions. Missing inputs give a note, never a failure.
"""

from __future__ import annotations

import html
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xtiny.errors import XTinyError
from xtiny.evaluation.html_report import Section, load_json_if_present, write_report
from xtiny.evaluation.table import format_mean_sd
from xtiny.records.typed_json import JsonRecord
from xtiny.records.width_search import read_search_record
from xtiny.training.schedules.confirm_record import read_confirm_record
from xtiny.training.schedules.curve_evidence import training_length_note
from xtiny.versions import stack_versions


def _dataset_section(dataset_name: str, raw_dir: Path, fig_dir: Path) -> Section:
    section = Section("Dataset")
    meta = load_json_if_present(raw_dir / "dataset.json")
    if meta is None:
        section.missing = f"no dataset.json in {raw_dir}"
        return section
    labels = ", ".join(f"{k}={v}" for k, v in meta.get("labels", {}).items())
    channels = ", ".join(str(v) for v in meta.get("channel_names", {}).values())
    section.paragraphs.append(
        f"<b>{html.escape(dataset_name)}</b>: {meta.get('numTraining', '?')} training cases, channels "
        f"{html.escape(channels)}, labels {html.escape(labels)}, files <code>{html.escape(meta.get('file_ending', ''))}"
        f"</code>. {html.escape(str(meta.get('description', '')))}")
    sheet = raw_dir / "preview.png"
    if not sheet.is_file():
        try:
            from xtiny.datasets.preview import contact_sheet

            sheet = contact_sheet(raw_dir, fig_dir / "dataset_preview.png")
        except Exception as exc:  # a report must not fail on a preview
            section.missing = f"no example images ({exc})"
            return section
    section.figures.append((Path(sheet), "Example training images with their label overlays"))
    return section


def _record_json(read: Callable[[Path], JsonRecord], path: Path | None) -> tuple[dict | None, str | None]:
    """A record's JSON object read through its typed reader, or (None, why it cannot be shown): a record the reader
    refuses is a note in the report, never a failure. (None, None) when there is no file."""
    if path is None or not path.is_file():
        return None, None
    try:
        return read(path).to_json(), None
    except XTinyError as exc:
        return None, str(exc)


def _search_section(search: dict | None, search_png: Path, problem: str | None = None) -> Section:
    section = Section("Width search at initialization")
    if search is None:
        section.missing = problem or "no width search yet: run `xtiny search`."
        return section
    chosen = search.get("chosen")
    section.paragraphs.append(
        f"Pick: <b>{html.escape(str(chosen))}</b> by rule <code>{html.escape(str(search.get('rule')))}</code> "
        f"from {len(search.get('candidates', []))} candidates, K = {html.escape(str(search.get('k', '?')))} images, "
        f"{html.escape(str(search.get('seeds', '?')))} seed(s). No labels and no training were used.")
    header = ["config", "cap", "params", "GFLOPs", "score (mean)", "normalized", "variation"]
    rows, highlight = [], set()
    for i, c in enumerate(search.get("candidates", [])):
        flops = c.get("flops")
        rows.append([c.get("name", ""), c.get("cap", ""), f"{c.get('params', 0):,}",
                     f"{flops / 1e9:.3f}" if isinstance(flops, (int, float)) else "",
                     _fmt(c.get("score")), _fmt(c.get("normalized")), _fmt(c.get("variation"))])
        if c.get("name") == chosen:
            highlight.add(i)
    section.tables.append((header, rows, highlight))
    if search_png.is_file():
        section.figures.append((search_png, "Normalized sensitivity and its variation vs parameters; the pick marked"))
    return section


def _full_size_seconds(confirm: dict, stages: dict) -> tuple[float | None, str]:
    """One full-size training's seconds at the pick's budget: measured when the run trained the base at that budget,
    else scaled by iterations from the run's baseline training, else unknown."""
    base = stages.get("train_baseline", {})
    outputs, seconds = base.get("outputs", {}), base.get("seconds")
    if not outputs or not seconds:
        return None, "no full-size training in this run (xtiny run --with-baseline measures one)"
    pick_epochs = confirm.get("pick_epochs") or confirm.get("epochs")
    if outputs.get("trainer") == confirm.get("trainer") and pick_epochs == confirm.get("epochs"):
        return float(seconds), f"measured: the run's {outputs.get('configuration')} training at the same budget"
    iterations = (outputs.get("epochs") or 0) * (outputs.get("iterations_per_epoch") or 250)
    wanted = (pick_epochs or 0) * (confirm.get("iterations_per_epoch") or 250)
    if outputs.get("epochs") == pick_epochs and iterations == wanted:
        return float(seconds), f"measured: the run's {outputs.get('configuration')} training at the pick's budget"
    if not iterations or not wanted:
        return None, "the baseline's budget is not recorded"
    return float(seconds) * wanted / iterations, (f"estimated: the run's {outputs.get('configuration')} training "
                                                   f"({iterations} iterations) scaled to {wanted} iterations")


def confirm_section(confirm: dict | None, confirm_json: Path | None, stages: dict,
                    problem: str | None = None) -> Section:
    """Both picks, the decision trail and the extra training cost next to one full-size training; without a
    ``confirm`` record, ``problem`` (why it could not be read) or how to make one."""
    section = Section("Confirmed pick (cheap training of the wider neighbours)")
    if confirm is None:
        section.missing = problem or ("the probe's pick was not confirmed by training: run `xtiny confirm` (or "
                                      "`xtiny run` without --no-confirm).")
        return section
    costs = confirm.get("costs", {})
    teacher = confirm.get("teacher")
    taught = (f", a KD student of {html.escape(str(teacher.get('configuration')))} (alpha {confirm.get('kd_alpha')}, "
              f"T {confirm.get('kd_temperature')})" if teacher else "")
    section.paragraphs.append(
        f"Probe pick <b>{html.escape(str(confirm.get('probe_pick')))}</b> → confirmed pick "
        f"<b>{html.escape(str(confirm.get('confirmed')))}</b> ({html.escape(str(confirm.get('stopped_because')))}). "
        f"Every training: {html.escape(str(confirm.get('trainer')))} (fold {html.escape(str(confirm.get('fold')))})"
        f"{taught}, tolerance {confirm.get('tolerance_points')} Dice points, at most {confirm.get('max_steps')} steps.")
    runs = confirm.get("family_runs") or []
    if runs:
        joined = [c for c in confirm.get("also_train") or [] if c in confirm.get("trainings", {})]
        section.paragraphs.append(
            f"Trained as {len(runs)} family run{'s' if len(runs) > 1 else ''} (one batch stream each, the same "
            f"iterations for every network): " + "; ".join(html.escape(" + ".join(r)) for r in runs)
            + (f". {html.escape(', '.join(joined))} trained in the first one as the baseline, outside the decision."
               if joined else "."))
    rows = [[s["pick"], s["wider"], _pct_or_na(s.get("dice_pick")), _pct_or_na(s.get("dice_wider")),
             _fmt(s.get("gap_points")), s["decision"]] for s in confirm.get("trail", [])]
    section.tables.append((["width", "widest trained", "Dice width (%)", "Dice widest (%)", "gap (points)", "decision"],
                           rows, set()))
    full, how = _full_size_seconds(confirm, stages)
    extra = costs.get("extra_s")
    share = f" = {100 * extra / full:.0f} % of one full-size training ({html.escape(how)}: {full:.0f} s)" \
        if full and extra is not None else f" (full-size cost: {html.escape(how)})"
    pick_epochs = confirm.get("pick_epochs") or confirm.get("epochs")
    reuse = (f"the confirmed width's own training is reused by the final {'distilled ' if teacher else ''}training at "
             "the same budget" if pick_epochs == confirm.get("epochs") else
             f"confirm trained {confirm.get('epochs')} of the pick's {pick_epochs} epochs (--budget-fraction "
             f"{confirm.get('budget_fraction')}), so every confirm training is extra and the pick trains again")
    section.paragraphs.append(
        f"Extra training cost: {_fmt(extra)} {costs.get('device', 'cpu').upper()} seconds{share}; {reuse}.")
    its = (pick_epochs or 0) * (confirm.get("iterations_per_epoch") or 250)
    section.paragraphs.append(html.escape(training_length_note(its)))
    png = confirm_json.with_suffix(".png") if confirm_json else None
    if png is not None and png.is_file():
        section.figures.append((png, "Confirm trainings: validation Dice vs parameters, both picks marked"))
    return section


def _pct_or_na(value) -> str:
    return f"{100 * value:.2f}" if isinstance(value, (int, float)) else "n/a"


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else ""


def _comparison_section(summary: dict | None, sweep_png: Path) -> Section:
    section = Section("Comparison")
    if summary is None:
        section.missing = "no evaluation yet: run `xtiny evaluate`."
    else:
        header = ["model", "params", "GFLOPs", "latency (ms)", "training iterations", "training s", "Dice (%)",
                  "HD95"]
        rows = []
        for cfg, m in summary.get("models", {}).items():
            cost, fg = m.get("cost", {}), m.get("foreground", {})
            dice, hd = fg.get("dice", {}), fg.get("hd95", {})
            flops = cost.get("flops")
            training = m.get("training") or {}
            rows.append([f"{m.get('display', cfg)} ({cfg})", f"{cost.get('params', 0):,}",
                         f"{flops / 1e9:.3f}" if isinstance(flops, (int, float)) else "",
                         _fmt(cost.get("latency_ms")), _fmt(training.get("iterations")), _fmt(training.get("seconds")),
                         format_mean_sd(dice, 100), format_mean_sd(hd, 1)])
        section.paragraphs.append(
            f"{summary.get('num_cases', '?')} {html.escape(str(summary.get('split', '')))} cases of fold "
            f"{html.escape(str(summary.get('fold', '')))}; mean ± sd over cases and foreground classes. "
            f"<b>Budgets: {html.escape(str(summary.get('budget', 'not recorded')))}.</b>")
        section.tables.append((header, rows, set()))
        _per_patient_table(section, summary)
        for fig in summary.get("files", {}).get("figures", []):
            if Path(fig).is_file():
                section.figures.append((Path(fig), Path(fig).stem.replace("_", " ")))
    if sweep_png.is_file():
        section.figures.append((sweep_png, "Oracle sweep: trained Dice vs parameters for every width"))
    return section


def _per_patient_table(section: Section, summary: dict) -> None:
    """Each model's Dice per patient, when the dataset's cases are slices of patients (lungct)."""
    models = {cfg: m["per_patient"] for cfg, m in summary.get("models", {}).items() if m.get("per_patient")}
    if not models:
        return
    patients = sorted({p for per in models.values() for p in per})
    rows = [[html.escape(summary["models"][cfg].get("display", cfg)),
             *[_pct_or_na((per.get(p) or {}).get("dice")) for p in patients]] for cfg, per in models.items()]
    cases = {p: next((per[p]["cases"] for per in models.values() if p in per), "?") for p in patients}
    section.paragraphs.append(
        f"Per patient ({len(patients)} in this split; a {html.escape(summary.get('patients', {}).get('pooling', ''))}"
        "). With this few patients the mean hides more than it shows: read each column.")
    section.tables.append((["model", *[f"{html.escape(p)} ({cases[p]} slices), Dice %" for p in patients]], rows,
                           set()))


def qualitative_figure(raw_dir: Path, summary: dict, out_png: Path, max_cases: int = 4) -> Path | None:
    """Image | ground truth | each model's prediction for a few cases, as one PNG; the ground truth's outline (cyan)
    is drawn on the ground truth and on every prediction."""
    from xtiny.plotting import pyplot

    plt = pyplot()
    from xtiny.nnunet.raw_format import image_reader

    meta = json.loads((raw_dir / "dataset.json").read_text())
    ending = meta["file_ending"]
    models = [(cfg, Path(m["predictions"])) for cfg, m in summary.get("models", {}).items()
              if Path(m.get("predictions", "")).is_dir()]
    if not models:
        return None
    cases = sorted(p.name[: -len(ending)] for p in models[0][1].glob(f"*{ending}"))[:max_cases]
    if not cases:
        return None
    reader = image_reader(meta, str(raw_dir / "labelsTr" / f"{cases[0]}{ending}"))
    n_channels = len(meta["channel_names"])
    cols = 2 + len(models)
    fig, axes = plt.subplots(len(cases), cols, figsize=(2.2 * cols, 2.2 * len(cases)), squeeze=False)
    for r, case in enumerate(cases):
        images = [str(raw_dir / "imagesTr" / f"{case}_{c:04d}{ending}") for c in range(n_channels)]
        img, _ = reader.read_images(images)
        truth = _middle(reader.read_seg(str(raw_dir / "labelsTr" / f"{case}{ending}"))[0][0])
        panels = [("image", _middle(img[0]), None), ("ground truth", _middle(img[0]), truth)]
        for cfg, folder in models:
            seg, _ = reader.read_seg(str(folder / f"{case}{ending}"))
            panels.append((cfg, _middle(img[0]), _middle(seg[0])))
        for c, (title, base, overlay) in enumerate(panels):
            ax = axes[r][c]
            ax.imshow(base, cmap="gray")
            if overlay is not None:
                ax.imshow(np.ma.masked_where(overlay == 0, overlay), cmap="autumn", alpha=0.5, vmin=0,
                          vmax=max(1, int(overlay.max())))
            if c > 0 and truth.any():  # the expert contour on the ground truth and on every prediction
                ax.contour(truth > 0, levels=[0.5], colors="cyan", linewidths=0.8)
            ax.set_axis_off()
            if r == 0:
                ax.set_title(title, fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    out_png.write_bytes(buf.getvalue())
    return out_png


def _middle(volume: np.ndarray) -> np.ndarray:
    """A 2D view: the array itself for (1, H, W), the middle slice for (D, H, W)."""
    return np.asarray(volume[volume.shape[0] // 2])


def export_checks_table(section: Section, export_dir: Path) -> None:
    """The export's checks (``export_report.json``): each model file against the PyTorch network, and the rule."""
    from xtiny.export.fidelity import CHECK_HEADER, check_rows

    checks = (load_json_if_present(export_dir / "export_report.json") or {}).get("metrics", {}).get("checks")
    if not checks:
        return
    section.paragraphs.append(f"Export checks of <code>{html.escape(str(export_dir))}</code> against the PyTorch "
                              f"network on {html.escape(str(checks.get('inputs', '')))}. Rule: "
                              f"{html.escape(str(checks.get('rule', '')))}.")
    section.tables.append((CHECK_HEADER, check_rows(checks), set()))


def _edge_section(export_dirs: list[Path]) -> Section:
    section = Section("Edge bundle")
    for export_dir in export_dirs:
        export_checks_table(section, export_dir)
    manifests = [d / "edge" / "manifest.json" for d in export_dirs if (d / "edge" / "manifest.json").is_file()]
    if not manifests:
        section.missing = "no edge bundle yet: run `xtiny export`."
        return section
    for manifest_path in manifests:
        manifest = json.loads(manifest_path.read_text())
        rows = [[name, f"{info.get('bytes', 0) / 1024:.1f} KiB", info.get("sha256", "")[:16] + "…"]
                for name, info in sorted(manifest.get("files", {}).items())]
        section.paragraphs.append(f"Bundle <code>{html.escape(str(manifest_path.parent))}</code>")
        section.tables.append((["file", "size", "sha256"], rows, set()))
        metrics = manifest.get("metrics", {})
        measured = [[k[len("latency_ms_"):], _fmt(v), f"{metrics.get('size_bytes_' + k[len('latency_ms_'):], 0) / 1024:.1f} KiB",
                     _fmt(metrics.get("dice_" + k[len("latency_ms_"):]))]
                    for k, v in metrics.items() if k.startswith("latency_ms_")]
        if measured:
            section.paragraphs.append(f"onnxruntime, 1 CPU thread, one patch; recommended: "
                                      f"<b>{html.escape(str(metrics.get('recommended_model', '?')))}</b>")
            section.tables.append((["model", "latency (ms)", "size", "validation Dice"], measured, set()))
    return section


def failure_section(failure: dict | None) -> list[Section]:
    """The report's first section when the run stopped at a failed stage: which, its error, the fix; else none."""
    if not failure:
        return []
    stage = html.escape(str(failure.get("stage")))
    section = Section(f"Run stopped: stage {failure.get('stage')} failed")
    section.missing = (f"The stage '{failure.get('stage')}' failed after {failure.get('seconds', 0):.0f} s; this report "
                       "shows the stages that finished before it. Fix the cause and rerun the same command: it redoes "
                       f"{failure.get('stage')} and what follows it, the finished stages are skipped.")
    section.paragraphs.append(f"<b>Error ({stage}):</b> {html.escape(str(failure.get('error')))}")
    if failure.get("fix"):
        section.paragraphs.append(f"<b>Fix:</b> {html.escape(str(failure['fix']))}")
    if failure.get("log"):
        section.paragraphs.append(f"Library output of the stage: <code>{html.escape(str(failure['log']))}</code>")
    return [section]


@dataclass
class ReportInputs:
    """The files a report shows: the width search result, the evaluation summary and the export folders; and the
    stage that failed, if the run stopped at one."""

    search_json: Path | None = None
    summary_json: Path | None = None
    export_dirs: list[Path] = field(default_factory=list)
    confirm_json: Path | None = None
    failure: dict | None = None  # run.json's "failed": the stage that failed, its error and fix


def recorded_report_inputs(dataset_name: str) -> ReportInputs:
    """What the last ``xtiny run`` recorded in ``run.json``; without a run, the files the stand-alone commands write
    (every base configuration's search, the newest evaluation summary, every export folder)."""
    from xtiny.artifacts import evaluation_dir, xtiny_dir

    root = xtiny_dir(dataset_name)
    run_state = load_json_if_present(root / "run.json") or {}
    stages = run_state.get("stages", {})
    if stages:
        def recorded(stage: str, key: str) -> Path | None:
            value = stages.get(stage, {}).get("outputs", {}).get(key)
            return Path(value) if value else None

        export = recorded("export", "export_dir")
        return ReportInputs(recorded("search", "search_json_path"), recorded("evaluate", "summary_path"),
                            [export] if export else [], recorded("confirm", "confirm_json_path"),
                            run_state.get("failed"))
    searches = sorted(root.glob("search_*.json"), key=lambda p: p.stat().st_mtime)
    summaries = sorted(evaluation_dir(dataset_name).glob("summary_*.json"), key=lambda p: p.stat().st_mtime)
    confirm = searches[-1].with_name(searches[-1].name.replace("search_", "confirm_", 1)) if searches else None
    return ReportInputs(searches[-1] if searches else None, summaries[-1] if summaries else None,
                        sorted(p for p in (root / "export").glob("*") if p.is_dir()),
                        confirm if confirm is not None and confirm.is_file() else None)


def _nnunet_cli_lines(dataset_name: str, trained: dict) -> list[str]:
    """``eval "$(xtiny env)"`` and one ``nnUNetv2_predict`` line per model the run trained with nnU-Net's layout."""
    from xtiny.training.backends.nnunet_cli import ENV_COMMAND, nnunet_predict_command

    lines = [nnunet_predict_command(dataset_name, v["outputs"]["configuration"], v["outputs"]["trainer"],
                                    v["outputs"].get("fold", 0), v["outputs"].get("device", "cuda"))
             for v in trained.values() if v.get("outputs", {}).get("trainer")]
    return [ENV_COMMAND, *lines] if lines else []


def build_report(dataset_name: str, inputs: ReportInputs | None = None) -> Path:
    """Write ``xtiny_dir(dataset)/report.html`` from ``inputs`` (default: :func:`recorded_report_inputs`)."""
    from xtiny.artifacts import report_path, sweep_json_path, xtiny_dir
    from xtiny.paths import nnunet_dirs

    inputs = inputs or recorded_report_inputs(dataset_name)
    root = xtiny_dir(dataset_name)
    fig_dir = root / "report_figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    raw_dir = nnunet_dirs().raw / dataset_name
    search, search_problem = _record_json(read_search_record, inputs.search_json)
    search_png = inputs.search_json.with_suffix(".png") if inputs.search_json else root / "missing.png"
    sections = [*failure_section(inputs.failure), _dataset_section(dataset_name, raw_dir, fig_dir),
                _search_section(search, search_png, search_problem)]
    run_state = load_json_if_present(root / "run.json") or {}
    confirm, confirm_problem = _record_json(read_confirm_record, inputs.confirm_json)
    sections.append(confirm_section(confirm, inputs.confirm_json, run_state.get("stages", {}), confirm_problem))
    train = run_state.get("stages", {})
    training = Section("Training")
    trained = {k: v for k, v in train.items() if k.startswith("train")}
    if trained:
        rows = [[name, v["outputs"].get("configuration", ""), v["outputs"].get("trainer", ""),
                 _fmt(v["outputs"].get("validation_dice")), f"{v.get('seconds', 0):.0f}"] for name, v in trained.items()]
        training.tables.append((["stage", "configuration", "nnU-Net trainer", "validation Dice", "seconds"], rows, set()))
    else:
        training.missing = "nothing trained by `xtiny run` yet."
    sections.append(training)
    summary = load_json_if_present(inputs.summary_json) if inputs.summary_json else None
    base = search.get("base_configuration", "2d") if search else "2d"
    sections.append(_comparison_section(summary, sweep_json_path(dataset_name, base).with_suffix(".png")))
    qualitative = Section("Qualitative predictions")
    fig = qualitative_figure(raw_dir, summary, fig_dir / "qualitative.png") if summary and raw_dir.is_dir() else None
    if fig:
        qualitative.figures.append((fig, "Validation cases: image, ground truth, then each model's prediction"))
    else:
        qualitative.missing = "no predictions to show yet."
    sections.append(qualitative)
    sections.append(_edge_section(inputs.export_dirs))
    repro = Section("Commands and versions")
    repro.preformatted.append("\n".join(run_state.get("commands", [])) or "(no recorded commands)")
    nnunet_lines = _nnunet_cli_lines(dataset_name, trained)
    if nnunet_lines:
        repro.paragraphs.append("The same models with nnU-Net's own CLI, from a plain shell:")
        repro.preformatted.append("\n".join(nnunet_lines))
    repro.preformatted.append(json.dumps(stack_versions(), indent=2))
    sections.append(repro)
    return write_report(report_path(dataset_name), f"XTiny report — {dataset_name}",
                        "training-free width search, training, comparison and edge export", sections)
