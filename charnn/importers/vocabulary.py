"""A user's vocabulary: the characters of their model in id order, from a file holding a JSON list
of single characters, a JSON string, or else the characters themselves as the file's exact text
(nothing stripped: a newline in the file is a character of the vocabulary).

    read_vocab("vocab.json")    # ['\\n', ' ', 'a', ...]: id 0 is '\\n'
"""

from __future__ import annotations

import json
from pathlib import Path

from .build import ModelImportError


def read_vocab(path: str | Path) -> list[str]:
    """The characters in id order, or a ModelImportError naming the file and what is wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ModelImportError(f"vocabulary {path} cannot be read: {err}") from None
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = text
    if not isinstance(parsed, (str, list)):  # a number or an object is the file's own characters
        parsed = text
    chars = list(parsed)
    if not all(isinstance(c, str) and len(c) == 1 for c in chars):
        raise ModelImportError(f"vocabulary {path}: a JSON list must hold single characters (or give the "
                               "characters themselves as the file's text)")
    if not chars:
        raise ModelImportError(f"vocabulary {path} is empty")
    seen: dict[str, int] = {}
    for i, c in enumerate(chars):
        if c in seen:
            raise ModelImportError(f"vocabulary {path}: character {c!r} appears twice (ids {seen[c]} and {i}): "
                                   "each id needs its own character")
        seen[c] = i
    return chars
