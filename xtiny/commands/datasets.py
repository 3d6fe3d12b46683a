"""`xtiny datasets`: not available yet."""

import argparse

HELP = "(datasets: not implemented yet)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from xtiny.errors import XTinyError

    raise XTinyError("'xtiny datasets' is not implemented yet.")
