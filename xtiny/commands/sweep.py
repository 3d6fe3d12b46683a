"""`xtiny sweep`: not available yet."""

import argparse

HELP = "(sweep: not implemented yet)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from xtiny.errors import XTinyError

    raise XTinyError("'xtiny sweep' is not implemented yet.")
