"""xtiny export: every format from one briefly trained checkpoint, checked for fidelity and integrity."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.export_fixtures import exported_model
from xtiny.errors import XTinyError


@pytest.fixture(scope="session")
def exported(request, tmp_path_factory):
    return exported_model(request, tmp_path_factory.mktemp("xtiny-export"))


def test_every_format_written_and_checked(exported):
    import onnx

    out, metrics = exported["out"], exported["report"]["metrics"]
    edge = out / "edge"
    model = onnx.load(str(edge / "model.onnx"))
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert all(d.dim_param for i, d in enumerate(dims) if i != 1)  # batch + spatial axes are dynamic
    assert metrics["onnx_max_abs_diff"] <= 1e-4
    ops_qdq = {n.op_type for n in onnx.load(str(edge / "model.int8.onnx")).graph.node}
    ops_qop = {n.op_type for n in onnx.load(str(edge / "model.int8_qoperator.onnx")).graph.node}
    assert "QuantizeLinear" in ops_qdq and "QLinearConv" in ops_qop
    for key in ("dice_fp32", "dice_int8", "dice_int8_qoperator", "latency_ms_int8", "size_bytes_int8"):
        assert key in metrics
    assert (out / "torchscript" / "model.ts").is_file()
    manifest = json.loads((edge / "manifest.json").read_text())
    assert {"model.onnx", "model.int8.onnx", "preprocess.json", "README.md"} <= set(manifest["files"])
    assert manifest["versions"]["onnxruntime"]
    pre = json.loads((edge / "preprocess.json").read_text())
    assert pre["normalization_schemes"] and pre["patch_size"] and pre["labels"]["background"] == 0
    card = (edge / "README.md").read_text()
    assert "Intended use" in card
    speed = metrics["speed"]["rows"]
    assert {(r["engine"], r["format"]) for r in speed} >= {("ort", "fp32"), ("openvino", "fp32"), ("ort", "int8")}
    assert all(r["tile_ms"] > 0 and r["tiles_per_s"] > 0 for r in speed if r["format"] == "fp32")
    assert "## Speed on the export machine" in card and "| openvino | 1 | fp32 |" in card
    assert metrics["mirroring_dice_gain"] == metrics["dice_fp32_mirroring"] - metrics["dice_fp32"]
    assert "## Mirroring" in card and f"{metrics['dice_fp32_mirroring']:.4f} with mirroring" in card


def test_monai_bundle_runs_offline(exported, tmp_path):
    import numpy as np
    from monai.bundle import run
    from PIL import Image

    from xtiny.export.monai_bundle import validate_metadata
    from xtiny.paths import nnunet_dirs

    bundle = exported["out"] / "monai_bundle"
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    assert validate_metadata(meta) == []
    assert validate_metadata({k: v for k, v in meta.items() if k != "task"}) == ["missing 'task'"]
    images = sorted((nnunet_dirs().raw / exported["dataset"] / "imagesTr").glob("*.png"))[:1]
    inputs = tmp_path / "in"
    inputs.mkdir()
    for f in images:
        shutil.copy(f, inputs)
    run(run_id="run", init_id="initialize", meta_file=str(bundle / "configs" / "metadata.json"),
        config_file=str(bundle / "configs" / "inference.json"), bundle_root=str(bundle),
        dataset_dir=str(inputs), output_dir=str(tmp_path / "out"))
    written = sorted((tmp_path / "out").glob("*.png"))
    assert len(written) == len(images)
    assert np.asarray(Image.open(written[0])).shape == np.asarray(Image.open(images[0])).shape[:2]


def test_refuses_missing_ambiguous_and_corrupt(exported, tmp_path):
    from xtiny.nnunet.checkpoints import load_checkpoint
    from xtiny.nnunet.trained import find_trainer_folder

    with pytest.raises(XTinyError, match="no trained model"):
        find_trainer_folder(exported["dataset"], "3d_nonexistent")
    folder = find_trainer_folder(exported["dataset"], exported["configuration"], exported["trainer"])
    twin = folder.with_name("OtherTrainer__" + folder.name.split("__", 1)[1])
    twin.mkdir()
    try:
        with pytest.raises(XTinyError, match="several trainers"):
            find_trainer_folder(exported["dataset"], exported["configuration"])
        assert find_trainer_folder(exported["dataset"], exported["configuration"], exported["trainer"]) == folder
    finally:
        twin.rmdir()
    bad = tmp_path / "checkpoint_final.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(XTinyError, match="cannot load checkpoint"):
        load_checkpoint(bad)


def test_int8_keeps_the_segmentation_head_in_fp32(tmp_path):
    import numpy as np
    import onnx
    import torch

    from xtiny.export.onnx_export import export_onnx
    from xtiny.export.quantize import logits_nodes, quantize_int8

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.InstanceNorm2d(4, affine=True),
                              torch.nn.LeakyReLU(), torch.nn.Conv2d(4, 3, 1)).eval()
    calibration = [np.random.default_rng(i).standard_normal((1, 1, 16, 16)).astype(np.float32) for i in range(4)]
    fp32 = export_onnx(net, tmp_path / "m.onnx", calibration[0])
    head = logits_nodes(fp32)
    assert len(head) == 1

    def quantized_weight_of(path, node_name):
        graph = onnx.load(str(path)).graph
        producers = {out: n.op_type for n in graph.node for out in n.output}
        node = next(n for n in graph.node if n.name == node_name)
        return producers.get(node.input[1]) == "DequantizeLinear"

    kept = quantize_int8(fp32, tmp_path / "kept.onnx", calibration, float_logits=True)
    every = quantize_int8(fp32, tmp_path / "every.onnx", calibration, float_logits=False)
    assert not quantized_weight_of(kept, head[0])
    assert quantized_weight_of(every, head[0])


def test_model_card_tolerates_epochs_without_validation(exported):
    import dataclasses

    from xtiny.export.edge_bundle import model_card, preprocess_description
    from xtiny.nnunet.trained import load_trained_model

    model = load_trained_model(exported["dataset"], exported["configuration"], 0, trainer=exported["trainer"])
    checkpoint = dict(model.checkpoint, logging={"mean_fg_dice": [0.25, None]})  # MONAI backend, 0 val batches
    card = model_card(dataclasses.replace(model, checkpoint=checkpoint), preprocess_description(model, {}), {})
    assert "(last epoch):\n  0.2500" in card
    no_val = dict(model.checkpoint, logging={"mean_fg_dice": [None, None]})
    assert "n/a" in model_card(dataclasses.replace(model, checkpoint=no_val), preprocess_description(model, {}), {})


def test_failed_reexport_keeps_the_previous_bundles(exported, tmp_path, monkeypatch):
    import xtiny.export.quantize
    from xtiny.edge import load_bundle
    from xtiny.export import export_model
    from xtiny.export.pipeline import STAGING

    out = tmp_path / "out"
    shutil.copytree(exported["out"], out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def crash(*_args, **_kwargs):
        raise RuntimeError("simulated crash during quantization")

    monkeypatch.setattr(xtiny.export.quantize, "quantize_int8", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        export_model(exported["dataset"], exported["configuration"], 0, output_dir=out, trainer=exported["trainer"],
                     max_val_cases=1, calibration_patches=2, log=lambda *_: None)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file() and STAGING not in p.parts}
    assert after == before  # every previous file intact, nothing half-replaced
    load_bundle(out / "edge")

    monkeypatch.undo()
    report = export_model(exported["dataset"], exported["configuration"], 0, formats=["onnx", "int8", "bundle"],
                          output_dir=out, trainer=exported["trainer"], max_val_cases=1, calibration_patches=2,
                          log=lambda *_: None)
    assert not (out / STAGING).exists() and not list(out.glob(".*.old"))
    assert report["files"]["bundle"] == str(out / "edge")
    load_bundle(out / "edge")


def test_replace_tree_swaps_whole_folders_and_recovers(tmp_path):
    from xtiny.atomic import recover_tree, replace_tree

    dest, new = tmp_path / "edge", tmp_path / "new"
    dest.mkdir()
    (dest / "a").write_text("old")
    new.mkdir()
    (new / "a").write_text("new")
    replace_tree(new, dest)
    assert (dest / "a").read_text() == "new" and not new.exists() and not (tmp_path / ".edge.old").exists()
    (dest).rename(tmp_path / ".edge.old")  # a crash between the two renames
    recover_tree(dest)
    assert (dest / "a").read_text() == "new"
