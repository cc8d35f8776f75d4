"""The one rule for a name a user gives (a recording's `--name`, an autoencoder's name, a run or
recording picked in the dashboard): a single plain path component, so a name can never reach
outside the folder it is joined to.

    from charnn.names import check_name
    folder = run.path / "recordings" / check_name(args.name, "recording name")
    check_name("../../victim")      # BadName: ... is not a plain name ...

A name is refused when it is empty, longer than MAX_LENGTH characters, starts with a dot (".",
"..", and the hidden `.NAME.partial` / `.NAME.lock` folders charnn keeps beside its own), holds a
path separator (`/` or `\\`, so it is never absolute either), NUL or another control character.
"""

from __future__ import annotations

MAX_LENGTH = 100  # characters; well under every filesystem's 255-byte component limit in UTF-8


class BadName(ValueError):
    """A name that is not a single plain path component."""


def check_name(name, what: str = "name") -> str:
    """`name` itself if it is a plain name (see the module docstring), else BadName naming it."""
    if not isinstance(name, str) or not name:
        raise BadName(f"{what} {name!r} is empty or not text: give a plain name such as val")
    problem = _problem(name)
    if problem:
        shown = name if len(name) <= 60 else name[:57] + "..."
        raise BadName(f"{what} {shown!r} is not a plain name ({problem}): use letters, digits, '-', '_' or '.', "
                      "not starting with '.'")
    return name


def _problem(name: str) -> str:
    if len(name) > MAX_LENGTH:
        return f"longer than {MAX_LENGTH} characters"
    if name.startswith("."):
        return "it starts with '.'"
    if "/" in name or "\\" in name:
        return "it holds a path separator"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "it holds a control character"
    return ""
