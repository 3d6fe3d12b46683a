"""Speed of an exported model on the exporting machine, per engine, thread count and format, for the model card.

Short on purpose (a few runs each) so export stays fast: orientation for the device, not a benchmark
(``bench/bench_edge.py`` is the benchmark)."""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np

from xtiny.edge.engines import describe_failure, median_ms, open_engine, openvino_module, physical_cores
from xtiny.edge.predictor import default_batch_size


def engine_speed(models: dict[str, Path], tile: np.ndarray, *, repeats: int = 3) -> dict:
    """For each installed engine x {1, all physical cores} threads x model file: one tile's latency (ms) and the
    throughput (tiles/s) of the batches ``xtiny predict`` runs by default. ``tile`` is one input ``(1, C, *patch)``.

    A model an engine cannot run gets ``error`` instead of numbers."""
    cores = physical_cores()
    engines = ["ort"] + (["openvino"] if openvino_module() is not None else [])
    rows = []
    for threads in sorted({1, cores}):
        batch = default_batch_size(threads, list(tile.shape[2:]))
        stack = np.repeat(tile, batch, axis=0)
        for engine in engines:
            for variant, path in models.items():
                row = {"engine": engine, "threads": threads, "format": variant, "batch": batch}
                try:
                    runner = open_engine(engine, path, threads)
                    row["tile_ms"] = round(median_ms(runner.run, tile, repeats=repeats), 2)
                    batch_ms = median_ms(runner.run, stack, repeats=max(1, repeats - 1))
                    row["tiles_per_s"] = round(batch / (batch_ms / 1000.0), 1)
                except Exception as exc:  # e.g. an INT8 operator one engine lacks: say so in the card
                    row["error"] = describe_failure(exc)
                rows.append(row)
    return {"machine": platform.processor() or platform.machine(), "physical_cores": cores,
            "tile": list(tile.shape), "rows": rows}


def speed_table(speed: dict) -> str:
    """The model card's Markdown table of :func:`engine_speed`."""
    lines = ["| engine | threads | format | one tile ms | tiles/s (batch) |", "|---|---|---|---|---|"]
    for row in speed.get("rows", []):
        if "error" in row:
            lines.append(f"| {row['engine']} | {row['threads']} | {row['format']} | n/a | {row['error']} |")
        else:
            lines.append(f"| {row['engine']} | {row['threads']} | {row['format']} | {row['tile_ms']} | "
                         f"{row['tiles_per_s']} ({row['batch']}) |")
    return "\n".join(lines)
