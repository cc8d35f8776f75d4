"""Units against latents on text the autoencoders never trained on.

    split = latent_split(rec, kinds)                   # first character no autoencoder of `kinds` trained on
    best, score = held_out_best(rec, candidates, y, binary, split)

An autoencoder is trained on the first 80% of its recording (charnn.sae.training), so a latent
scored over the whole text is partly scored on its own training data. Here the best unit and the
best latent of a concept are picked among the CANDIDATES best of each by the atlas's full-text
scores, on the characters before `split`, and scored on the characters after it, which no
autoencoder of the recording saw. The scores are the atlas's: |r|, or separation for a binary concept.
"""

from __future__ import annotations

import numpy as np

from ..sae.kind import latent_name
from ..sae.store import trained_chars
from ..scan import separation
from ..units import Unit, is_latent

CANDIDATES = 10  # best units (and best latents) by full-text score that are scored held out


def latent_split(rec, kinds) -> int:
    """The first character that none of the autoencoders behind the latent `kinds` trained on."""
    return max([0] + [trained_chars(rec, latent_name(k)) for k in set(kinds) if is_latent(k)])


def score(x: np.ndarray, y: np.ndarray, binary: bool) -> float:
    """|r| of x with y, or for a 0/1 y the separation max(AUROC, 1 - AUROC) of x; 0 where either is flat."""
    x = x.astype(np.float64)
    if binary:
        pos = y.astype(bool)
        n1, n0 = int(pos.sum()), int((~pos).sum())
        if n1 == 0 or n0 == 0 or x.min() == x.max():
            return 0.0
        from sklearn.metrics import roc_auc_score  # imported here, as by the probe: only this score needs it
        return float(separation(roc_auc_score(pos, x)))  # ties count half
    if x.std() == 0 or np.std(y) == 0:
        return 0.0
    return float(abs(np.corrcoef(x, y.astype(np.float64))[0, 1]))


def held_out_best(rec, candidates: list[Unit], y: np.ndarray, binary: bool, split: int) -> tuple[str, float]:
    """(unit, its score after `split`) of the candidate that scores best before `split`."""
    fit, held = [], []
    for u in candidates:
        x = rec.activations(u.layer, u.kind, units=[u.index])[:, 0]
        fit.append(score(x[:split], y[:split], binary))
        held.append(score(x[split:], y[split:], binary))
    best = int(np.argmax(fit))
    return str(candidates[best]), held[best]
