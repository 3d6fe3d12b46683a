"""The edge predictor: numpy + onnxruntime only, agrees with nnU-Net's predictor, refuses tampered bundles."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tests.export_fixtures import edge_predict_without_torch, exported_model, nnunet_predict


@pytest.fixture(scope="session")
def exported(request, tmp_path_factory):
    return exported_model(request, tmp_path_factory.mktemp("xtiny-export"))


def test_edge_matches_nnunet_predictor_without_torch(exported, tmp_path):
    """Both engines, torch blocked, mirroring on (as nnU-Net's predictor), two threads (so the two images' tiles go
    through the split-batch path): Dice >= 0.99 against nnUNetPredictor, and predict.log names the engine."""
    from PIL import Image

    from xtiny.edge.bundle import sha256_of  # noqa: F401  (the module imports without torch, see subprocess)
    from xtiny.export.evaluate import dice
    from xtiny.paths import nnunet_dirs

    inputs = tmp_path / "in"
    inputs.mkdir()
    for f in sorted((nnunet_dirs().raw / exported["dataset"] / "imagesTr").glob("*.png"))[:2]:
        shutil.copy(f, inputs)
    nnunet_predict(exported["dataset"], exported["configuration"], exported["trainer"], inputs, tmp_path / "nnunet")
    refs = sorted((tmp_path / "nnunet").glob("*.png"))
    assert len(refs) == 2
    for engine in ("ort", "openvino"):
        out = tmp_path / engine
        result = edge_predict_without_torch(exported["out"] / "edge", inputs, out, "--engine", engine,
                                            "--threads", "2", "--mirroring")
        assert result.returncode == 0, result.stderr[-2000:]
        summary = json.loads((out / "predict.log").read_text().splitlines()[-1].removeprefix("summary "))
        assert summary["engine"] == engine and summary["mirroring"] and summary["cases"] == 2
        assert summary["stage_seconds"]["network"] > 0
        for ref in refs:
            a, b = np.asarray(Image.open(ref)), np.asarray(Image.open(out / ref.name))
            assert a.shape == b.shape
            assert dice(a, b, [1]) >= 0.99, (engine, ref.name)


def test_engine_options_and_fallback_without_openvino(exported, tmp_path):
    """Without OpenVINO, auto falls back to onnxruntime with a notice; --engine openvino, an unknown engine or a bad
    thread count exit 2 and write nothing. The default is no mirroring."""
    from xtiny.paths import nnunet_dirs

    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(sorted((nnunet_dirs().raw / exported["dataset"] / "imagesTr").glob("*.png"))[0], inputs)
    bundle = exported["out"] / "edge"
    result = edge_predict_without_torch(bundle, inputs, tmp_path / "auto", "--engine", "auto", block="openvino")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "OpenVINO not installed" in result.stdout and len(list((tmp_path / "auto").glob("*.png"))) == 1
    log = (tmp_path / "auto" / "predict.log").read_text()
    assert "engine ort (requested auto" in log and "mirroring off" in log
    for options, message in ((("--engine", "openvino"), "pip install 'xtiny[openvino]'"),
                             (("--engine", "tpu"), "unknown engine 'tpu'"),
                             (("--threads", "0"), "--threads must be"),
                             (("--batch", "0"), "--batch must be")):
        out = tmp_path / "_".join(options)
        result = edge_predict_without_torch(bundle, inputs, out, *options, block="openvino")
        assert result.returncode == 2 and message in result.stderr, (options, result.stderr[-2000:])
        assert not out.exists()


def test_engines_agree_on_whole_and_split_batches(exported):
    """onnxruntime and OpenVINO on the same ONNX file, one tile at a time (1 thread) and a batch of 3 split over
    2 threads, give the same logits."""
    from xtiny.edge.engines import AutoEngine, OpenVinoEngine, OrtEngine

    path = exported["out"] / "edge" / "model.onnx"
    rng = np.random.default_rng(0)
    tiles = rng.standard_normal((3, 1, *json.loads((path.parent / "preprocess.json").read_text())["patch_size"]))
    tiles = tiles.astype(np.float32)
    reference = np.concatenate([OrtEngine(path, 1).run(t[None]) for t in tiles])
    assert reference.shape[:2] == (3, 2) and np.abs(reference).max() > 0
    for engine in (OrtEngine(path, 2), OpenVinoEngine(path, 2), OpenVinoEngine(path, 1)):
        np.testing.assert_allclose(engine.run(tiles), reference, atol=1e-3, err_msg=engine.name)
    auto = AutoEngine(path, 2, timed=1, expected=tiles.shape)
    auto.wait_ready()
    for _ in range(4):  # warm-up and one timed batch per engine, every result used
        assert not auto.choice()["decided"]
        np.testing.assert_allclose(auto.run(tiles), reference, atol=1e-3)
    record = auto.choice()
    assert record["decided"] and record["engine"] == auto.chosen.name
    assert set(record["timed_ms"]) == {"ort", "openvino"} and auto.runs == {"ort": 2, "openvino": 2}


def test_batched_sliding_window_matches_one_image_at_a_time():
    """Tiles of several images of different sizes sent together give each image the logits it gets alone."""
    from xtiny.edge.sliding import sliding_window_batched, sliding_window_logits

    def run(batch: np.ndarray) -> np.ndarray:  # a fixed, position-dependent "network": logits (B, 3, *patch)
        ramp = np.linspace(0, 1, batch.shape[-1], dtype=np.float32)
        return np.concatenate([batch, batch * ramp, -batch + ramp], axis=1)

    rng = np.random.default_rng(1)
    images = [rng.random((1, *shape)).astype(np.float32) for shape in ((32, 32), (50, 41), (20, 70), (32, 32))]
    alone = [sliding_window_logits(run, image, (32, 32), 3, batch_size=1) for image in images]
    for batch_size in (1, 3, 8):
        together = sliding_window_batched(run, images, (32, 32), 3, batch_size=batch_size)
        for a, b in zip(alone, together, strict=True):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(alone[0], run(images[0][None])[0], atol=1e-5)  # one tile: its logits as they are


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
