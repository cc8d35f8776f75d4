"""`charnn explain REC`: name what every unit does, scored held out (see charnn.explanations.cli)."""

from ..explanations.cli import add_parser, main  # noqa: F401 - the subcommand lives beside the engine
