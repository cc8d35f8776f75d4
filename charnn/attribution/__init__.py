"""Why a unit has its value here: attribution through time, memory spans, circuits of units.

    from charnn.attribution import memory_spans
    memory_spans(open_recording("runs/austen/recordings/val"))   # half-lives and class per unit

Modules: `memory` (half-lives from the forget/update gates).
"""

from .memory import half_life_at, memory_spans, unit_half_lives

__all__ = ["half_life_at", "memory_spans", "unit_half_lives"]
