"""Scoring the model with units changed: the pieces every ablation and clamp is made of.

    from charnn.scoring import Mode, StreamScorer, summarize
    Mode.parse("clamp=1.5")                      # what is done to the unit
    StreamScorer(run, ids).loss(interventions)   # per-character loss in bits under the change
    summarize(...)                               # an AblationResult against random units

The ablation itself (units and latents) is `charnn.causal.ablate`.
"""

from .mode import Mode, finite_value
from .result import AblationResult, summarize
from .scorer import StreamScorer

__all__ = ["AblationResult", "Mode", "StreamScorer", "finite_value", "summarize"]
