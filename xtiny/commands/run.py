"""`xtiny run`: not available yet."""

import argparse

HELP = "(run: not implemented yet)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from xtiny.errors import XTinyError

    raise XTinyError("'xtiny run' is not implemented yet.")
