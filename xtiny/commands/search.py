"""`xtiny search`: not available yet."""

import argparse

HELP = "(search: not implemented yet)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from xtiny.errors import XTinyError

    raise XTinyError("'xtiny search' is not implemented yet.")
