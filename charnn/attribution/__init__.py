"""Why a unit has its value here: attribution through time, memory spans, circuits of units.

    from charnn.attribution import memory_spans
    memory_spans(open_recording("runs/austen/recordings/val"))   # half-lives and class per unit

Modules: `memory` (half-lives from the forget/update gates), `window` (the window an attribution
credits, and its result), `writes` (the exact write decomposition), `gradients` (gradient x input,
integrated gradients), `attribute` (the entry point over the three), `circuit` (graphs of units with
the gates frozen), `ablation` (reruns of a window with characters changed or states ablated).
"""

from .attribute import METHODS, attribute
from .circuit import Circuit, circuit
from .memory import half_life_at, memory_spans, unit_half_lives
from .window import Attribution

__all__ = ["METHODS", "Attribution", "Circuit", "attribute", "circuit", "half_life_at", "memory_spans", "unit_half_lives"]
