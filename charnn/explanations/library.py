"""The feature library of a text: which atoms to try, chosen from the text alone.

    lib = library(text)                 # Library: atoms, their kinds, the one-hot groups
    lib.names[:5], lib.binary.sum(), lib.groups["char"].codes

What it holds (columns that are constant on the text are left out, and of identical columns
only the first is kept):
  - one-hot groups: `char x` and `after x` for every character that makes up at least MIN_SHARE
    of the text (and `2 after x` above 4x that share); the selection builds character sets
    ([aeiou]) out of these, so a set is one term. (`before x`, the next character, is in the
    grammar but not tried: on a 1x256 Austen LSTM it changed no unit's share);
  - classes at each of those positions (letter, upper, space, newline, punct, vowel, ...);
  - `inside` and `depth` for every delimiter pair found in the text: the usual brackets and
    quotes whose both sides occur, and same-character pairs (`"`, `*`, backticks, ...) that
    come in twos in most paragraphs where they occur (an apostrophe does not);
  - distance since / log distance since an event (newline, space, sentence end, comma, the
    text's frequent punctuation, blank line, nonletter = position in word, ...);
  - event in last K for K in RECENT_WINDOWS;
  - in capitalised word, and every built-in concept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..text.atoms import CapitalisedWord, CharAtom, CharPred, Concept, Depth, Distance, Event, Inside, Recent, TextIndex
from ..text.concepts import CONCEPTS

VERSION = 1  # bump when an atom's values or the library's choice of atoms change (the cache is keyed by it)
MIN_SHARE = 0.0005  # a character gets its own one-hot column from this share of the text up
MIN_COUNT = 5  # ... and at least this many occurrences
RECENT_WINDOWS = (2, 4, 8, 16, 32)
BRACKETS = ["()", "[]", "{}", "<>", "\u201c\u201d", "\u2018\u2019", "\u00ab\u00bb"]
SYMMETRIC = "\"'`*_|$~"
PAIRED_SHARE = 0.75  # a same-character pair: at least this share of its paragraphs hold an even count
CLASS_NAMES = ("letter", "upper", "lower", "digit", "space", "newline", "punct", "vowel", "whitespace")
GROUP_POSITIONS = ("char", "after", "2 after")


@dataclass
class Group:
    """A one-hot group: the columns of `position x` for each character x in `codes`."""
    position: str
    codes: np.ndarray  # (V,) code points
    columns: np.ndarray  # (V,) column of each in the library


@dataclass
class Library:
    atoms: list  # Atom per column
    groups: dict = field(default_factory=dict)  # position -> Group

    @property
    def names(self) -> list[str]:
        return [str(a) for a in self.atoms]

    @property
    def binary(self) -> np.ndarray:
        return np.array([a.binary for a in self.atoms], bool)

    def __len__(self) -> int:
        return len(self.atoms)


def frequent_codes(ix: TextIndex, share: float) -> np.ndarray:
    counts = np.bincount(ix.cps) if ix.n else np.zeros(0, np.int64)
    keep = (counts >= max(MIN_COUNT, share * ix.n)) & (counts < ix.n)
    return np.flatnonzero(keep)


def pairs(ix: TextIndex) -> list[tuple[str, str]]:
    """Delimiter pairs of this text: brackets with both sides present, and same-character pairs
    that come in twos in at least PAIRED_SHARE of the paragraphs that hold them."""
    counts = np.bincount(ix.cps, minlength=0x10000)
    out = [(a, b) for a, b in BRACKETS if counts[ord(a)] >= MIN_COUNT and counts[ord(b)] >= MIN_COUNT]
    _, ends = ix.paragraph_breaks()
    for ch in SYMMETRIC:
        hits = np.flatnonzero(ix.cps == ord(ch))
        if hits.size < MIN_COUNT:
            continue
        per_paragraph = np.bincount(np.searchsorted(ends, hits, side="right"))
        held = per_paragraph[per_paragraph > 0]
        if np.mean(held % 2 == 0) >= PAIRED_SHARE:
            out.append((ch, ch))
    return out


def _events(ix: TextIndex, punct: np.ndarray) -> list[Event]:
    ev = [Event(pred=CharPred.named(n)) for n in ("newline", "space", "nonletter", "upper", "punct", "digit")]
    ev.append(Event(pred=CharPred.of(".!?")))
    ev += [Event(pred=CharPred.of(chr(c))) for c in punct]
    ev += [Event(string="\n\n"), Event(concept="sentence_end")]
    return ev


def library(text: str | TextIndex) -> Library:
    """The atoms to try on this text (see the module docstring)."""
    return build(text)[0]


def build(text: str | TextIndex, keep_values: bool = False) -> tuple[Library, np.ndarray | None, np.ndarray | None]:
    """(library, B (pb, n) uint8, C (pc, n) float32): the library's binary atoms come first, then the
    continuous ones; with keep_values, their values over the text (else None, None)."""
    ix = text if isinstance(text, TextIndex) else TextIndex(text)
    atoms, group_codes = [], {}
    for position in GROUP_POSITIONS:
        codes = frequent_codes(ix, MIN_SHARE * (4 if position == "2 after" else 1))
        group_codes[position] = codes
        atoms += [CharAtom(position, CharPred.of([int(c)])) for c in codes]
        atoms += [CharAtom(position, CharPred.named(name)) for name in CLASS_NAMES]
    for a, b in pairs(ix):
        atoms.append(Inside(a, b))
        if a != b:
            atoms.append(Depth(a, b))
    punct = [c for c in frequent_codes(ix, 0.002) if CharPred.named("punct").table(np.array([c]))[0]]
    for event in _events(ix, np.array(punct, np.int64)):
        atoms += [Distance(event), Distance(event, log=True)] + [Recent(event, k) for k in RECENT_WINDOWS]
    atoms.append(CapitalisedWord())
    atoms += [Concept(name) for name in CONCEPTS]
    return _dedupe(ix, atoms, group_codes, keep_values)


def _dedupe(ix: TextIndex, atoms: list, group_codes: dict, keep_values: bool):
    """Drop atoms constant on the text and later duplicates of a column; binary atoms first; index the
    one-hot groups."""
    seen, kept, values = set(), {True: [], False: []}, {True: [], False: []}
    for atom in dict.fromkeys(atoms):
        v = atom.values(ix)
        if v.size == 0 or v.min() == v.max():
            continue
        key = hash(v.tobytes())
        if key in seen:
            continue
        seen.add(key)
        kept[atom.binary].append(atom)
        if keep_values:
            values[atom.binary].append(v.astype(np.uint8) if atom.binary else v)
    lib_atoms = kept[True] + kept[False]
    index = {a: j for j, a in enumerate(lib_atoms)}
    groups = {}
    for position, codes in group_codes.items():
        cols = [(int(c), index.get(CharAtom(position, CharPred.of([int(c)])))) for c in codes]
        cols = [(c, j) for c, j in cols if j is not None]
        if len(cols) >= 2:
            groups[position] = Group(position, np.array([c for c, _ in cols]), np.array([j for _, j in cols]))
    lib = Library(lib_atoms, groups)
    if not keep_values:
        return lib, None, None
    B = np.stack(values[True]) if values[True] else np.zeros((0, ix.n), np.uint8)  # (pb, n)
    C = np.stack(values[False]) if values[False] else np.zeros((0, ix.n), np.float32)  # (pc, n)
    return lib, B, C
