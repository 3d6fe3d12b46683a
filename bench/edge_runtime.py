"""Parts of ``bench_edge.py`` for the edge runtime: the engines x threads x batch grid, the CPU's peak, and
end-to-end ``xtiny predict`` runs (new defaults and variants vs the defaults before the engine work)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BASELINE_REF = "c245af4"  # main before issue #18: onnxruntime, mirroring on, one slice per network call


def cpu_peak() -> dict:
    """The CPU's fp32 roof two ways: nominal (cores x the clock /proc/cpuinfo reports x 16 MACs a cycle: two 256-bit
    FMA pipes; 32 on Intel with AVX-512; boost clocks not seen from inside a VM) and measured (numpy's sgemm,
    2048^3 MACs, best of 5, all cores; per core = that / cores)."""
    import time

    from xtiny.edge.engines import physical_cores

    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    mhz = [float(line.split(":")[1]) for line in text.splitlines() if line.startswith("cpu MHz")]
    flags = next((line for line in text.splitlines() if line.startswith("flags")), "")
    macs_per_cycle = 32 if "GenuineIntel" in text and "avx512f" in flags else 16 if "fma" in flags else 4
    cores = physical_cores()
    ghz = (max(mhz) / 1000) if mhz else 2.0
    a = np.random.default_rng(0).standard_normal((2048, 2048)).astype(np.float32)
    a @ a
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - started)
    sgemm = 2048 ** 3 / best / 1e9
    return {"physical_cores": cores, "ghz_reported": round(ghz, 2), "macs_per_cycle_per_core": macs_per_cycle,
            "nominal_gmacs_per_s": round(cores * ghz * macs_per_cycle, 1), "sgemm_gmacs_per_s": round(sgemm, 1),
            "sgemm_gmacs_per_s_per_core": round(sgemm / cores, 1)}


def engine_grid(models: dict[str, Path], gmacs: dict[str, float], x: np.ndarray, repeats: int) -> tuple[list, dict]:
    """ms per slice for each model x engine x threads x batch, and what ``auto`` picks for one slice (all cores)."""
    from xtiny.edge.engines import AutoEngine, OpenVinoEngine, OrtEngine, median_ms, physical_cores

    threads_all = sorted({1, physical_cores()})
    rows = []
    for name, path in models.items():
        full = "full" in name
        batches = (1, 4) if full else (1, 2, 4, 8, 16)
        for engine_class in (OrtEngine, OpenVinoEngine):
            for threads in threads_all:
                engine = engine_class(path, threads)
                for batch in batches:
                    stack = np.repeat(x, batch, axis=0)
                    ms = median_ms(engine.run, stack, repeats=3 if full else max(3, repeats // batch)) / batch
                    rows.append({"model": name, "engine": engine.name, "threads": threads, "batch": batch,
                                 "ms_per_slice": round(ms, 2), "gmacs_per_s": round(gmacs[name] / (ms / 1000), 2)})
                    print(f"[grid] {rows[-1]}", flush=True)
    cores = threads_all[-1]
    pick_path = models["xtiny_cap8"]
    auto = AutoEngine(pick_path, cores, expected=x.shape)
    auto.wait_ready()
    while auto.chosen is None:
        auto.run(x)
    record = auto.choice()
    auto_ms = median_ms(auto.run, x, repeats=repeats)
    ort_ms = median_ms(OrtEngine(pick_path, cores).run, x, repeats=repeats)
    pick = {"threads": cores, "auto_engine": record["engine"], "auto_timed_ms": record.get("timed_ms"),
            "auto_ms_per_slice": round(auto_ms, 2), "ort_ms_per_slice": round(ort_ms, 2),
            "speedup_auto_vs_ort": round(ort_ms / auto_ms, 2)}
    print(f"[grid] auto pick: {pick}", flush=True)
    return rows, pick


def grid_table(rows: list[dict], peak: dict) -> dict:
    """BENCHMARKS.md table of :func:`engine_grid`."""
    return {"title": f"Engines x threads x batch, 256x256 slices; the CPU's roof: numpy sgemm "
                     f"{peak['sgemm_gmacs_per_s']} GMAC/s on {peak['physical_cores']} cores "
                     f"({peak['sgemm_gmacs_per_s_per_core']} per core), nominal {peak['nominal_gmacs_per_s']} "
                     f"({peak['ghz_reported']} GHz x {peak['macs_per_cycle_per_core']} MAC/cycle x cores)",
            "header": ["model", "engine", "threads", "batch", "ms per slice", "GMAC/s", "% of sgemm (threads used)"],
            "rows": [[r["model"], r["engine"], r["threads"], r["batch"], r["ms_per_slice"], r["gmacs_per_s"],
                      round(100 * r["gmacs_per_s"] / (peak["sgemm_gmacs_per_s_per_core"] * r["threads"]), 1)]
                     for r in rows]}


def _bundle(folder: Path, onnx: Path, ending: str) -> Path:
    """An edge bundle around ``onnx`` (1 channel, 2 labels, z-score, patch 256x256, spacing 1 mm), as export
    writes it."""
    import shutil

    from xtiny.atomic import atomic_write_json
    from xtiny.edge.bundle import FORMAT_VERSION, PREPROCESS
    from xtiny.export.edge_bundle import write_manifest

    folder.mkdir(parents=True)
    shutil.copy(onnx, folder / "model.onnx")
    atomic_write_json(folder / PREPROCESS, {
        "format_version": FORMAT_VERSION, "num_input_channels": 1, "channel_names": {"0": "MR"},
        "normalization_schemes": ["ZScoreNormalization"], "use_mask_for_norm": [False], "intensity_properties": {},
        "spacing": [1.0, 1.0], "patch_size": [256, 256], "transpose_forward": [0, 1, 2],
        "transpose_backward": [0, 1, 2], "labels": {"background": 0, "foreground": 1}, "file_ending": ending,
        "mirroring_axes": [0, 1], "tile_step_size": 0.5, "gaussian_sigma_scale": 0.125, "input_name": "input",
        "output_name": "output", "models": {"fp32": "model.onnx"}})
    write_manifest(folder)
    return folder


def _inputs(folder: Path, slices: int) -> tuple[Path, Path]:
    """A NIfTI volume of ``slices`` 256x256 slices and a folder of as many 256x256 PNGs (MR-like: noisy body,
    a bright ellipse)."""
    import nibabel
    from PIL import Image

    rng = np.random.default_rng(0)
    y, x = np.mgrid[:256, :256]
    body = ((y - 128) / 110) ** 2 + ((x - 128) / 100) ** 2 < 1
    volume = np.stack([body * (100 + 10 * rng.standard_normal((256, 256)))
                       + (((y - 120 - z) / 30) ** 2 + ((x - 130) / 20) ** 2 < 1) * 80 for z in range(slices)])
    nifti, pngs = folder / "nifti", folder / "png"
    nifti.mkdir(parents=True)
    pngs.mkdir(parents=True)
    nibabel.save(nibabel.Nifti1Image(volume.transpose(2, 1, 0).astype(np.float32), np.eye(4)),
                 str(nifti / "vol_0000.nii.gz"))
    for z in range(slices):
        Image.fromarray(np.clip(volume[z], 0, 255).astype(np.uint8)).save(pngs / f"img{z:03d}_0000.png")
    return nifti, pngs


def _baseline_tree(ref: str, folder: Path) -> Path | None:
    """``xtiny/`` of commit ``ref`` (a ``git archive``), or None outside a git checkout."""
    folder.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "xtiny"], capture_output=True)
    if archive.returncode:
        return None
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def _predict(bundle: Path, inputs: Path, out: Path, options: list[str], pythonpath: Path | None) -> dict:
    """One ``xtiny predict`` in a child process: wall seconds, and predict.log's summary when written."""
    import shutil

    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "nnUNet_raw": str(out.parent / "nn"), "nnUNet_preprocessed": str(out.parent / "nn"),
           "nnUNet_results": str(out.parent / "nn")}
    if pythonpath:
        env["PYTHONPATH"] = str(pythonpath)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "xtiny", "predict", str(bundle), "-i", str(inputs), "-o", str(out),
                           *options], capture_output=True, text=True, env=env, cwd=out.parent)
    wall = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"xtiny predict {options} failed:\n{proc.stderr[-3000:]}")
    log = out / "predict.log"
    summary = json.loads(log.read_text().splitlines()[-1].removeprefix("summary ")) if log.is_file() else {}
    return {"wall_s": round(wall, 3), **summary}


VARIANTS = [("before (defaults of %s: ort, mirroring, 1 slice per call)", [], True),
            ("new defaults (auto, physical cores, no mirroring, batched)", [], False),
            ("--engine ort", ["--engine", "ort"], False),
            ("--engine openvino", ["--engine", "openvino"], False),
            ("--mirroring (auto)", ["--mirroring"], False),
            ("--threads 1", ["--threads", "1"], False)]


def end_to_end(onnx: Path, tmp: Path, slices: int, repeats: int, baseline_ref: str) -> list[dict]:
    """Median-of-``repeats`` runs of each variant on the volume and on the PNG folder."""
    nifti, pngs = _inputs(tmp / "e2e_inputs", slices)
    baseline = _baseline_tree(baseline_ref, tmp / "baseline")
    rows = []
    for kind, inputs, ending in (("NIfTI volume", nifti, ".nii.gz"), ("PNG folder", pngs, ".png")):
        bundle = _bundle(tmp / f"bundle{ending.replace('.', '_')}", onnx, ending)
        for label, options, is_baseline in VARIANTS:
            if is_baseline and baseline is None:
                continue
            runs = [_predict(bundle, inputs, tmp / "e2e_out" / "out", options, baseline if is_baseline else None)
                    for _ in range(repeats)]
            run = sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]
            row = {"input": f"{kind} ({slices} x 256x256)", "variant": label % baseline_ref if "%" in label else label,
                   **run}
            rows.append(row)
            print(f"[e2e] {kind} {row['variant']}: wall {run['wall_s']} s, "
                  f"{run.get('stage_seconds', 'no stage log')}", flush=True)
    return rows


def e2e_table(rows: list[dict]) -> dict:
    """BENCHMARKS.md table of :func:`end_to_end`."""
    out = []
    for r in rows:
        stages = r.get("stage_seconds", {})
        total = r.get("total_seconds")
        outside = (total - stages["network"]) / total if total else None
        out.append([r["input"], r["variant"], r.get("engine", "ort"), r.get("threads", ""), r.get("batch_size", ""),
                    r["wall_s"], total if total else "", *[stages.get(k, "") for k in
                                                        ("read", "preprocess", "engine_setup", "network", "stitch",
                                                         "write")],
                    round(100 * outside, 1) if outside is not None else ""])
    return {"title": "End to end xtiny predict (wall: whole command, interpreter start included; stages from "
                     "predict.log, seconds)",
            "header": ["input", "variant", "engine", "threads", "batch", "wall s", "in-process s", "read",
                       "preprocess", "engine setup", "network", "stitch", "write", "% outside network"],
            "rows": out}


def done_when(pick: dict, e2e: list[dict]) -> dict:
    """The issue's three targets, measured."""
    volume = [r for r in e2e if r["input"].startswith("NIfTI")]
    before = next((r for r in volume if r["variant"].startswith("before")), None)
    new = next(r for r in volume if r["variant"].startswith("new defaults"))
    stages, total = new["stage_seconds"], new["total_seconds"]
    return {"slice_speedup_auto_vs_ort_2_threads": pick["speedup_auto_vs_ort"],
            "slice_target": 1.8,
            "volume_speedup_wall_vs_before": round(before["wall_s"] / new["wall_s"], 2) if before else None,
            "volume_target": 3.0,
            "volume_outside_network_percent": round(100 * (total - stages["network"]) / total, 1),
            "volume_outside_network_percent_of_wall": round(100 * (new["wall_s"] - stages["network"]) / new["wall_s"], 1),
            "outside_target_percent": 25.0}


def summary_notes(summary: dict, results: dict) -> list[str]:
    """Notes for BENCHMARKS.md: the targets, met or not."""
    if not summary:
        return []

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    s = summary
    pick = results["auto_pick"]
    notes = [f"Target 1: the pick's 256x256 slice at {pick['threads']} threads through auto ({pick['auto_engine']}, "
             f"{pick['auto_ms_per_slice']} ms) vs onnxruntime ({pick['ort_ms_per_slice']} ms): "
             f"{s['slice_speedup_auto_vs_ort_2_threads']}x (target >= 1.8x): "
             f"{verdict(s['slice_speedup_auto_vs_ort_2_threads'] >= 1.8)}."]
    if s["volume_speedup_wall_vs_before"] is not None:
        notes.append(f"Target 2: 64-slice NIfTI volume end to end (wall, interpreter start included) "
                     f"{s['volume_speedup_wall_vs_before']}x faster than the defaults before (target >= 3x): "
                     f"{verdict(s['volume_speedup_wall_vs_before'] >= 3)}.")
    volume = [r for r in results["end_to_end"] if r["input"].startswith("NIfTI")]
    walls = {r["variant"].split(" (")[0]: r["wall_s"] for r in volume}
    if "--engine ort" in walls and "new defaults" in walls:
        notes.append(f"Cost of --engine auto on the volume: {walls['new defaults']} s wall vs {walls['--engine ort']} s "
                     "with --engine ort (auto imports and compiles OpenVINO beside the run and times both engines "
                     "on the first batches; it pays where one engine is clearly faster, or on longer jobs).")
    notes.append(f"Target 3: outside the network {s['volume_outside_network_percent']}% of the in-process time "
                 f"(bundle check, engine pick and compile included), {s['volume_outside_network_percent_of_wall']}% "
                 f"of the wall time with the interpreter start (target <= 25%): "
                 f"{verdict(s['volume_outside_network_percent'] <= 25)} in process, "
                 f"{verdict(s['volume_outside_network_percent_of_wall'] <= 25)} on the wall.")
    return notes

