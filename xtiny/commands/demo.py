"""`xtiny demo`: not available yet."""

import argparse

HELP = "(demo: not implemented yet)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from xtiny.errors import XTinyError

    raise XTinyError("'xtiny demo' is not implemented yet.")
