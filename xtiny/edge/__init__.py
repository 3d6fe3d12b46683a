"""XTiny's edge runtime: run an exported bundle with numpy + onnxruntime only (no torch, no nnU-Net).

    from xtiny.edge import EdgePredictor
    EdgePredictor("bundle_dir", threads=1).predict_folder("in/", "out/")
"""

from xtiny.edge.bundle import BundleError, EdgeBundle, load_bundle, sha256_of, verify_bundle
from xtiny.edge.predictor import EdgePredictor, group_cases

__all__ = ["BundleError", "EdgeBundle", "EdgePredictor", "group_cases", "load_bundle", "sha256_of", "verify_bundle"]
