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
    checks = metrics["checks"]
    assert checks["fp32"]["passed"] and checks["fp32"]["label_agreement"] >= 0.999
    assert checks["fp32"]["max_abs_diff"] <= checks["fp32"]["allowed_abs_diff"]
    assert checks["torchscript"]["passed"] and checks["torchscript"]["max_rel_diff"] < 1e-4
    for variant in ("int8", "int8_qoperator"):  # recorded: labels vs torch and Dice vs fp32
        assert 0 < checks[variant]["label_agreement"] <= 1 and checks[variant]["max_abs_diff"] > 0
        assert checks[variant]["dice_drop_vs_fp32"] == pytest.approx(metrics["dice_fp32"] - metrics[f"dice_{variant}"])
        assert checks[variant]["passed"] == (metrics[f"dice_{variant}"] >= metrics["dice_fp32"] - 0.01)
    assert json.loads((out / "export_report.json").read_text())["metrics"]["checks"] == checks
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
    assert "## Export checks" in card and f"| fp32 | {checks['fp32']['max_abs_diff']:.2e} |" in card
    assert manifest["metrics"]["checks"] == checks
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
    from xtiny.export import ExportSettings, export_model
    from xtiny.export.pipeline import STAGING

    out = tmp_path / "out"
    shutil.copytree(exported["out"], out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def crash(*_args, **_kwargs):
        raise RuntimeError("simulated crash during quantization")

    monkeypatch.setattr(xtiny.export.quantize, "quantize_int8", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        export_model(exported["dataset"], exported["configuration"], 0,
                     ExportSettings(trainer=exported["trainer"], max_val_cases=1, calibration_patches=2),
                     output_dir=out, log=lambda *_: None)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file() and STAGING not in p.parts}
    assert after == before  # every previous file intact, nothing half-replaced
    load_bundle(out / "edge")

    monkeypatch.undo()
    settings = ExportSettings(formats=("onnx", "int8", "bundle"), trainer=exported["trainer"], max_val_cases=1,
                              calibration_patches=2)
    report = export_model(exported["dataset"], exported["configuration"], 0, settings, output_dir=out,
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


def _export_scaled_checkpoint(exported: dict, factor: float, out, formats: tuple[str, ...] | None = None) -> dict:
    """Export the trained checkpoint with its segmentation heads' weights and biases times ``factor`` (logits
    ``factor`` times larger, as a longer-trained net's), saved next to it under another name, removed afterwards."""
    import torch

    from xtiny.export import ExportSettings, export_model
    from xtiny.nnunet.trained import find_trainer_folder

    fold = find_trainer_folder(exported["dataset"], exported["configuration"], exported["trainer"]) / "fold_0"
    checkpoint = torch.load(fold / "checkpoint_final.pth", map_location="cpu", weights_only=False)
    checkpoint["network_weights"] = {k: v * factor if ".seg_layers." in k else v
                                     for k, v in checkpoint["network_weights"].items()}
    scaled = fold / "checkpoint_scaled.pth"
    torch.save(checkpoint, scaled)
    try:
        settings = ExportSettings(formats=formats, trainer=exported["trainer"], checkpoint_name=scaled.name,
                                  max_val_cases=1, calibration_patches=2)
        return export_model(exported["dataset"], exported["configuration"], 0, settings, output_dir=out,
                            log=lambda *_: None)
    finally:
        scaled.unlink()


def test_export_with_large_logits_passes(exported, tmp_path):
    """fp32 kernels differ in absolute terms with the size of the logits; the check scales with it (issue #32)."""
    report = _export_scaled_checkpoint(exported, 1000.0, tmp_path / "out", formats=("onnx", "torchscript"))
    checks = report["metrics"]["checks"]
    for name in ("fp32", "torchscript"):
        assert checks[name]["passed"] and checks[name]["max_abs_logit"] > 1000, checks[name]
        assert checks[name]["label_agreement"] >= 0.999 and checks[name]["max_rel_diff"] < 1e-5
    assert checks["fp32"]["max_abs_diff"] > 1e-4  # what the former fixed bound refused: a few ulps of logits > 1000
    assert (tmp_path / "out" / "edge" / "model.onnx").is_file()


def test_export_that_changed_a_weight_is_refused(exported, tmp_path, monkeypatch, capsys):
    """An ONNX file whose one weight tensor no longer matches the network is refused: exit 2, the file and the
    numbers named, nothing written in place of the output."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    import xtiny.export.onnx_export
    from xtiny.cli import main

    real_export = xtiny.export.onnx_export.export_onnx

    def export_then_change_a_weight(net, path, example):
        written = real_export(net, path, example)
        model = onnx.load(str(written))
        weight = next(t for t in model.graph.initializer if len(t.dims) == 4)  # the first convolution's weights
        values = numpy_helper.to_array(weight)
        noise = np.random.default_rng(0).standard_normal(values.shape).astype(values.dtype)
        weight.CopyFrom(numpy_helper.from_array(values + 0.05 * values.std() * noise, weight.name))
        onnx.save(model, str(written))
        return written

    monkeypatch.setattr(xtiny.export.onnx_export, "export_onnx", export_then_change_a_weight)
    out = tmp_path / "out"
    code = main(["export", "-d", exported["dataset"], "-c", exported["configuration"], "--trainer", exported["trainer"],
                 "-o", str(out), "--format", "onnx"])
    err = capsys.readouterr().err
    assert code == 2
    assert "ONNX export" in err and "model.onnx does not compute what the network computes" in err
    assert "max |diff|" in err and "relative" in err and "argmax labels agree on" in err and "Fix:" in err
    assert not (out / "edge").exists() and not (out / "export_report.json").exists()


def test_tolerance_scales_with_the_logits_and_labels_must_agree():
    """The rule on plain arrays: rounding-sized differences pass at any logit size, a shift of a few percent of the
    logits fails, and so do flipped labels within the logit tolerance."""
    import numpy as np

    from xtiny.export.fidelity import compare_logits

    rng = np.random.default_rng(0)
    logits = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)
    for scale in (1.0, 1e4):
        ref = logits * scale
        rounding = compare_logits([ref], [ref + ref * 1e-6 * rng.standard_normal(ref.shape).astype(np.float32)])
        assert rounding.within_tolerance and rounding.max_rel_diff < 1e-5, rounding
        shifted = compare_logits([ref], [ref + 0.05 * scale * rng.standard_normal(ref.shape).astype(np.float32)])
        assert not shifted.within_tolerance and shifted.worst_ratio > 10, shifted
    swapped = logits.copy()
    swapped[0, :2, :4, :4] = logits[0, 1::-1, :4, :4]  # 16 voxels of two classes exchanged: labels flip
    flipped = compare_logits([logits], [swapped], atol=10.0)  # logits within tolerance, labels not
    assert flipped.worst_ratio <= 1 and flipped.label_agreement < 0.999 and not flipped.within_tolerance
