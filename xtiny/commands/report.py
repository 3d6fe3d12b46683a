"""`xtiny report`: one self-contained HTML page per dataset run."""

from __future__ import annotations

import argparse

HELP = "write the self-contained HTML report of a dataset's run (search, training, comparison, export)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-d", "--dataset", required=True, help="dataset id or DatasetXXX_Name")


def run(args: argparse.Namespace) -> int:
    from xtiny.evaluation.run_report import build_report
    from xtiny.nnunet.names import resolve_dataset_name

    path = build_report(resolve_dataset_name(args.dataset))  # what the last `xtiny run` recorded, if any
    print(f"report: {path}")
    return 0
