"""XTiny's edge runtime: run an exported bundle with numpy + onnxruntime (OpenVINO when installed; no torch, no
nnU-Net).

    from xtiny.edge import EdgePredictor
    EdgePredictor("bundle_dir", engine="auto").predict_folder("in/", "out/")   # writes out/predict.log too
"""

from xtiny.edge.bundle import BundleError, EdgeBundle, load_bundle, sha256_of, verify_bundle
from xtiny.edge.predictor import EdgePredictor, group_cases

__all__ = ["BundleError", "EdgeBundle", "EdgePredictor", "group_cases", "load_bundle", "sha256_of", "verify_bundle"]
