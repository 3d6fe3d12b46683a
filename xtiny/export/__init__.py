"""Export trained nnU-Net / XTiny models: ONNX fp32, INT8 (QDQ, QOperator), TorchScript, MONAI bundle and the
XTiny edge bundle that ``xtiny.edge`` runs without torch."""

from xtiny.export.pipeline import FORMATS, ExportSettings, export_model, parse_formats

__all__ = ["FORMATS", "ExportSettings", "export_model", "parse_formats"]
