"""The edge predictor: numpy + onnxruntime only, agrees with nnU-Net's predictor, refuses tampered bundles."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.export_fixtures import edge_predict_without_torch, exported_model, nnunet_predict


@pytest.fixture(scope="session")
def exported(request, tmp_path_factory):
    return exported_model(request, tmp_path_factory.mktemp("xtiny-export"))


def test_edge_matches_nnunet_predictor_without_torch(exported, tmp_path):
    from PIL import Image

    from xtiny.edge.bundle import sha256_of  # noqa: F401  (the module imports without torch, see subprocess)
    from xtiny.export.evaluate import dice
    from xtiny.paths import nnunet_dirs

    inputs = tmp_path / "in"
    inputs.mkdir()
    for f in sorted((nnunet_dirs().raw / exported["dataset"] / "imagesTr").glob("*.png"))[:2]:
        shutil.copy(f, inputs)
    result = edge_predict_without_torch(exported["out"] / "edge", inputs, tmp_path / "edge")
    assert result.returncode == 0, result.stderr[-2000:]
    nnunet_predict(exported["dataset"], exported["configuration"], exported["trainer"], inputs, tmp_path / "nnunet")
    refs = sorted((tmp_path / "nnunet").glob("*.png"))
    assert len(refs) == 2
    for ref in refs:
        a, b = np.asarray(Image.open(ref)), np.asarray(Image.open(tmp_path / "edge" / ref.name))
        assert a.shape == b.shape
        assert dice(a, b, [1]) >= 0.99, ref.name


def test_tampered_bundle_is_refused(exported, tmp_path):
    from xtiny.edge import BundleError, load_bundle

    bundle = tmp_path / "bundle"
    shutil.copytree(exported["out"] / "edge", bundle)
    load_bundle(bundle)
    pre = bundle / "preprocess.json"
    pre.write_text(pre.read_text().replace('"tile_step_size": 0.5', '"tile_step_size": 0.25'))
    with pytest.raises(BundleError, match="sha256 of 'preprocess.json'"):
        load_bundle(bundle)
    result = edge_predict_without_torch(bundle, tmp_path, tmp_path / "out")
    assert result.returncode == 2
    assert "does not match the manifest" in result.stderr and "re-export" in result.stderr


def test_numpy_sliding_window_matches_nnunet():
    import torch
    from nnunetv2.inference.sliding_window_prediction import (
        compute_gaussian,
        compute_steps_for_sliding_window,
    )

    from xtiny.edge.preprocessing import fill_holes, resize
    from xtiny.edge.sliding import gaussian_importance, window_starts

    for patch in ((64, 64), (48, 80), (20, 28, 24)):
        ref = compute_gaussian(patch, 1 / 8, 1, dtype=torch.float32, device=torch.device("cpu")).numpy()
        assert np.allclose(gaussian_importance(patch), ref, atol=1e-6)
    for image, patch in (((64, 64), (64, 64)), ((100, 71), (64, 48)), ((300,), (128,))):
        assert window_starts(image, patch) == compute_steps_for_sliding_window(image, patch, 0.5)
    x = np.random.default_rng(0).random((1, 5, 7)).astype(np.float32)
    assert np.array_equal(resize(x, (5, 7)), x) and resize(x, (10, 14)).shape == (1, 10, 14)
    ring = np.zeros((5, 5), bool)
    ring[1:4, 1:4] = True
    ring[2, 2] = False
    assert fill_holes(ring)[2, 2] and not fill_holes(ring)[0, 0]
