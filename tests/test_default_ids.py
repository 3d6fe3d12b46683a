"""Default dataset ids: the demo's datasets never share an id with those `xtiny datasets` writes."""

from __future__ import annotations

import importlib
import inspect

from xtiny.commands.datasets import SYNTH_IDS
from xtiny.commands.demo import DEMO_IDS
from xtiny.datasets.colin27 import build_colin27_dataset
from xtiny.datasets.converters import CONVERTERS
from xtiny.datasets.lungct import DEFAULT_ID as LUNGCT_ID
from xtiny.datasets.mni import build_mni_dataset


def _default_id(builder) -> int:
    return inspect.signature(builder).parameters["dataset_id"].default


def test_demo_ids_are_their_own() -> None:
    others = {*SYNTH_IDS.values(), _default_id(build_mni_dataset), _default_id(build_colin27_dataset),
              LUNGCT_ID, LUNGCT_ID + 1,
              *(importlib.import_module(module).DEFAULT_ID for _, module in CONVERTERS.items())}
    demo = list(DEMO_IDS.values())
    assert len(set(demo)) == len(demo) and not set(demo) & others
    assert DEMO_IDS["quick"] != SYNTH_IDS["bus"]  # `xtiny demo --quick` and `xtiny datasets synth bus`
