"""`charnn search`, `charnn atlas`, `charnn probe`: rank units against a regex or concept (see charnn.search.cli)."""

from ..search.cli import add_parsers as add_parser  # noqa: F401 - the three subcommands live beside the engine
