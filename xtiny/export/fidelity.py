"""Does an exported model compute what the network computes? The one comparison behind every export check (ONNX
fp32, TorchScript, INT8): logit differences measured against the logits' size, and agreement of the argmax labels.

The fp32 rule, per checked input ``x`` (a real patch, or the tiled 2-batch)::

    max |torch(x) - exported(x)|  <=  ATOL + RTOL * max |torch(x)|
    argmax labels agree on >= MIN_LABEL_AGREEMENT of all checked voxels

An absolute plus a relative term, as in ``torch.testing.assert_close``, but the relative term scales with the
largest logit of the input, not with each element: fp32 rounding in a deep network grows with the size of its
activations, so a logit near a class boundary (near 0) carries the rounding of its large neighbours, and
assert_close's element-wise 1.3e-6 would refuse it. ATOL = 1e-4 is the former fixed bound (every export it accepted
is still accepted); RTOL = 1e-4 admits onnxruntime's and torch's different fp32 kernels on large logits (issue #32:
1.6e-4 absolute on a trained MNI net). Measured relative differences (``max_rel_diff``, recorded with every export):
8.2e-6 on the MNI demo's export (max |logit| 14.7, abs 1.21e-4, which the former bound refused;
``bench/bench_real_demo.py``), 2.2e-6 on the tests' bus net, with logits of 6000 too (abs 1.3e-2): RTOL leaves a
margin of 12x and more. An ONNX file with one changed weight tensor (5 % noise on the first convolution) differs
by 0.21 relative, 1.24 absolute, and flips labels (``tests/test_export.py``): 2000x over the bound.

INT8 logits differ from fp32 by design: there the check is the labels, ``label_agreement`` with torch on the same
inputs (recorded) and validation Dice within ``MAX_DICE_DROP`` of fp32 (``xtiny.export.evaluate.recommend`` only
recommends an INT8 model that passes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from xtiny.errors import XTinyError

ATOL = 1e-4
RTOL = 1e-4
MIN_LABEL_AGREEMENT = 0.999
MAX_DICE_DROP = 0.01  # INT8: validation Dice at most 1 point below fp32
RULE = (f"fp32: |torch - exported| <= {ATOL:g} + {RTOL:g} x max |torch logit| per input and argmax labels agreeing "
        f"on >= {100 * MIN_LABEL_AGREEMENT:g} % of voxels; INT8: validation Dice at most {100 * MAX_DICE_DROP:g} "
        "point below fp32 (labels recorded)")


@dataclass(frozen=True)
class Fidelity:
    """How far an exported model's logits are from the network's, over ``inputs`` batches of ``voxels`` voxels.
    ``max_rel_diff``: the largest per-input ``max |diff| / max |logit|``; ``allowed_abs_diff``: the bound at the input
    that came closest to it (``worst_ratio`` = its diff / bound, <= 1 within tolerance)."""

    max_abs_diff: float
    max_rel_diff: float
    label_agreement: float
    worst_ratio: float
    allowed_abs_diff: float
    max_abs_logit: float
    voxels: int
    inputs: int

    @property
    def within_tolerance(self) -> bool:
        return self.worst_ratio <= 1.0 and self.label_agreement >= MIN_LABEL_AGREEMENT

    def record(self) -> dict:
        """The numbers for ``export_report.json``, the manifest and the model card."""
        return {**asdict(self), "within_tolerance": self.within_tolerance}


def compare_logits(reference: Sequence[np.ndarray], exported: Sequence[np.ndarray], *, atol: float = ATOL,
                   rtol: float = RTOL) -> Fidelity:
    """Compare logits ``(N, classes, *spatial)`` input by input (same order, same shapes: ``ValueError`` otherwise)."""
    if len(reference) != len(exported) or not reference:
        raise ValueError(f"{len(reference)} reference and {len(exported)} exported outputs")
    worst_abs = worst_rel = 0.0
    worst = (-1.0, 0.0, 0.0)  # ratio, allowed bound, largest logit
    agree = voxels = 0
    for ref, got in zip(reference, exported, strict=True):
        if ref.shape != got.shape:
            raise ValueError(f"output shape {got.shape} differs from the network's {ref.shape}")
        diff = float(np.abs(ref.astype(np.float64) - got).max())
        scale = float(np.abs(ref).max())
        allowed = atol + rtol * scale
        worst_abs, worst_rel = max(worst_abs, diff), max(worst_rel, diff / scale if scale else 0.0)
        worst = max(worst, (diff / allowed, allowed, scale))
        labels_ref, labels_got = ref.argmax(axis=1), got.argmax(axis=1)
        agree += int((labels_ref == labels_got).sum())
        voxels += labels_ref.size
    return Fidelity(worst_abs, worst_rel, agree / voxels, worst[0], worst[1], worst[2], voxels, len(reference))


def check_export(what: str, path: str | Path, reference: Sequence[np.ndarray], exported: Sequence[np.ndarray], *,
                 enforce: bool = True) -> Fidelity:
    """:func:`compare_logits` of the model file ``path``; ``enforce`` (fp32 formats): an export outside the rule is
    refused, an ``XTinyError`` naming the file and the numbers."""
    try:
        fidelity = compare_logits(reference, exported)
    except ValueError as exc:
        raise XTinyError(f"{what} {path}: {exc}.", fix="report this export as a bug (torch.onnx / TorchScript).") \
            from exc
    if enforce and not fidelity.within_tolerance:
        raise XTinyError(
            f"{what} {path} does not compute what the network computes: max |diff| {fidelity.max_abs_diff:.3g} "
            f"(allowed {fidelity.allowed_abs_diff:.3g} = {ATOL:g} + {RTOL:g} x max |logit| "
            f"{fidelity.max_abs_logit:.3g}), relative {fidelity.max_rel_diff:.3g}; argmax labels agree on "
            f"{100 * fidelity.label_agreement:.3f} % of {fidelity.voxels} voxels (>= {100 * MIN_LABEL_AGREEMENT:g} % "
            f"required), over {fidelity.inputs} real input(s).",
            fix="export again; if it is refused again, this network does not survive the export (torch.onnx / "
                "TorchScript): report it with these numbers, and use the formats that pass.")
    return fidelity


def int8_dice_check(metrics: dict, name: str) -> dict:
    """INT8's Dice check from :func:`xtiny.export.evaluate.onnx_validation_dice`'s numbers: validation Dice, its drop
    from fp32, Dice against fp32's labels, and ``passed`` (drop at most ``MAX_DICE_DROP``)."""
    dice, fp32 = metrics[f"dice_{name}"], metrics["dice_fp32"]
    return {"dice": dice, "dice_drop_vs_fp32": fp32 - dice, "dice_vs_fp32_labels": metrics.get(f"agreement_{name}_vs_fp32"),
            "passed": dice >= fp32 - MAX_DICE_DROP}  # recommend()'s rule, to the bit


CHECK_HEADER = ["model", "max abs diff", "max rel diff", "label agreement %", "allowed abs diff", "Dice drop vs fp32",
                "passed"]


def check_rows(checks: dict) -> list[list[str]]:
    """One row per checked model (``CHECK_HEADER``) for the model card and the run report."""
    def number(value, spec: str) -> str:
        return format(value, spec) if isinstance(value, (int, float)) else "-"

    return [[name, number(c.get("max_abs_diff"), ".2e"), number(c.get("max_rel_diff"), ".1e"),
             number(100 * c["label_agreement"] if "label_agreement" in c else None, ".3f"),
             number(c.get("allowed_abs_diff"), ".2e") if name in ("fp32", "torchscript") else "(labels, Dice)",
             number(c.get("dice_drop_vs_fp32"), "+.4f"), "yes" if c.get("passed") else "no: not recommended"]
            for name, c in checks.items() if isinstance(c, dict)]
