"""`xtiny run` end to end on a tiny synthetic dataset: every stage, resume, and the report in a real browser."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.browser import chromium_path, render_page
from xtiny.cli import main

RUN_ARGS = ["-k", "4", "--seeds", "1", "--epochs", "1", "--iterations", "5", "--val-iterations", "1",
            "--formats", "onnx,bundle", "--max-steps", "1"]


@pytest.fixture(scope="module")
def pipeline_run(nnunet_work: Path) -> dict:
    from xtiny.datasets.synth import generate_dataset

    folder = generate_dataset("bus", dataset_id=950, num_cases=10, seed=1, size=64,
                              raw_dir=Path(os.environ["nnUNet_raw"]), preview=True)
    assert main(["run", "-d", "950", *RUN_ARGS]) == 0
    state_path = nnunet_work / "results" / folder.name / "xtiny" / "run.json"
    return {"name": folder.name, "state_path": state_path, "state": json.loads(state_path.read_text())}


def test_every_stage_ran_and_left_its_outputs(pipeline_run: dict) -> None:
    stages = pipeline_run["state"]["stages"]
    assert list(stages) == ["validate", "plan", "search", "confirm", "train_pick", "evaluate", "export", "report"]
    assert stages["search"]["outputs"]["chosen"].startswith("2d_xtiny")
    confirmed = stages["confirm"]["outputs"]["confirmed"]
    assert stages["train_pick"]["outputs"]["configuration"] == confirmed
    assert stages["train_pick"]["outputs"]["reused_finished"] is True  # the confirm stage trained it already
    first_run = stages["confirm"]["outputs"]["family_runs"][0]  # the pick and its 2 wider widths, one batch stream
    assert first_run[0] == stages["search"]["outputs"]["chosen"] and 2 <= len(first_run) <= 3
    assert Path(stages["train_pick"]["outputs"]["checkpoint_path"]).is_file()
    assert Path(stages["export"]["outputs"]["bundle_dir"], "manifest.json").is_file()
    assert Path(stages["report"]["outputs"]["report_path"]).is_file()


def test_rerun_skips_every_stage(pipeline_run: dict, capsys: pytest.CaptureFixture) -> None:
    assert main(["run", "-d", pipeline_run["name"], *RUN_ARGS]) == 0
    out = capsys.readouterr().out
    for stage in ("validate", "plan", "search", "confirm", "train_pick", "evaluate", "export", "report"):
        assert f"[{stage}] up to date, skipped" in out
    assert "running" not in out


def test_keys_chain_through_upstream_digests(pipeline_run: dict) -> None:
    from xtiny.pipeline import RunState

    state = RunState(pipeline_run["state_path"])
    stages = state.data["stages"]
    assert stages["train_pick"]["key"]["upstream"] == {"confirm": state.digest("confirm")}
    assert stages["confirm"]["key"]["upstream"] == {"search": state.digest("search")}
    assert stages["search"]["key"]["upstream"] == {"plan": state.digest("plan")}
    assert stages["plan"]["key"]["upstream"] == {"validate": state.digest("validate")}
    assert stages["validate"]["key"]["inputs"]["files"] >= 20  # 10 images + 10 labels + dataset.json
    key = dict(stages["train_pick"]["key"])
    assert state.is_fresh("train_pick", key)
    spec = key["inputs"]["spec"]  # the stage_key() of the TrainSpec the stage ran
    assert spec["trainer"] == stages["train_pick"]["outputs"]["trainer"] and spec["epochs"] == 1
    assert not state.is_fresh("train_pick", {**key, "inputs": {**key["inputs"], "spec": {**spec, "epochs": 2}}})


@pytest.mark.skipif(chromium_path() is None, reason="Debian chromium not installed (make test installs it)")
def test_report_renders_every_figure_in_a_browser(pipeline_run: dict) -> None:
    report = Path(pipeline_run["state"]["stages"]["report"]["outputs"]["report_path"])
    html = report.read_text()
    assert 'src="http' not in html and "<script" not in html  # self-contained, nothing fetched
    expected = html.count('<img class="fig"')
    assert expected >= 5  # dataset, search, comparison plots, qualitative
    page = render_page(report)
    assert len(page.images) == expected
    for image in page.images:
        assert image.natural_width > 100 and image.natural_height > 100, image.alt
        assert image.pixel_std > 5, f"figure '{image.alt}' rendered blank"
    assert page.page_width <= page.viewport_width, "report needs horizontal scrolling on a laptop screen"


def test_report_shows_what_the_run_recorded(pipeline_run: dict) -> None:
    from xtiny.evaluation.run_report import recorded_report_inputs

    stages = pipeline_run["state"]["stages"]
    inputs = recorded_report_inputs(pipeline_run["name"])
    assert str(inputs.search_json) == stages["search"]["outputs"]["search_json_path"]
    assert str(inputs.summary_json) == stages["evaluate"]["outputs"]["summary_path"]
    assert [str(p) for p in inputs.export_dirs] == [stages["export"]["outputs"]["export_dir"]]
    assert str(inputs.confirm_json) == stages["confirm"]["outputs"]["confirm_json_path"]
    html = Path(stages["report"]["outputs"]["report_path"]).read_text()
    assert "Confirmed pick" in html and "Extra training cost" in html
    assert "nnUNetv2_predict -i INPUT_FOLDER" in html and "-device cpu" in html


def test_failed_late_stage_still_writes_the_report_and_the_rerun_redoes_only_it(
        pipeline_run: dict, capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    """The export fails (the trained checkpoint is corrupt when it reads it): exit 2, the report is written from the
    finished stages with the failure at the top, the export is not recorded as done; once fixed, the rerun redoes the
    export and the report only."""
    import shutil

    stages = pipeline_run["state"]["stages"]
    checkpoint = Path(stages["train_pick"]["outputs"]["checkpoint_path"])
    report = Path(stages["report"]["outputs"]["report_path"])
    shutil.copy2(checkpoint, tmp_path / checkpoint.name)
    shutil.rmtree(stages["export"]["outputs"]["export_dir"])  # so the export runs again
    checkpoint.write_bytes(b"not a checkpoint any more")
    capsys.readouterr()
    try:
        assert main(["run", "-d", pipeline_run["name"], *RUN_ARGS]) == 2
    finally:
        shutil.copy2(tmp_path / checkpoint.name, checkpoint)
    captured = capsys.readouterr()
    finished = ("validate", "plan", "search", "confirm", "train_pick", "evaluate")
    for stage in finished:
        assert f"[{stage}] up to date, skipped" in captured.out, stage
    assert "[export] failed after" in captured.out and f"[report] written after the failure: {report}" in captured.out
    assert "cannot load checkpoint" in captured.err
    state = json.loads(pipeline_run["state_path"].read_text())
    assert list(state["stages"]) == list(finished)  # neither export nor the report recorded as done
    assert state["failed"]["stage"] == "export" and "cannot load checkpoint" in state["failed"]["error"]
    html = report.read_text()
    assert html.index("Run stopped: stage export failed") < html.index("<h2>Dataset</h2>")
    assert "cannot load checkpoint" in html and "<b>Fix:</b>" in html
    assert "Pick: <b>" in html and "Extra training cost" in html  # the finished stages are in it

    assert main(["run", "-d", pipeline_run["name"], *RUN_ARGS]) == 0
    out = capsys.readouterr().out
    for stage in finished:
        assert f"[{stage}] up to date, skipped" in out, stage
    assert "[export] running" in out and "[report] running" in out
    state = json.loads(pipeline_run["state_path"].read_text())
    assert "failed" not in state and list(state["stages"]) == [*finished, "export", "report"]
    assert "Run stopped" not in report.read_text() and "Export checks of" in report.read_text()


def test_distill_adds_the_teacher_and_the_distilled_pick(pipeline_run: dict, capsys: pytest.CaptureFixture) -> None:
    """``--distill`` on a finished run: the baseline (teacher) trains first, then confirm again with every candidate
    a KD student of it, the pick (read back or trained), the distilled pick (read back from confirm), evaluation,
    export and report; the report lists the pick with and without distillation next to the teacher."""
    from xtiny.pipeline import RunOptions, RunState
    from xtiny.pipeline_stages import STAGES

    capsys.readouterr()
    assert main(["run", "-d", pipeline_run["name"], *RUN_ARGS, "--distill", "--kd-alpha", "0.5",
                 "--neighbours", "1"]) == 0
    out = capsys.readouterr().out
    for stage in ("validate", "plan", "search"):
        assert f"[{stage}] up to date, skipped" in out, stage
    for stage in ("train_baseline", "confirm", "train_pick", "train_pick_kd", "evaluate", "export", "report"):
        assert f"[{stage}] running" in out, stage
    assert out.index("[train_baseline] running") < out.index("[confirm] running")  # the teacher first
    state = RunState(pipeline_run["state_path"])
    stages = state.data["stages"]
    teacher = stages["train_baseline"]["outputs"]["checkpoint_path"]
    assert stages["confirm"]["key"]["upstream"] == {"search": state.digest("search"),
                                                    "train_baseline": state.digest("train_baseline")}
    confirm = json.loads(Path(stages["confirm"]["outputs"]["confirm_json_path"]).read_text())
    assert confirm["teacher"]["checkpoint"] == teacher and confirm["teacher"]["configuration"] == "2d"
    assert (confirm["kd_alpha"], confirm["kd_temperature"]) == (0.5, RunOptions(dataset="").kd_temperature)
    assert "KD_fg_a0p5_T" in confirm["trainer"] and len(confirm["trainings"]) in (2, 3)  # 1 neighbour, 1 step
    assert all(row["trainer_name"] == confirm["trainer"] and row["teacher"] == teacher
               for row in confirm["trainings"].values())
    kd = stages["train_pick_kd"]["outputs"]
    assert kd["configuration"] == stages["train_pick"]["outputs"]["configuration"] == confirm["confirmed"]
    assert kd["teacher_checkpoint"] == teacher
    assert "KD_fg_a0p5_T" in kd["trainer"] and Path(kd["checkpoint_path"]).is_file()
    assert kd["reused_finished"] is True  # confirm trained it as a KD student at the pick's budget
    assert kd["checkpoint_path"] == confirm["trainings"][kd["configuration"]]["checkpoint"]
    assert "KD" not in stages["train_pick"]["outputs"]["trainer"]
    # other KD settings change confirm's key: it would rerun
    confirm_stage = next(s for s in STAGES if s.name == "confirm")
    context = {name: state.outputs(name) for name in stages}
    options = RunOptions(dataset=pipeline_run["name"], k=4, seeds=1, epochs=1, iterations_per_epoch=5,
                         val_iterations=1, confirm_max_steps=1, confirm_neighbours=1, distill=True, kd_alpha=0.5)
    assert state.stage_key(confirm_stage, options, context) == stages["confirm"]["key"]
    options.kd_temperature += 1
    assert state.stage_key(confirm_stage, options, context) != stages["confirm"]["key"]
    summary = json.loads(Path(stages["evaluate"]["outputs"]["summary_path"]).read_text())
    pick = kd["configuration"]
    assert list(summary["models"]) == [pick, "2d", f"{pick} + KD"]
    assert summary["models"][f"{pick} + KD"]["trainer"] == kd["trainer"]
    assert summary["models"][pick]["trainer"] == stages["train_pick"]["outputs"]["trainer"]
    html = Path(stages["report"]["outputs"]["report_path"]).read_text()
    assert f"+ KD ({pick} + KD)" in html
    assert main(["run", "-d", pipeline_run["name"], *RUN_ARGS, "--kd-alpha", "2", "--distill"]) == 2
    assert "--kd-alpha must lie in [0, 1]" in capsys.readouterr().err


def test_edited_raw_label_reruns_plan_search_and_everything_after(pipeline_run: dict,
                                                                   capsys: pytest.CaptureFixture) -> None:
    """Runs last in this module: it changes the dataset."""
    import numpy as np
    from PIL import Image

    from xtiny.paths import nnunet_dirs

    before = json.loads(pipeline_run["state_path"].read_text())["stages"]
    label_path = sorted((nnunet_dirs().raw / pipeline_run["name"] / "labelsTr").glob("*.png"))[0]
    label = np.array(Image.open(label_path))
    label[:8, :8] = 1 - (label[:8, :8] > 0)  # flip a corner of the mask
    Image.fromarray(label.astype(np.uint8)).save(label_path)
    capsys.readouterr()
    run_args = [*RUN_ARGS, "--with-baseline"]  # the baseline joins confirm's first family run (equal budgets)
    assert main(["run", "-d", pipeline_run["name"], *run_args]) == 0
    out = capsys.readouterr().out
    for stage in ("validate", "plan", "search", "confirm", "train_pick", "train_baseline", "evaluate", "export",
                  "report"):
        assert f"[{stage}] running" in out, stage
    assert "read back (finished earlier)" not in out  # trainings older than the new data are redone
    joined = json.loads(pipeline_run["state_path"].read_text())["stages"]["confirm"]["outputs"]["family_runs"][0]
    assert joined[-1] == "2d"  # the baseline has confirm's spec, so it learned from the same batches
    after = json.loads(pipeline_run["state_path"].read_text())["stages"]
    assert after["validate"]["key"] != before["validate"]["key"]
    assert after["plan"]["outputs"]["replanned"] is True
    assert after["search"]["key"] != before["search"]["key"]  # the new search's inputs differ
    assert after["search"]["key"]["upstream"]["plan"] != before["search"]["key"]["upstream"]["plan"]
    assert after["confirm"]["outputs"]["family_runs"][0][-1] == "2d"  # the pick, its wider widths, the baseline
    assert after["train_baseline"]["outputs"]["reused_finished"] is True  # trained in confirm's family run
    html = Path(after["report"]["outputs"]["report_path"]).read_text()
    assert "trained in the first one as the baseline" in html
    assert main(["run", "-d", pipeline_run["name"], *run_args]) == 0
    assert "running" not in capsys.readouterr().out  # and nothing more once it has caught up
