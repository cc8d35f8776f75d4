"""A query, decoded once: a regex, a built-in concept or an explanation's text -> a per-character target.

    from charnn.text.query import make_target, query_fields
    y, binary, label = make_target(text, regex=r'"[^"]*"')          # (n,) float32 0/1, True, "regex ..."
    make_target(text, explanation='inside `"`...`"` AND NOT after newline')
    make_target(text, **query_fields({"concept": "inside_quotes"}))   # the dashboard's query dict

Every target passes `check_target`: a query that marks no character or every character is a
RegexError (a ValueError) that says so, whichever way the query was written.
"""

from __future__ import annotations

import numpy as np

from .concepts import CONCEPTS, concept_target
from .parser import parse
from .targets import check_target, regex_target


def make_target(text: str, regex: str | None = None, concept: str | None = None, target: str = "inside",
                timeout: float | None = None, explanation: str | None = None) -> tuple[np.ndarray, bool, str]:
    """(y (n,) float32, binary, label) for exactly one of a regex, a concept name or an explanation
    (the text `charnn explain` prints: a 0/1 program is a binary target, a weighted sum a continuous one)."""
    if sum(q is not None for q in (regex, concept, explanation)) != 1:
        raise ValueError("give exactly one of regex=, concept= or explanation=")
    if regex is not None:
        return regex_target(text, regex, target, timeout), True, f"regex {regex!r} ({target})"
    if explanation is not None:
        program = parse(explanation)
        y = program.evaluate(text)
        check_target(y, f"explanation {explanation!r}")
        return y, program.binary, f"explanation {program}"
    y = concept_target(text, concept)
    check_target(y, f"concept {concept!r}")
    return y, CONCEPTS[concept].binary, f"concept {concept}"


def query_fields(query: dict | None) -> dict | None:
    """make_target's keywords for a query dict ({"regex", "target"}, {"concept"} or {"explanation"};
    a concept wins over an explanation, an explanation over a regex); None when it asks for nothing."""
    if not query:
        return None
    if query.get("concept"):
        return {"concept": query["concept"]}
    if query.get("explanation"):
        return {"explanation": query["explanation"]}
    if query.get("regex"):
        return {"regex": query["regex"], "target": query.get("target") or "inside"}
    return None
