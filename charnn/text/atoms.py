"""The atoms of an explanation: per-character features computed from the text alone.

    from charnn.text.atoms import TextIndex, CharAtom, CharPred
    ix = TextIndex("Hello (world)\\n")
    CharAtom("after", CharPred.named("upper")).values(ix)      # (14,) float32 0/1
    Inside("(", ")").values(ix), Distance(CharPred.named("newline"), log=True).values(ix)

Every atom has a canonical text (`str(atom)`, what an explanation prints and what
`charnn.text.parser.parse` reads back), a `binary` flag (0/1 values or a number per
character), and `values(ix)`: a vectorised pass over the whole text, (n,) float32. A value at
position i says what the network's state after reading character i could know, except `before`,
which looks one character ahead (what the unit predicts).

Atoms:
  char P, after P, 2 after P, before P    the character at i, i-1, i-2 or i+1 matches P
  inside `a`...`b`, depth `a`...`b`       inside a delimiter pair / its nesting depth
  distance since E, log distance since E  characters since the last E (0 on E itself; log = ln(1 + d))
  E in last K                              E occurred within the last K characters (i-K+1 .. i)
  in capitalised word                      the letters up to i start with an uppercase letter
  NAME                                     a built-in concept (charnn.text.CONCEPTS)
P is a character predicate: `x` (one character), [set] (regex-like class), or a class name
(newline, space, letter, nonletter, upper, lower, digit, punct, vowel, whitespace). E is a
predicate, a `string` of several characters (E = the text ending at i is that string) or a 0/1
concept name.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .concepts import CONCEPTS, codepoints, concept_target, depth, paired, paragraph_breaks

CLASSES: dict[str, Callable[[str], bool]] = {
    "newline": lambda c: c == "\n",
    "space": lambda c: c == " ",
    "letter": str.isalpha,
    "nonletter": lambda c: not c.isalpha(),
    "upper": str.isupper,
    "lower": str.islower,
    "digit": str.isdigit,
    "punct": lambda c: unicodedata.category(c).startswith("P"),
    "vowel": lambda c: c in "aeiouAEIOU",
    "whitespace": str.isspace,
}
ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\", "`": "\\`"}
SET_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\", "]": "\\]", "[": "\\[", "-": "\\-", "^": "\\^"}
POSITIONS = {"char": 0, "after": -1, "2 after": -2, "before": 1}  # word -> offset of the character read


def escape(s: str, table: dict[str, str] = ESCAPES) -> str:
    """Printable form of characters inside `...` (or [...] with SET_ESCAPES): controls as \\n, \\xNN, \\uNNNN."""
    out = []
    for ch in s:
        if ch in table:
            out.append(table[ch])
        elif ord(ch) < 32 or ord(ch) == 127 or unicodedata.category(ch) in ("Zl", "Zp", "Cf", "Cc"):
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def quote(s: str) -> str:
    return f"`{escape(s)}`"


class TextIndex:
    """A text with what atoms share: code points, predicate masks and paragraph breaks, each computed once."""

    def __init__(self, text: str):
        self.text = text
        self.n = len(text)
        self.cps = codepoints(text).astype(np.int64)  # (n,)
        self.distinct = np.unique(self.cps)  # sorted code points present
        self._memo: dict = {}

    def memo(self, key, compute):
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def paragraph_breaks(self) -> tuple[np.ndarray, np.ndarray]:
        """(starts, ends) of each blank line (a paragraph break, as the built-in concepts find it)."""
        return self.memo("paragraphs", lambda: paragraph_breaks(self.text))


@dataclass(frozen=True)
class CharPred:
    """A set of characters: a named class, or explicit code points (negated: every other character)."""
    name: str | None = None
    chars: frozenset = frozenset()  # code points (ints)
    negated: bool = False

    @classmethod
    def named(cls, name: str) -> "CharPred":
        if name not in CLASSES:
            raise ValueError(f"unknown character class {name!r}: use one of {', '.join(CLASSES)}")
        return cls(name=name)

    @classmethod
    def of(cls, chars, negated: bool = False) -> "CharPred":
        return cls(chars=frozenset(ord(c) if isinstance(c, str) else int(c) for c in chars), negated=negated)

    def __str__(self) -> str:
        if self.name is not None:
            return self.name
        if len(self.chars) == 1 and not self.negated:
            ch = chr(next(iter(self.chars)))
            return {"\n": "newline", " ": "space"}.get(ch) or quote(ch)
        return "[" + ("^" if self.negated else "") + _ranges(sorted(self.chars)) + "]"

    def table(self, codes: np.ndarray) -> np.ndarray:
        """(len(codes),) bool: whether each code point is in the set."""
        if self.name is not None:
            fn = CLASSES[self.name]
            return np.array([fn(chr(c)) for c in codes], bool)
        inside = np.isin(codes, np.fromiter(self.chars, np.int64, len(self.chars)))
        return ~inside if self.negated else inside

    def mask(self, ix: TextIndex) -> np.ndarray:
        """(n,) bool over the text."""
        def compute():
            hit = self.table(ix.distinct)
            return np.isin(ix.cps, ix.distinct[hit])
        return ix.memo(("pred", self), compute)


def _ranges(codes: list[int]) -> str:
    """Sorted code points as class text: runs of 3+ consecutive letters or digits become a-z."""
    out, i = [], 0
    while i < len(codes):
        j = i
        while (j + 1 < len(codes) and codes[j + 1] == codes[j] + 1 and chr(codes[j + 1]).isalnum()
               and chr(codes[i]).isalnum() and chr(codes[i]).isupper() == chr(codes[j + 1]).isupper()):
            j += 1
        if j - i >= 2:
            out.append(f"{escape(chr(codes[i]), SET_ESCAPES)}-{escape(chr(codes[j]), SET_ESCAPES)}")
        else:
            out.extend(escape(chr(c), SET_ESCAPES) for c in codes[i:j + 1])
        i = j + 1
    return "".join(out)


@dataclass(frozen=True)
class Event:
    """What `distance since` and `in last` count: a predicate, a string ending at i, or a 0/1 concept."""
    pred: CharPred | None = None
    string: str | None = None
    concept: str | None = None

    def __str__(self) -> str:
        return str(self.pred) if self.pred is not None else quote(self.string) if self.string is not None else self.concept

    def mask(self, ix: TextIndex) -> np.ndarray:
        if self.pred is not None:
            return self.pred.mask(ix)
        if self.concept is not None:
            return ix.memo(("concept", self.concept), lambda: concept_target(ix.text, self.concept)) > 0.5

        def compute():
            s = self.string
            starts = np.array(_find_all(ix.text, s), np.int64)
            out = np.zeros(ix.n, bool)
            out[starts + len(s) - 1] = True
            return out
        return ix.memo(("string", self.string), compute)


def _find_all(text: str, s: str) -> list[int]:
    out, i = [], text.find(s)
    while i >= 0:
        out.append(i)
        i = text.find(s, i + 1)
    return out


class Atom:
    binary: bool = True

    def values(self, ix: TextIndex) -> np.ndarray:
        raise NotImplementedError


@dataclass(frozen=True)
class CharAtom(Atom):
    position: str  # a key of POSITIONS
    pred: CharPred

    def __str__(self) -> str:
        return f"{self.position} {self.pred}"

    def values(self, ix: TextIndex) -> np.ndarray:
        m = self.pred.mask(ix)
        shift = POSITIONS[self.position]
        out = np.zeros(ix.n, np.float32)
        if shift == 0:
            out[:] = m
        elif shift < 0:
            out[-shift:] = m[:shift]
        else:
            out[:-shift] = m[shift:]
        return out


@dataclass(frozen=True)
class Inside(Atom):
    """Inside a pair: the opener is inside, the closer is not. A pair of one character (`"`...`"`)
    alternates open and close; a pair of two nests. Pairing restarts at each blank line (an
    unclosed quote or parenthesis in prose ends with its paragraph), except braces, which nest
    across blank lines in code."""
    open: str
    close: str

    def __str__(self) -> str:
        return f"inside {quote(self.open)}...{quote(self.close)}"

    def values(self, ix: TextIndex) -> np.ndarray:
        if self.open == self.close:
            return paired(ix.text, self.open, self.close, ix.cps, ix.paragraph_breaks()).astype(np.float32)
        return (_depth(ix, self.open, self.close) > 0).astype(np.float32)


@dataclass(frozen=True)
class Depth(Atom):
    open: str
    close: str
    binary = False

    def __str__(self) -> str:
        return f"depth {quote(self.open)}...{quote(self.close)}"

    def values(self, ix: TextIndex) -> np.ndarray:
        return _depth(ix, self.open, self.close).astype(np.float32)


def _depth(ix: TextIndex, open_: str, close: str) -> np.ndarray:
    """Nesting depth, never below 0, restarting at blank lines unless the pair is braces."""
    steps = np.zeros(ix.n, np.int8)
    steps[ix.cps == ord(open_)] = 1
    steps[ix.cps == ord(close)] = -1
    resets = None if (open_, close) == ("{", "}") else ix.paragraph_breaks()[0]
    return depth(steps, resets)


@dataclass(frozen=True)
class Distance(Atom):
    event: Event
    log: bool = False
    binary = False

    def __str__(self) -> str:
        return f"{'log ' if self.log else ''}distance since {self.event}"

    def values(self, ix: TextIndex) -> np.ndarray:
        pos = np.arange(ix.n)
        last = np.maximum.accumulate(np.where(self.event.mask(ix), pos, -1))  # (n,) -1 before the first
        d = (pos - last).astype(np.float32)  # i + 1 before any event: as if one stood just before the text
        return np.log1p(d) if self.log else d


@dataclass(frozen=True)
class Recent(Atom):
    event: Event
    k: int

    def __str__(self) -> str:
        return f"{self.event} in last {self.k}"

    def values(self, ix: TextIndex) -> np.ndarray:
        c = np.concatenate([[0], np.cumsum(self.event.mask(ix), dtype=np.int64)])  # (n + 1,)
        lo = np.maximum(np.arange(ix.n) + 1 - self.k, 0)
        return (c[1:] - c[lo] > 0).astype(np.float32)


@dataclass(frozen=True)
class CapitalisedWord(Atom):
    def __str__(self) -> str:
        return "in capitalised word"

    def values(self, ix: TextIndex) -> np.ndarray:
        letter = CharPred.named("letter").mask(ix)
        upper = CharPred.named("upper").mask(ix)
        pos = np.arange(ix.n)
        start = np.maximum.accumulate(np.where(~letter, pos, -1)) + 1  # (n,) first letter of the run ending at i
        first_upper = upper[np.minimum(start, ix.n - 1)]
        return (letter & first_upper).astype(np.float32)


@dataclass(frozen=True)
class Concept(Atom):
    name: str

    def __post_init__(self):
        if self.name not in CONCEPTS:
            raise ValueError(f"unknown concept {self.name!r}: choose one of {', '.join(CONCEPTS)}")

    @property
    def binary(self) -> bool:  # noqa: D401 - a property of the concept
        return CONCEPTS[self.name].binary

    def __str__(self) -> str:
        return self.name

    def values(self, ix: TextIndex) -> np.ndarray:
        return ix.memo(("concept", self.name), lambda: concept_target(ix.text, self.name)).astype(np.float32)
