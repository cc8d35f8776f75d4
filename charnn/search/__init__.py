"""Search: rank every neuron of a recording by how well it tracks a regex or a built-in concept.

    from charnn import open_recording
    from charnn.search import search, atlas, probe, CONCEPTS
    rec = open_recording("runs/austen/recordings/test")
    search(rec, regex=r'"[^"]*"').head()       # ranked units, baseline in .attrs["baseline"]
    per_concept, per_unit = atlas(rec)         # every unit against every concept, one pass
    probe(rec, concept="inside_quotes").path   # sparse probe: accuracy vs number of units
    prepare(rec)                               # build the summary cache a first search would build

Modules: stats (mergeable streaming statistics), engine (search, atlas), probe, snippet, summaries
(the per-recording cache of query-independent statistics), tiles and native (the per-tile work),
versus (units against latents). The targets come from `charnn.text` (CONCEPTS, regex_target are
re-exported here); the commands are `charnn.cli.search`.
"""

from ..text import CONCEPTS, Concept, RegexError, concept_target, regex_target
from .engine import SearchCancelled, atlas, prepare, search
from .probe import ProbeResult, probe
from .stats import StreamStats

__all__ = ["CONCEPTS", "Concept", "ProbeResult", "RegexError", "SearchCancelled", "StreamStats", "atlas",
           "concept_target", "prepare", "probe", "regex_target", "search"]
