"""Predictions written back to raw geometry with nnU-Net's ``export_prediction_from_logits``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from xtiny.nnunet.plans import plans_manager


def prediction_exporter(plans: dict, data_configuration: str, dataset_json: dict,
                        folder: Path) -> Callable[[Any, Any], None]:
    """A callable ``(case, logits)`` writing ``folder/<case.key><file_ending>`` in raw geometry (nnU-Net's export);
    ``case`` carries ``key`` and nnU-Net's ``properties`` (a case without properties is skipped), ``logits`` is
    ``(Z, classes, Y, X)``."""
    from nnunetv2.inference.export_prediction import export_prediction_from_logits

    manager = plans_manager(plans)
    config = manager.get_configuration(data_configuration)
    folder.mkdir(parents=True, exist_ok=True)

    def export(case: Any, logits: Any) -> None:
        if case.properties is None:
            return
        export_prediction_from_logits(logits.permute(1, 0, 2, 3).cpu(), case.properties, config, manager,
                                      dataset_json, str(folder / case.key), num_threads_torch=1)

    return export
