"""Explanations of units: features computed from the text alone, composed into short programs, fitted
on one part of a recording and scored on another (`charnn explain`, `charnn.explain(rec)`).

    import charnn
    rec = charnn.open_recording("runs/austen/recordings/val")
    df = charnn.explain(rec)                                     # also writes <rec>/explanations.parquet
    charnn.load_explanations(rec, unit="0:c:56")                 # one unit's rows, read back cheaply
    parse('inside `"`...`"` AND NOT after newline').evaluate(text)   # an explanation as a target

Modules: atoms (features computed from the text), grammar (explanations as programs: parse,
print, evaluate), library (which atoms a text gets), featcache (the feature matrix, cached
beside the recording), moments (mergeable statistics), select (greedy least squares and
character sets), beam (AND / OR / AND NOT compositions), candidates (which explanations a unit
keeps), passes (the two passes over the recording), score (exact scores of 0/1 explanations),
table (explanations.parquet), engine (explain), cli (`charnn explain`).
"""

from ..text.grammar import ExplanationError, Program
from ..text.parser import parse
from .engine import ExplainCancelled, explain
from .table import COLUMNS, CURVE, THRESHOLDS, current_explanations, explanations_path, load_explanations, shares

__all__ = ["COLUMNS", "CURVE", "THRESHOLDS", "ExplainCancelled", "ExplanationError", "Program", "current_explanations",
           "explain", "explanations_path", "load_explanations", "parse", "shares"]
