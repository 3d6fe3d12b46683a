"""The width family's one naming rule (``xtiny.nnunet.width_names``): built, parsed and labelled in one place."""

from __future__ import annotations

import re
from pathlib import Path

from xtiny.evaluation.plots import _marker
from xtiny.family import family_members
from xtiny.models import display_name
from xtiny.nnunet.width_names import (
    base_of,
    is_width_configuration,
    parse_width_configuration,
    width_configuration_name,
    width_label,
)

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = ("xtiny", "datasets", "sensitivity", "evaluation")
# ``_xtiny`` not followed by a cap: building or parsing the rule (examples such as ``2d_xtiny8`` and the
# ``{base}_xtiny{C}`` of docstrings are fine)
RULE_SPELLED = re.compile(r"_xtiny(?![0-9]|\{C\})")


def test_names_round_trip() -> None:
    assert width_configuration_name("3d_fullres", 8) == "3d_fullres_xtiny8"
    assert parse_width_configuration("3d_fullres_xtiny8") == ("3d_fullres", 8)
    assert parse_width_configuration("2d_xtiny16") == ("2d", 16)
    for other in ("2d", "3d_fullres", "2d_xtiny", "2d_xtinyx8", "2d_xtiny8_extra", "unext"):
        assert parse_width_configuration(other) is None and not is_width_configuration(other)
    assert base_of("3d_fullres_xtiny4") == "3d_fullres" and base_of("3d_lowres") == "3d_lowres"


def test_3d_fullres_family_is_listed_and_labelled() -> None:
    plans = {"configurations": {"2d": {}, "3d_fullres": {}, "2d_xtiny8": {}, "3d_fullres_xtiny8": {},
                                "3d_fullres_xtiny32": {}, "3d_fullres_xtiny2": {}}}
    members = family_members(plans, "3d_fullres")
    assert members == [("3d_fullres_xtiny32", 32), ("3d_fullres_xtiny8", 8), ("3d_fullres_xtiny2", 2)]
    assert [display_name(n) for n, _ in members] == ["XTiny 3d_fullres C=32", "XTiny 3d_fullres C=8",
                                                       "XTiny 3d_fullres C=2"]
    assert display_name("3d_fullres") == "nnU-Net 3d_fullres" and display_name("2d_xtiny8") == "XTiny C=8"
    assert width_label("3d_fullres") is None
    # the Dice-vs-parameters plot: family circles, full nnU-Net triangles, other nets squares
    assert _marker("3d_fullres_xtiny8") == (True, "o", "C0")
    assert _marker("3d_fullres") == (False, "^", "C2") and _marker("2d") == (False, "^", "C2")
    assert _marker("cmunext_s") == (False, "s", "C1")


def test_no_other_module_spells_the_rule() -> None:
    offenders = []
    for folder in PACKAGE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name == "width_names.py":
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if RULE_SPELLED.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "build/parse width names with xtiny.nnunet.width_names:\n" + "\n".join(offenders)
