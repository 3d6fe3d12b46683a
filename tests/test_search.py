"""End-to-end search on the synthetic datasets: pick, files, cache, determinism, CLI, errors."""

from __future__ import annotations

import json
import shutil

import pytest

from xtiny.artifacts import search_json_path
from xtiny.errors import XTinyError
from xtiny.nnunet.plans import plans_path
from xtiny.paths import nnunet_dirs
from xtiny.search import SearchSettings, run_search

CAPS = [32, 16, 8, 4, 2, 1]


def test_search_bus_end_to_end_and_cache(planned_bus):
    result = run_search(planned_bus, settings=SearchSettings(k=3, seeds=1, device="cpu", caps=CAPS),
                        progress=False)
    assert result["chosen"].startswith("2d_xtiny") and result["chosen"] in [c["name"] for c in result["candidates"]]
    path = search_json_path(planned_bus, "2d")
    saved = json.loads(path.read_text())
    assert saved["chosen"] == result["chosen"] and path.with_suffix(".png").stat().st_size > 1000
    assert [c["cap"] for c in saved["candidates"]] == CAPS
    assert sum(c["selected"] for c in saved["candidates"]) == 1
    assert len(saved["inputs"]["case_ids"]) == 3 and saved["rule"] == "tv"
    assert all(c["flops"] == 2 * c["macs"] > 0 and c["params"] > 0 for c in saved["candidates"])
    again = run_search(planned_bus, settings=SearchSettings(k=3, seeds=1, device="cpu", caps=CAPS),
                       progress=False)
    assert again["chosen"] == result["chosen"]
    assert all(c["timings"]["cached"] for c in again["candidates"])
    assert [c["scores_per_seed"] for c in again["candidates"]] == [c["scores_per_seed"] for c in result["candidates"]]


def test_search_scores_byte_identical_same_seed(planned_cardiac):
    a = run_search(planned_cardiac, settings=SearchSettings(k=2, seeds=[5], device="cpu", caps=[16, 8, 4, 2, 1],
                                                         use_cache=False), progress=False, write=False)
    b = run_search(planned_cardiac, settings=SearchSettings(k=2, seeds=[5], device="cpu", caps=[16, 8, 4, 2, 1],
                                                         use_cache=False), progress=False, write=False)
    assert json.dumps([c["scores_per_seed"] for c in a["candidates"]]) == \
        json.dumps([c["scores_per_seed"] for c in b["candidates"]])
    assert a["chosen"].startswith("2d_xtiny")


def test_cli_search(planned_cardiac, capsys):
    from xtiny.cli import main

    assert main(["search", "-d", planned_cardiac, "-k", "2", "--seeds", "2", "--caps", *map(str, CAPS),
                 "--device", "cpu", "--quiet"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("configuration to train: 2d_xtiny")
    saved = json.loads(search_json_path(planned_cardiac, "2d").read_text())
    assert saved["seeds"] == [0, 1] and len(saved["candidates"][0]["scores_per_seed"]) == 2
    assert all(len(c["scores_per_seed"]) == len(c["seeds"]) >= 2 for c in saved["candidates"])
    assert saved["init"] == f"nested in 2d_xtiny{max(CAPS)}"  # the default: slices of the widest candidate's draw
    assert main(["search", "-d", planned_cardiac, "-k", "2", "--seeds", "2", "--caps", *map(str, CAPS),
                 "--device", "cpu", "--quiet", "--independent-init"]) == 0
    independent = json.loads(search_json_path(planned_cardiac, "2d").read_text())
    assert independent["init"] == "independent"
    assert independent["candidates"][0]["scores_per_seed"] == saved["candidates"][0]["scores_per_seed"]
    assert main(["search", "-d", planned_cardiac, "-k", "2", "--seeds", "2", "--caps", *map(str, CAPS),
                 "--device", "cpu", "--quiet"]) == 0  # back to the default (its scores come from the cache)
    saved = json.loads(search_json_path(planned_cardiac, "2d").read_text())
    assert main(["search", "-d", planned_cardiac, "--caps", "8", "0", "--quiet"]) == 2
    assert main(["search", "-d", planned_cardiac, "--fixed", "--confidence", "0.9", "--quiet"]) == 2
    assert main(["search", "-d", planned_cardiac, "--confidence", "1.5", "--quiet"]) == 2
    assert "--confidence must be in (0, 1]" in capsys.readouterr().err
    assert main(["search", "-d", planned_cardiac, "--narrow-seeds", "0", "--quiet"]) == 2
    assert "--narrow-seeds must be at least 1" in capsys.readouterr().err
    assert json.loads(search_json_path(planned_cardiac, "2d").read_text()) == saved  # nothing rewritten


def test_stop_rule_records_its_trail_and_a_rerun_takes_every_round_from_the_cache(planned_bus):
    from xtiny.sensitivity.inputs import probe_source
    from xtiny.sensitivity.stop_rule import spread_order

    result = run_search(planned_bus, settings=SearchSettings(seeds=3, device="cpu", caps=CAPS),
                        progress=False, write=False)
    sampling, rounds = result["sampling"], result["sampling"]["rounds"]
    assert sampling["mode"] == "sequential" and sampling["confidence"] == 0.95
    assert sampling["max_images"] == 12 and sampling["max_seeds"] == 3
    assert rounds[0]["images"] == 4 and rounds[0]["seeds"] == [0, 1]
    assert [r["next"] == "stop" for r in rounds] == [False] * (len(rounds) - 1) + [True]
    assert all(r["agreement"] < 0.95 for r in rounds[:-1]) and sampling["stopped_because"] == rounds[-1]["why"]
    settled = rounds[-1]["agreement"] >= 0.95
    assert settled or "budget used up" in rounds[-1]["why"] or "seed-limited" in rounds[-1]["why"]
    assert settled == ("warning" not in result)
    assert result["k"] == rounds[-1]["images"] and result["seeds"] == rounds[-1]["seeds"]
    assert result["chosen"] == rounds[-1]["pick"]
    cheap = sampling["narrow_seeds"]["cheap"]  # narrow seeds: only cheap candidates get more than the others
    assert sampling["narrow_seeds"]["max"] == 12 and cheap and result["candidates"][0]["name"] not in cheap
    for c in result["candidates"]:
        assert c["seeds"][:len(result["seeds"])] == result["seeds"] and len(c["scores_per_seed"]) == len(c["seeds"])
        assert len(c["seeds"]) <= (12 if c["name"] in cheap else 3)
    ids = probe_source(planned_bus, "2d").identifiers
    assert result["inputs"]["case_ids"] == [ids[i] for i in spread_order(len(ids))][:result["k"]]
    again = run_search(planned_bus, settings=SearchSettings(seeds=3, device="cpu", caps=CAPS), progress=False,
                       write=False)
    assert [r["cached_probes"] for r in again["sampling"]["rounds"]] == [r["probes"] for r in rounds]
    assert again["chosen"] == result["chosen"] and again["k"] == result["k"]


def test_fixed_sampling_probes_exactly_k_images_with_every_seed(planned_bus):
    from xtiny.sensitivity.inputs import probe_source, select_cases

    fixed = run_search(planned_bus, settings=SearchSettings(k=3, seeds=2, device="cpu", caps=CAPS,
                                                            confidence=None), progress=False, write=False)
    assert fixed["sampling"] == {"mode": "fixed", "images_used": 3, "seeds_used": 2}
    assert fixed["inputs"]["case_ids"] == select_cases(probe_source(planned_bus, "2d").identifiers, 3)
    assert all(len(c["scores_per_seed"]) == 2 and c["seeds"] == [0, 1] for c in fixed["candidates"])


def test_other_proxies_are_recorded_with_their_own_pick_but_never_decide(planned_bus):
    from xtiny.search import format_table

    plain = run_search(planned_bus, settings=SearchSettings(k=2, seeds=1, device="cpu", caps=CAPS),
                       progress=False, write=False)
    both = run_search(planned_bus, settings=SearchSettings(k=2, seeds=1, device="cpu", caps=CAPS,
                                                           proxies=["gradnorm"]), progress=False, write=False)
    assert both["chosen"] == plain["chosen"] and plain["picks_by_proxy"] == {}
    assert both["picks_by_proxy"]["gradnorm"] in [c["name"] for c in both["candidates"]]
    assert all(c["proxies"]["gradnorm"]["mean"] is not None for c in both["candidates"])
    assert f"gradnorm -> {both['picks_by_proxy']['gradnorm']}" in format_table(both)


def test_search_errors(planned_bus):
    with pytest.raises(XTinyError, match="at least 5"):
        run_search(planned_bus, settings=SearchSettings(k=2, seeds=1, device="cpu", caps=[4, 2, 1]),
                   progress=False)
    with pytest.raises(XTinyError, match="unknown proxies"):
        run_search(planned_bus, settings=SearchSettings(k=2, seeds=1, caps=CAPS, proxies=["magic"]),
                   progress=False)
    # plans present, preprocessed data missing -> tells how to preprocess, writes nothing
    name = "Dataset994_NoData"
    dst = nnunet_dirs().preprocessed / name
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(parents=True)
    src = plans_path(planned_bus).parent
    shutil.copy(src / "dataset.json", dst / "dataset.json")
    plans = json.loads((src / "nnUNetPlans.json").read_text())
    plans["configurations"] = {"2d": plans["configurations"]["2d"]}
    (dst / "nnUNetPlans.json").write_text(json.dumps(plans))
    before = (dst / "nnUNetPlans.json").read_bytes()
    with pytest.raises(XTinyError, match="nnUNetv2_plan_and_preprocess -d 994 -c 2d"):
        run_search(name, settings=SearchSettings(k=2, seeds=1, device="cpu"), progress=False)
    assert (dst / "nnUNetPlans.json").read_bytes() == before
