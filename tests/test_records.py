"""Typed records: search_<base>.json and confirm_<base>.json written and read back through their one writer and
reader; truncated, old and hand-edited files refused with the file, the problem and the fix (real files, no
training)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xtiny.errors import XTinyError
from xtiny.records.width_search import (
    SEARCH_SCHEMA_VERSION,
    SearchRecord,
    read_search_record,
    write_search_record,
)
from xtiny.training.schedules.confirm_record import ConfirmRecord, read_confirm_record, write_confirm_record

DATASET = "Dataset961_Records"  # only a results folder: confirm and train -c auto stop at the record


def _candidate(cap: int, selected: bool) -> dict:
    return {"name": f"2d_xtiny{cap}", "cap": cap, "features_per_stage": [cap, 2 * cap], "params": 1000 * cap,
            "macs": 10 * cap, "flops": 20 * cap, "activation_bytes": 4 * cap, "scores_per_seed": [0.5],
            "score": 0.5 + cap, "seed_spread": {"std": 0.0, "min": 0.5, "max": 0.5, "cv": None}, "proxies": {},
            "timings": {"probe_s": 0.1, "cached": False}, "normalized": cap / 8, "variation": None,
            "selected": selected}


def search_record() -> SearchRecord:
    return SearchRecord(
        dataset=DATASET, base_configuration="2d", chosen="2d_xtiny4", chosen_cap=4, rule="tv",
        knee={"index": 1, "flat": False}, picks_by_rule={"tv": "2d_xtiny4"}, picks_by_proxy={}, k=3, seeds=[0],
        device="cpu", proxies=[], sampling={"mode": "fixed", "images_used": 3, "seeds_used": 1},
        inputs={"case_ids": ["a", "b", "c"], "patch_size": [64, 64], "images_sha1": "0" * 40, "data_folder": "/x",
                "selection": "centre"},
        plans_file="/x/nnUNetPlans.json", candidates=[_candidate(8, False), _candidate(4, True)], macs_note="macs",
        timings={"inputs_and_family_s": 0.1, "total_s": 1}, versions={"torch": "2"})


def confirm_record() -> ConfirmRecord:
    row = {"configuration": "2d_xtiny4", "trainer_name": "T", "checkpoint": "/c", "params": 4000, "dice": 0.5,
           "train_seconds": 1.0, "logged_seconds": 1.0, "device": "cpu", "skipped_finished": False}
    return ConfirmRecord(
        dataset=DATASET, base_configuration="2d", probe_pick="2d_xtiny4", start="2d_xtiny4", search_json="/s.json",
        trainer="T", backend="nnunet", fold=0, epochs=1, pick_epochs=1, budget_fraction=1.0, iterations_per_epoch=5,
        val_iterations=None, device="cpu",
        tolerance_points=1.0, max_steps=3, neighbours=2, also_train=[], family_runs=[["2d_xtiny4"]], teacher=None,
        kd_loss=None, kd_alpha=None, kd_temperature=None, trainings={"2d_xtiny4": row}, confirmed="2d_xtiny4",
        stopped_because="2d_xtiny4 is the widest configuration", executor="local", jobs=1, finished=True)


def search_path(nnunet_work: Path) -> Path:
    path = nnunet_work / "results" / DATASET / "xtiny" / "search_2d.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_search_record_round_trip_keeps_todays_keys(nnunet_work: Path) -> None:
    path = search_path(nnunet_work)
    record = search_record()
    write_search_record(path, record)
    assert read_search_record(path) == record
    data = json.loads(path.read_text())
    assert data["schema_version"] == SEARCH_SCHEMA_VERSION and data["chosen"] == "2d_xtiny4"
    assert "warning" not in data and "search_json" not in data  # optional keys stay out while None


def test_confirm_record_round_trip_with_ray_keys(tmp_path: Path) -> None:
    path = tmp_path / DATASET / "xtiny" / "confirm_2d.json"
    local = confirm_record()
    write_confirm_record(path, local)
    assert read_confirm_record(path) == local and "ray_address" not in json.loads(path.read_text())
    on_ray = ConfirmRecord(**{**local.to_json(), "executor": "ray", "jobs": None, "ray_address": "local instance",
                              "cpus_per_job": 1.0, "gpus_per_job": 0, "ray_nodes": ["host (1.2.3.4, node 0)"]})
    write_confirm_record(path, on_ray)
    assert read_confirm_record(path) == on_ray and "jobs" not in json.loads(path.read_text())


def _edited(path: Path, **changes) -> Path:
    data = json.loads(path.read_text())
    for key, value in changes.items():
        if value is ...:
            del data[key]
        else:
            data[key] = value
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("changes, message", [
    ({"chosen": 7}, "field 'chosen' is a number, not a string"),
    ({"candidates": "2d_xtiny4"}, "field 'candidates' is a string, not a list"),
    ({"seeds": [0, "1"]}, "field 'seeds'[1] is a string"),
    ({"rule": ...}, "has no field 'rule'"),
    ({"chosen_by_hand": "2d"}, "unknown field 'chosen_by_hand'"),
    ({"schema_version": 2}, "has schema_version 2; this xtiny reads version 1"),
    ({"schema_version": "1"}, "has schema_version \"1\""),
])
def test_hand_edited_search_record_is_refused_naming_the_field(tmp_path: Path, changes: dict, message: str) -> None:
    path = tmp_path / DATASET / "xtiny" / "search_2d.json"
    write_search_record(path, search_record())
    with pytest.raises(XTinyError) as caught:
        read_search_record(_edited(path, **changes))
    assert message in caught.value.message and str(path) in caught.value.message
    assert f"xtiny search -d {DATASET} -c 2d" in caught.value.fix


def test_candidate_without_its_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / DATASET / "xtiny" / "search_2d.json"
    record = search_record()
    write_search_record(path, record)
    candidates = record.to_json()["candidates"]
    del candidates[1]["name"]
    with pytest.raises(XTinyError, match=r"field 'candidates'\[1\] has no key 'name'"):
        read_search_record(_edited(path, candidates=candidates))


def test_record_without_schema_version_is_read_as_version_0_when_complete(tmp_path: Path) -> None:
    path = tmp_path / DATASET / "xtiny" / "confirm_2d.json"
    write_confirm_record(path, confirm_record())
    old = read_confirm_record(_edited(path, schema_version=...))
    assert old.schema_version == 0 and old.confirmed == "2d_xtiny4"
    with pytest.raises(XTinyError, match="has no field 'finished'"):
        read_confirm_record(_edited(path, finished=...))


def test_truncated_confirm_record_names_the_file_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / DATASET / "xtiny" / "confirm_2d.json"
    write_confirm_record(path, confirm_record())
    path.write_text(path.read_text()[:50])
    with pytest.raises(XTinyError) as caught:
        read_confirm_record(path)
    assert "is not valid JSON" in caught.value.message and str(path) in caught.value.message
    assert f"xtiny confirm -d {DATASET} -c 2d" in caught.value.fix


def test_writer_refuses_an_ill_typed_record(tmp_path: Path) -> None:
    path = tmp_path / "search_2d.json"
    with pytest.raises(ValueError, match="field 'chosen'"):
        write_search_record(path, SearchRecord(**{**search_record().to_json(), "chosen": None}))
    assert not path.exists()


def test_truncated_search_stops_confirm_and_train_auto_with_exit_2(nnunet_work: Path, capsys) -> None:
    from xtiny.artifacts import confirm_json_path
    from xtiny.cli import main

    path = search_path(nnunet_work)
    write_search_record(path, search_record())
    path.write_text(path.read_text()[:100])
    assert main(["confirm", "-d", "961", "--epochs", "1", "--iterations", "5", "--val-iterations", "1"]) == 2
    err = capsys.readouterr().err
    assert "search_2d.json is not valid JSON" in err and f"Fix: rerun `xtiny search -d {DATASET} -c 2d`" in err
    assert not confirm_json_path(DATASET).exists() and not confirm_json_path(DATASET).with_suffix(".png").exists()
    assert main(["train", "-d", "961", "-c", "auto", "--epochs", "1"]) == 2
    assert "search_2d.json is not valid JSON" in capsys.readouterr().err


def test_report_shows_a_broken_record_as_a_note(nnunet_work: Path) -> None:
    from xtiny.evaluation.run_report import ReportInputs, build_report

    path = search_path(nnunet_work)
    write_search_record(path, search_record())
    broken = _edited(path, chosen=7)
    report = build_report(DATASET, ReportInputs(search_json=broken)).read_text()
    assert "field &#x27;chosen&#x27; is a number" in report or "field 'chosen' is a number" in report
