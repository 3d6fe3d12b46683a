"""The ``xtiny`` command line. Each subcommand lives in ``xtiny/commands/<name>.py`` with
``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``; heavy imports happen inside ``run``.
nnU-Net's folders are set up before ``run`` unless the module sets ``NEEDS_NNUNET = False``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from xtiny import __version__
from xtiny.errors import XTinyError

COMMANDS = ["datasets", "search", "confirm", "train", "sweep", "evaluate", "export", "predict", "report", "run", "demo", "env"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xtiny",
        description="XTiny: find, train and export the smallest nnU-Net that still segments well.",
    )
    parser.add_argument("--version", action="version", version=f"xtiny {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"xtiny.commands.{name}")
        sp = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sp)
        sp.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    debug = args.debug or os.environ.get("XTINY_DEBUG") == "1"
    try:
        if getattr(args._module, "NEEDS_NNUNET", True):
            from xtiny.paths import ensure_nnunet_env

            ensure_nnunet_env()
        return int(args._module.run(args) or 0)
    except XTinyError as exc:
        if debug:
            traceback.print_exc()
        print(f"xtiny {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"xtiny {args.command}: interrupted; rerun the same command to resume.", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
