"""`xtiny predict`: not available yet."""

import argparse

HELP = "(predict: not implemented yet)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from xtiny.errors import XTinyError

    raise XTinyError("'xtiny predict' is not implemented yet.")
