"""Search: rank every neuron of a recording by how well it tracks a regex or a built-in concept.

    from charnn import open_recording
    from charnn.search import search, atlas, probe, CONCEPTS
    rec = open_recording("runs/austen/recordings/test")
    search(rec, regex=r'"[^"]*"').head()       # ranked units, baseline in .attrs["baseline"]
    per_concept, per_unit = atlas(rec)         # every unit against every concept, one pass
    probe(rec, concept="inside_quotes").path   # sparse probe: accuracy vs number of units
    prepare(rec)                               # build the summary cache a first search would build

Modules: targets (regex -> per-character target, under a time limit), concepts (built-in
targets), stats (mergeable streaming statistics), engine (search, atlas), probe, snippet, cli.
"""

from .concepts import CONCEPTS, Concept, concept_target
from .engine import SearchCancelled, atlas, prepare, search
from .probe import ProbeResult, probe
from .stats import StreamStats
from .targets import RegexError, regex_target

__all__ = ["CONCEPTS", "Concept", "ProbeResult", "RegexError", "SearchCancelled", "StreamStats", "atlas",
           "concept_target", "prepare", "probe", "regex_target", "search"]
