"""`xtiny export`: not available yet."""

import argparse

HELP = "(export: not implemented yet)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from xtiny.errors import XTinyError

    raise XTinyError("'xtiny export' is not implemented yet.")
