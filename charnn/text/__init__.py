"""Everything computed from the text alone: the targets that search ranks units against and the
features that explanations are made of. Search (`charnn.search`), explanations
(`charnn.explanations`) and the dashboard all read text through this package; it reads no recording.

    from charnn.text import CONCEPTS, make_target, parse
    y = CONCEPTS["inside_quotes"].fn(text)                   # (len(text),) float32 0/1
    y, binary, label = make_target(text, regex=r'"[^"]*"')   # a regex, concept or explanation, checked
    parse('inside `"`...`"` AND NOT after newline').evaluate(text)

Modules: targets (regex -> per-character target, under a time limit), concepts (built-in targets,
quote pairing and nesting depth), atoms (the features of an explanation), grammar (explanations
as programs), parser (an explanation's text -> program), query (one query -> one checked target).
"""

from .concepts import CONCEPTS, Concept, concept_target
from .grammar import ExplanationError, Program
from .parser import parse
from .query import make_target, query_fields
from .targets import RegexError, check_target, regex_target

__all__ = ["CONCEPTS", "Concept", "ExplanationError", "Program", "RegexError", "check_target", "concept_target",
           "make_target", "parse", "query_fields", "regex_target"]
