"""What the learning-curve bench found (``bench/bench_curves.py``, ``bench/results/curves_summary_800it_cpu.json``): from
how many training iterations per width the probe's pick stayed within 1 Dice point of the best width of its family,
per measured dataset. The report sets a run's training length beside it (:func:`training_length_note`); the README's
"How it works" says the same in words. Update both when the bench is rerun."""

from __future__ import annotations

CURVE_BENCH = "bench/bench_curves.py"
CURVE_MEASURED = ("2-core CPU, 2026-12-02: 96 px synthetic / 2 mm brain and lung-CT slices, MONAI backend, one batch "
                  "stream")
CURVE_MEASURED_UP_TO = 800  # iterations per width of the longest measured run
# dataset -> iterations from which the pick stayed within 1 point of the best (None: not within the measured length)
PICK_HOLDS_FROM: dict[str, int | None] = {"bus": None, "cardiac": None, "colin27": None, "mni": None, "lungct": None}


def training_length_note(iterations: int) -> str:
    """One sentence: this run's training length per width next to the lengths at which the bench found the probe's
    pick to hold (and where it did not)."""
    if not PICK_HOLDS_FROM:
        return (f"This run trains {iterations} iterations per width. No learning-curve measurement backs the pick at "
                f"any length yet ({CURVE_BENCH}).")
    held = {k: v for k, v in PICK_HOLDS_FROM.items() if v is not None}
    missed = [k for k, v in PICK_HOLDS_FROM.items() if v is None]
    parts = [f"from {v} iterations on {k}" for k, v in held.items()]
    if missed:
        parts.append(f"not by {CURVE_MEASURED_UP_TO} iterations on {', '.join(missed)}")
    where = "; ".join(parts)
    if iterations > CURVE_MEASURED_UP_TO:
        relation = (f"this run trains {iterations} iterations per width, {iterations / CURVE_MEASURED_UP_TO:.0f}x "
                    "the longest measured length, where the bench has no evidence either way")
    else:
        reached = [k for k, v in held.items() if v <= iterations]
        relation = (f"this run trains {iterations} iterations per width, a length at which the pick held on "
                    f"{len(reached)} of {len(PICK_HOLDS_FROM)} measured datasets")
    return (f"Training length: on the learning-curve bench ({CURVE_BENCH}, {CURVE_MEASURED}) the probe's pick held "
            f"(stayed within 1 Dice point of the best width): {where}; {relation}.")
