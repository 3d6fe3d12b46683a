"""`xtiny evaluate`: not available yet."""

import argparse

HELP = "(evaluate: not implemented yet)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from xtiny.errors import XTinyError

    raise XTinyError("'xtiny evaluate' is not implemented yet.")
