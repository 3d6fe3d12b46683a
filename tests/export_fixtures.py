"""Shared fixture helper for tests/test_export*.py and tests/test_edge*.py: one exported model per session."""

from __future__ import annotations

from pathlib import Path


def exported_model(request, tmp_root: Path) -> dict:
    """Export the briefly trained ``trained_bus`` model (nnU-Net backend) to every format, once."""
    from xtiny.export import export_model

    trained = request.getfixturevalue("trained_bus")
    dataset = request.getfixturevalue("planned_bus")
    out = tmp_root / "export"
    report = export_model(dataset, trained.configuration, 0, output_dir=out, trainer=trained.trainer_name,
                          max_val_cases=2, calibration_patches=4)
    return {"dataset": dataset, "configuration": trained.configuration, "trainer": trained.trainer_name,
            "out": out, "report": report}
