"""Built-in concepts: named per-character targets computed from the text alone.

    from charnn.text import CONCEPTS
    y = CONCEPTS["inside_quotes"].fn(text)      # (len(text),) float32, 0/1
    print(CONCEPTS["indent_depth"].description)

Binary concepts give 0/1, continuous ones a number per character. A character is "inside"
when the network's state *after reading it* should know it is inside: an opening delimiter
is inside, the closing one is not (after reading the closing quote the quote is over).

Every concept is a vectorised numpy pass or one compiled-regex pass plus a Python loop over
the few delimiter events (quotes), never a Python loop over every character.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .targets import spans_to_mask


@dataclass(frozen=True)
class Concept:
    name: str
    description: str
    binary: bool                          # 0/1 target (AUROC, F1) or continuous (Pearson r only)
    fn: Callable[[str], np.ndarray]       # text -> (len(text),) float32


def codepoints(text: str) -> np.ndarray:
    """(n,) uint32 code points of text, without a Python loop."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


def _char_class(text: str, pred: Callable[[str], bool]) -> np.ndarray:
    """1 where pred(char) holds; pred runs once per distinct character, then a table lookup."""
    cps = codepoints(text)  # (n,)
    if cps.size == 0:
        return np.zeros(0, np.float32)
    present = np.flatnonzero(np.bincount(cps))  # distinct code points
    table = np.zeros(int(present[-1]) + 1, np.float32)
    table[present] = [pred(chr(c)) for c in present]
    return table[cps]


def _regex_mask(text: str, pattern: re.Pattern, trim_close: bool = False) -> np.ndarray:
    """0/1 over the matches of a fixed, linear-time pattern; trim_close drops each match's last char."""
    spans = np.array([m.span() for m in pattern.finditer(text)], np.int64).reshape(-1, 2)  # (m, 2)
    stops = spans[:, 1] - 1 if trim_close else spans[:, 1]
    return spans_to_mask(spans[:, 0], stops, len(text)).astype(np.float32)


PARAGRAPH_BREAK = re.compile(r"\n[ \t\r]*\n")


def paragraph_breaks(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) int64 of each blank line: the paragraph breaks that pairing and depth restart at."""
    spans = np.array([m.span() for m in PARAGRAPH_BREAK.finditer(text)], np.int64).reshape(-1, 2)  # (m, 2)
    return spans[:, 0], spans[:, 1]


def paired(text: str, opens: str, closes: str, cps: np.ndarray | None = None,
           breaks: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """(n,) bool: inside a delimiter pair, paired within each paragraph (a loop over the delimiters only).

    A character of `opens` opens a pair when none is open (one that is also in `closes`, such as a
    straight quote, closes an open pair instead); a character of `closes` ends the open pair; a
    paragraph break ends it too, so a speech over several paragraphs that reopens its quote at each
    one does not invert every quote after it. The opener is inside, the closer is not. cps and
    breaks: the text's code points and paragraph_breaks, when the caller has them already.
    """
    cps = codepoints(text) if cps is None else cps  # (n,)
    starts_b, ends_b = paragraph_breaks(text) if breaks is None else breaks
    opening = np.array([ord(c) for c in opens], np.int64)
    closing = np.array([ord(c) for c in closes], np.int64)
    hits = np.flatnonzero(np.isin(cps, np.concatenate([opening, closing])))  # (h,) delimiter positions
    para = np.searchsorted(ends_b, hits, side="right")  # (h,) paragraph of each delimiter
    is_open, is_close = np.isin(cps[hits], opening), np.isin(cps[hits], closing)
    starts, stops, opened, opened_para = [], [], -1, -1
    for i, p, o, c in zip(hits.tolist(), para.tolist(), is_open.tolist(), is_close.tolist()):
        if opened >= 0 and p != opened_para:  # the open pair ended at its paragraph's break
            starts.append(opened), stops.append(int(starts_b[opened_para]))
            opened = -1
        if o and (not c or opened < 0):
            if opened < 0:
                opened, opened_para = i, p
        elif opened >= 0:
            starts.append(opened), stops.append(i)
            opened = -1
    if opened >= 0:
        starts.append(opened), stops.append(int(starts_b[opened_para]) if opened_para < starts_b.size else len(cps))
    return spans_to_mask(np.array(starts, np.int64), np.array(stops, np.int64), len(cps))


def inside_quotes(text: str) -> np.ndarray:
    """Dialogue inside double quotes, straight or curly, across hard-wrapped lines, paired per paragraph."""
    return paired(text, '"\u201c', '"\u201d').astype(np.float32)


def depth(steps: np.ndarray, resets: np.ndarray | None = None) -> np.ndarray:
    """Nesting depth from +1/-1 steps, never below 0 (a stray closer is ignored), optionally
    restarting at 0 at each index in resets. Vectorised: depth = c - min(0, running min of c)."""
    c = np.cumsum(steps, dtype=np.int64)  # (n,)
    if resets is None or resets.size == 0:
        return c - np.minimum(0, np.minimum.accumulate(c))
    resets = np.unique(resets)
    seg = np.zeros(c.size, np.int64)
    seg[resets] = 1
    seg = np.cumsum(seg)  # (n,) segment id, 0 before the first reset
    base = np.concatenate([[0], np.where(resets > 0, c[np.maximum(resets - 1, 0)], 0)])  # (n_seg,)
    rel = c - base[seg]  # (n,) cumulative steps since the segment started
    big = 2 * c.size + 2  # pushes each segment below all earlier ones, so the running min restarts
    seg_min = np.minimum.accumulate(rel - big * seg) + big * seg
    return rel - np.minimum(0, seg_min)


def _bracket_steps(text: str, opens: str, closes: str) -> np.ndarray:
    cps = codepoints(text)
    steps = np.zeros(cps.size, np.int8)
    steps[np.isin(cps, [ord(ch) for ch in opens])] = 1
    steps[np.isin(cps, [ord(ch) for ch in closes])] = -1
    return steps


def inside_parens(text: str) -> np.ndarray:
    """Inside round or square brackets; depth restarts at each paragraph break (unbalanced prose)."""
    return (depth(_bracket_steps(text, "([", ")]"), paragraph_breaks(text)[0]) > 0).astype(np.float32)


def bracket_depth(text: str) -> np.ndarray:
    """Nesting depth of (), [] and {} together (code: brace depth is block nesting)."""
    return depth(_bracket_steps(text, "([{", ")]}")).astype(np.float32)


_URL = re.compile(r"(?:\b[A-Za-z][A-Za-z0-9+.-]*://|\bwww\.)[^\s<>\"'`{}|\\^]*[^\s<>\"'`{}|\\^.,;:!?)\]]")

# Code: one leftmost-first pass, so a // inside a string or a quote inside a comment is handled.
_C_CODE = re.compile(r"""(?P<comment>/\*.*?(?:\*/|\Z)|(?<!:)//[^\n]*)
    |(?P<string>"(?:\\.|[^"\\\n])*"?|'(?:\\.|[^'\\\n])*'?)""", re.S | re.X)
_PY_CODE = re.compile(r"""(?P<comment>\#[^\n]*)
    |(?P<string>\"\"\"(?:\\.|[^\\])*?(?:\"\"\"|\Z)|'''(?:\\.|[^\\])*?(?:'''|\Z)
                |"(?:\\.|[^"\\\n])*"?|'(?:\\.|[^'\\\n])*'?)""", re.S | re.X)
_PY_LINE = re.compile(r"^[ \t]*(?:def |class |import |from \S+ import |elif |except\b|@)|:[ \t]*$", re.M)
_C_LINE = re.compile(r"[;{}][ \t]*$|^#[ \t]*(?:include|define|ifn?def|endif)\b", re.M)
_BLANK_LINE = re.compile(r"^[ \t\r]*$", re.M)


def code_language(text: str) -> str | None:
    """"python", "c" (C-like: C, JS, JSON...) or None for prose, by counting tell-tale lines.

    Prose has about 1% of its lines ending in ; { } or :, source code 10-80%; below 5% the text
    is not code, and the comment and string concepts are zero (an apostrophe is no string).
    """
    py, c = len(_PY_LINE.findall(text)), len(_C_LINE.findall(text))
    lines = max(1, text.count("\n") + 1 - len(_BLANK_LINE.findall(text)))
    if max(py, c) < 0.05 * lines:
        return None
    return "python" if py > c else "c"


def _code_mask(text: str, group: str) -> np.ndarray:
    language = code_language(text)
    if language is None:
        return np.zeros(len(text), np.float32)
    pattern = _PY_CODE if language == "python" else _C_CODE
    starts, stops = [], []
    for m in pattern.finditer(text):
        if m.lastgroup != group:
            continue
        s, e = m.span()
        if group == "string":
            closed = e - s >= 2 and text[e - 1] == text[s]
        else:
            closed = text.startswith("/*", s) and e - s >= 4 and text.startswith("*/", e - 2)
        starts.append(s), stops.append(e - 1 if closed else e)  # the closing delimiter is outside
    return spans_to_mask(np.array(starts, np.int64), np.array(stops, np.int64), len(text)).astype(np.float32)


def inside_comment(text: str) -> np.ndarray:
    """In a comment: C /* */ and // (C-like text) or Python # (Python-looking text); 0 on prose."""
    return _code_mask(text, "comment")


def inside_string(text: str) -> np.ndarray:
    """In a string literal ("..." '...' and Python triple quotes), not in comments; 0 on prose."""
    return _code_mask(text, "string")


def _line_starts_and_ids(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(line_starts (n_lines,), line_id (n,)); a newline belongs to the line it ends."""
    is_nl = codepoints(text) == 10  # (n,)
    line_id = np.cumsum(is_nl) - is_nl  # (n,)
    starts = np.concatenate([[0], np.flatnonzero(is_nl) + 1])  # (n_lines,)
    return starts, line_id


def line_position(text: str) -> np.ndarray:
    """Column of each character in its line (0 = first); a newline gets the line's length."""
    starts, line_id = _line_starts_and_ids(text)
    return (np.arange(len(text)) - starts[line_id]).astype(np.float32)


_INDENT = re.compile(r"^[ \t]+", re.M)


def indent_depth(text: str) -> np.ndarray:
    """Leading whitespace of the character's line, in columns (tab stops every 8)."""
    starts, line_id = _line_starts_and_ids(text)
    width = np.zeros(starts.size, np.float32)
    for m in _INDENT.finditer(text):
        width[np.searchsorted(starts, m.start())] = len(m.group().expandtabs(8))
    return width[line_id]


_SENTENCE_END = re.compile(  # the punctuation first, so the scan jumps from one [.!?] to the next
    r"[.!?](?<!\bMr[.])(?<!\bMrs[.])(?<!\bMs[.])(?<!\bDr[.])(?<!\bSt[.])(?<!\bJr[.])(?<!\bSr[.])"
    r"(?<!\bvs[.])(?<!\be\.g[.])(?<!\bi\.e[.])(?<!\b[A-Z][.])(?=[\"')\]\u201d\u2019]*(?:\s|\Z))")


def sentence_end(text: str) -> np.ndarray:
    """The . ! or ? that ends a sentence (followed by space; not Mr. Mrs. Dr. or an initial)."""
    return _regex_mask(text, _SENTENCE_END)


CONCEPTS: dict[str, Concept] = {c.name: c for c in [
    Concept("inside_quotes", "inside double quotes (dialogue), paired per paragraph", True, inside_quotes),
    Concept("inside_parens", "inside round or square brackets", True, inside_parens),
    Concept("bracket_depth", "nesting depth of (), [] and {}", False, bracket_depth),
    Concept("inside_url", "inside a URL (scheme:// or www.)", True, lambda t: _regex_mask(t, _URL)),
    Concept("inside_comment", "inside a comment (C /* */ and //, Python #)", True, inside_comment),
    Concept("inside_string", "inside a string literal in code", True, inside_string),
    Concept("line_position", "column in the line (0 = first character)", False, line_position),
    Concept("indent_depth", "indentation of the line in columns (tab = 8)", False, indent_depth),
    Concept("digit", "a digit", True, lambda t: _char_class(t, str.isdigit)),
    Concept("uppercase", "an uppercase letter", True, lambda t: _char_class(t, str.isupper)),
    Concept("whitespace", "a space, tab or newline", True, lambda t: _char_class(t, str.isspace)),
    Concept("sentence_end", "the . ! or ? that ends a sentence", True, sentence_end),
]}


def concept_target(text: str, name: str) -> np.ndarray:
    """(len(text),) float32 target of the named concept; an unknown name lists the known ones."""
    if name not in CONCEPTS:
        raise ValueError(f"unknown concept {name!r}: choose one of {', '.join(CONCEPTS)}")
    return np.asarray(CONCEPTS[name].fn(text), np.float32)
