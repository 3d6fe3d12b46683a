"""One registry mechanism (``xtiny.registry.Registry``) behind the six name tables."""

from __future__ import annotations

import pytest

from xtiny.commands import datasets as datasets_command
from xtiny.datasets.converters import CONVERTERS
from xtiny.datasets.synth import KINDS, kind_module
from xtiny.errors import XTinyError
from xtiny.export import FORMATS, parse_formats
from xtiny.models import REGISTRY, get_spec
from xtiny.registry import Registry
from xtiny.sensitivity.knee import RULES, select_knee
from xtiny.sensitivity.proxies import PROXIES


def test_a_name_is_registered_once() -> None:
    colours: Registry[int] = Registry("colour", [("red", 1)])

    @colours.register("blue")
    def blue() -> int:
        return 2

    assert colours.get("blue") is blue and colours["red"] == 1 and colours.names() == ["red", "blue"]
    assert "red" in colours and list(colours) == ["red", "blue"] and len(colours) == 2
    with pytest.raises(ValueError, match="colour 'red' is registered twice"):
        colours.register("red", 3)
    with pytest.raises(ValueError, match="colour 'blue' is registered twice"):
        colours.register("blue")(lambda: 4)
    with pytest.raises(ValueError, match="registered twice"):
        Registry("colour", [("red", 1), ("red", 2)])
    assert colours.get("red") == 1 and colours.names() == ["red", "blue"]  # the refused ones changed nothing


def test_unknown_name_lists_the_known_ones() -> None:
    colours: Registry[int] = Registry("colour", [("red", 1), ("blue", 2)], hint=" or a hex code")
    with pytest.raises(XTinyError, match="unknown colour 'green'") as info:
        colours["green"]
    assert info.value.fix == "use one of: red, blue or a hex code."


@pytest.mark.parametrize(("registry", "lookup", "kind"), [
    (REGISTRY, get_spec, "model"),
    (CONVERTERS, CONVERTERS.get, "converter"),
    (KINDS, kind_module, "synthetic kind"),
    (PROXIES, PROXIES.get, "proxy"),
    (RULES, lambda name: select_knee([8, 4, 2, 1, 16], [1, 2, 3, 4, 5], rule=name), "knee rule"),
    (FORMATS, FORMATS.get, "export format"),
])
def test_six_registries_share_the_mechanism(registry, lookup, kind: str) -> None:
    assert isinstance(registry, Registry) and registry.kind == kind and len(registry) >= 2
    with pytest.raises(XTinyError, match=f"unknown {kind} 'nope'") as info:
        lookup("nope")
    assert all(name in info.value.fix for name in registry.names())


def test_public_behaviour_kept() -> None:
    assert get_spec("CMUNeXt-S").display == "CMUNeXt-S" and parse_formats("all") == FORMATS.names()
    assert tuple(KINDS) == datasets_command.SYNTH_KINDS  # the CLI's choices (kept import-light) are the registry's
    assert tuple(CONVERTERS) == datasets_command.CONVERTERS
    assert PROXIES.names()[0] == "jacobian" and RULES.names() == ["tv", "pwl"]
