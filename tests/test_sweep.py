"""Oracle sweep with the MONAI backend on caps 32..2 (+ full 2d): sweep.json, plot, knee vs probe, rerun skip."""

from __future__ import annotations

import pytest

from xtiny.errors import XTinyError

CAPS = [32, 16, 8, 4, 2]  # the knee rule of the probe needs >= 5 candidates


def test_sweep_writes_every_candidate_and_compares_with_probe(planned_bus):
    from xtiny.artifacts import search_json_path, sweep_json_path
    from xtiny.atomic import read_json
    from xtiny.search import SearchSettings, run_search
    from xtiny.training.schedules.sweep import run_sweep
    from xtiny.training.spec import TrainSpec

    if not search_json_path(planned_bus).is_file():
        run_search(planned_bus, settings=SearchSettings(k=4, seeds=1, device="cpu", caps=CAPS),
                   progress=False)
    probe = read_json(search_json_path(planned_bus))["chosen"]
    spec = TrainSpec(backend="monai", epochs=1, iterations_per_epoch=2, val_iterations=0)
    result = run_sweep(planned_bus, spec, caps=CAPS)
    names = [r["configuration"] for r in result["candidates"]]
    assert names == ["2d"] + [f"2d_xtiny{c}" for c in CAPS]  # widest first
    params = [r["params"] for r in result["candidates"]]
    assert params == sorted(params, reverse=True)
    assert all(r["dice"] is not None for r in result["candidates"])
    saved = read_json(sweep_json_path(planned_bus))
    cmp = saved["comparison"]
    assert cmp["probe_pick"] == probe and cmp["observed_knee"] in names
    assert cmp["agree"] == (probe == cmp["observed_knee"])
    assert "probe_pick_dice_gap_points" in cmp and "probe_pick_params_over_knee_params" in cmp
    assert sweep_json_path(planned_bus).with_suffix(".png").stat().st_size > 1000

    rerun = run_sweep(planned_bus, spec, caps=CAPS)
    assert all(r["skipped_finished"] for r in rerun["candidates"])
    assert [r["dice"] for r in rerun["candidates"]] == [r["dice"] for r in result["candidates"]]


def test_observed_knee_rule():
    from xtiny.training.schedules.sweep import observed_knee

    rows = [{"configuration": "a", "params": 100, "dice": 0.90}, {"configuration": "b", "params": 10, "dice": 0.895},
            {"configuration": "c", "params": 1, "dice": 0.70}]
    assert observed_knee(rows) == "b"
    assert observed_knee([]) is None


def test_sweep_bad_options(planned_bus):
    from xtiny.training.schedules.sweep import ExecutorChoice, run_sweep
    from xtiny.training.spec import TrainSpec

    with pytest.raises(XTinyError, match="backend"):
        run_sweep(planned_bus, TrainSpec(backend="keras", epochs=1))
    with pytest.raises(XTinyError, match="executor"):
        run_sweep(planned_bus, TrainSpec(backend="monai", epochs=1), executor=ExecutorChoice(executor="slurm"))
    try:
        import ray  # noqa: F401
    except ImportError:
        with pytest.raises(XTinyError, match="ray"):
            run_sweep(planned_bus, TrainSpec(backend="monai", epochs=1, iterations_per_epoch=1, val_iterations=0),
                      executor=ExecutorChoice(executor="ray"), caps=[2], include_base=False)
