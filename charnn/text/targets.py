"""Regex -> per-character target: which characters of the recorded text a pattern marks.

    y = regex_target(text, r'"[^"]*"', target="inside")   # (n_chars,) float32 of 0/1

Targets: `inside` (every character of a match), `start` (its first character), `end` (its
last character), `group:N` / `group:NAME` (every character of that capture group). Position i
is marked when the network's state *after reading* character i should know the answer, so an
`end` target marks the last character of the match, not the one after it.

Matching uses the third-party `regex` module (re-compatible syntax) for its `timeout=`: a
catastrophic pattern such as `(a+)+$` ends with a `RegexError` after the time limit instead
of hanging the app. Every failure is a `RegexError` (a ValueError) with a message that says
what to change; a pattern that marks no character or every character is an error too, since
no statistic can be computed against a constant target.
"""

from __future__ import annotations

import numpy as np
import regex

from ..limits import MAX_TIMEOUT

TARGETS = ("inside", "start", "end", "group:N")


class RegexError(ValueError):
    """The pattern is invalid, too slow, or gives a constant target."""


def check_timeout(timeout: float) -> float:
    if not 0 < timeout <= MAX_TIMEOUT:
        raise RegexError(f"a regex timeout must be above 0 and at most {MAX_TIMEOUT:g} s, not {timeout:g}")
    return timeout


def default_timeout(n_chars: int) -> float:
    """Seconds allowed to match a text of n_chars: 1 s plus 2 s per million characters.

    Ordinary patterns need well under a second per million characters; the limit is counted by
    the regex module, so on a busy machine the wall-clock wait can be up to about twice as long.
    """
    return 1.0 + 2.0 * n_chars / 1e6


def compile_pattern(pattern: str, flags: int = 0) -> regex.Pattern:
    """Compile with the `regex` module's re-compatible syntax; a bad pattern is a RegexError."""
    if not isinstance(pattern, str) or pattern == "":
        raise RegexError("empty regex: give a pattern such as '\"[^\"]*\"'")
    try:
        return regex.compile(pattern, flags | regex.VERSION0)
    except (regex.error, OverflowError, RecursionError, ValueError) as err:
        raise RegexError(f"invalid regex {pattern!r}: {err}") from None


def parse_target(target: str, compiled: regex.Pattern) -> int | str | None:
    """`inside`/`start`/`end` -> None (the whole match); `group:N` -> the group number or name."""
    if target in ("inside", "start", "end"):
        return None
    if not target.startswith("group:"):
        raise RegexError(f"unknown target {target!r}: use one of inside, start, end, group:N")
    group = target[len("group:"):]
    group = int(group) if group.isdigit() else group
    if isinstance(group, int) and not 0 <= group <= compiled.groups:
        raise RegexError(f"target {target!r}: the pattern has {compiled.groups} capture group(s)")
    if isinstance(group, str) and group not in compiled.groupindex:
        names = ", ".join(compiled.groupindex) or "none"
        raise RegexError(f"target {target!r}: no group named {group!r} (named groups: {names})")
    return group


def match_spans(text: str, pattern: str, target: str = "inside", timeout: float | None = None,
                flags: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(starts, stops) int64 arrays of the spans to mark, each [start, stop); matched under a time limit."""
    compiled = compile_pattern(pattern, flags)
    group = parse_target(target, compiled)
    timeout = min(default_timeout(len(text)), MAX_TIMEOUT) if timeout is None else check_timeout(timeout)
    spans = []
    try:
        for m in compiled.finditer(text, timeout=timeout):
            spans.append(m.span() if group is None else m.span(group))
    except TimeoutError:
        raise RegexError(
            f"regex {pattern!r} timed out after {timeout:.1f} s on {len(text):,} characters: it probably "
            "backtracks catastrophically (nested quantifiers such as (a+)+); simplify it") from None
    except (MemoryError, RecursionError) as err:
        raise RegexError(f"regex {pattern!r} failed while matching: {type(err).__name__}") from None
    arr = np.array(spans, dtype=np.int64).reshape(-1, 2)  # (n_matches, 2)
    arr = arr[arr[:, 0] >= 0]  # a group that did not take part in a match has span (-1, -1)
    starts, stops = arr[:, 0], arr[:, 1]
    if target == "start":
        keep = starts < len(text)
        starts, stops = starts[keep], starts[keep] + 1
    elif target == "end":
        keep = stops > starts  # an empty match has no last character
        starts, stops = stops[keep] - 1, stops[keep]
    return starts, stops


def spans_to_mask(starts: np.ndarray, stops: np.ndarray, n: int) -> np.ndarray:
    """Union of the [start, stop) spans as an (n,) bool mask, without a per-span loop."""
    edges = np.bincount(starts, minlength=n + 1)[: n + 1] - np.bincount(stops, minlength=n + 1)[: n + 1]
    return np.cumsum(edges[:n]) > 0  # (n,)


def regex_target(text: str, pattern: str, target: str = "inside", timeout: float | None = None,
                 flags: int = 0) -> np.ndarray:
    """(len(text),) float32 array: 1 where the pattern marks a character, else 0.

    Raises RegexError for an invalid pattern, a time-out, or a target that is constant.
    """
    starts, stops = match_spans(text, pattern, target, timeout, flags)
    y = spans_to_mask(starts, stops, len(text)).astype(np.float32)
    check_target(y, f"regex {pattern!r} (target {target})")
    return y


def check_target(y: np.ndarray, what: str) -> None:
    """Raise RegexError if y is constant (no statistic can be computed against it)."""
    if y.size == 0:
        raise RegexError(f"{what}: the text is empty")
    if not np.all(y == y.flat[0]):
        return
    if y.flat[0] == 0:
        raise RegexError(f"{what} marks no character of the {y.size:,}-character text: "
                         "check the pattern against a sample of the text")
    marks = "marks every one" if y.flat[0] == 1 else "is the same for every one"
    raise RegexError(f"{what} {marks} of the {y.size:,} characters: "
                     "nothing to contrast it with; use a narrower pattern")
