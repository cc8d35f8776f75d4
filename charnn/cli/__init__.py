"""The `charnn` command line: a thin layer over the Python API, one module per subcommand.

    charnn train austen --out runs/austen
    charnn sample runs/austen --prime 'Elizabeth' --length 300

Each module in this package defines `add_parser(subparsers)` and `main(args) -> int`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import threads

# module names under charnn.cli, in help order
COMMANDS = ["corpus", "train", "import_", "sample", "record", "search", "explain", "attribute", "memory", "circuit",
            "ablate", "sae", "history", "export", "dashboard"]


class CLIError(Exception):
    """An error to print as one line and exit 2."""


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error printed as one line, like every other error of the CLI."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="charnn", description="Train, record, search and browse the neurons of character-level RNNs.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"charnn.cli.{name.replace('-', '_')}").add_parser(sub)
    return parser


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help, or a usage error already printed
        return done.code if isinstance(done.code, int) else 2
    try:
        threads.configure(getattr(args, "threads", None))
        return args.func(args) or 0
    except (CLIError, ValueError, FileNotFoundError, OSError) as err:
        print(f"charnn {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: writers rename only complete files into place, so one line says enough
        print(f"charnn {args.command}: interrupted; files already complete are kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
