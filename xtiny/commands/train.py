"""`xtiny train`: not available yet."""

import argparse

HELP = "(train: not implemented yet)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from xtiny.errors import XTinyError

    raise XTinyError("'xtiny train' is not implemented yet.")
