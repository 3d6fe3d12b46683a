"""`xtiny report`: not available yet."""

import argparse

HELP = "(report: not implemented yet)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from xtiny.errors import XTinyError

    raise XTinyError("'xtiny report' is not implemented yet.")
