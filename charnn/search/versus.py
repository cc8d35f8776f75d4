"""Units against latents: for each concept of an atlas, the best of the model's own units against
the best latent of the sparse autoencoders whose latents the recording stores (kinds `sae-NAME`).

    rows = units_vs_latents(frames, concepts, binary)   # one dict per concept, or [] without latents
    per_concept.attrs["units_vs_latents"]                # what charnn.search.atlas leaves there

A binary concept is scored by separation, max(AUROC, 1 - AUROC); a continuous one by |r|, as the
atlas ranks them. `difference` is the latent's score minus the unit's: positive where the best
latent separates the concept better than any single unit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..scan import separation
from ..units import Unit, is_latent

COLUMNS = ["concept", "metric", "unit", "unit_score", "latent", "latent_score", "difference"]


def scores(df: pd.DataFrame, binary: bool) -> np.ndarray:
    """(n,) each row's score: separation for a binary concept, |r| for a continuous one."""
    if binary:
        return separation(df["auroc"]).fillna(0.0).to_numpy()
    return df["r"].abs().fillna(0.0).to_numpy()


def _best(df: pd.DataFrame, score: np.ndarray, mask: np.ndarray) -> tuple[str, float]:
    i = np.flatnonzero(mask)[int(np.argmax(score[mask]))]
    row = df.iloc[i]
    return str(Unit(int(row.layer), row.kind, int(row.unit))), float(score[i])


def units_vs_latents(frames: list[pd.DataFrame], concepts: list[str], binary: list[bool]) -> list[dict]:
    """For each concept (frames[j]: every unit's statistics against concepts[j]), the best unit and
    the best latent with their scores; [] when the frames hold no latents or nothing but latents."""
    if not frames:
        return []
    latent = frames[0]["kind"].map(is_latent).to_numpy(bool)
    if latent.all() or not latent.any():
        return []
    rows = []
    for df, name, is_binary in zip(frames, concepts, binary):
        score = scores(df, is_binary)
        unit, unit_score = _best(df, score, ~latent)
        best_latent, latent_score = _best(df, score, latent)
        rows.append({"concept": name, "metric": "separation" if is_binary else "|r|", "unit": unit,
                     "unit_score": unit_score, "latent": best_latent, "latent_score": latent_score,
                     "difference": latent_score - unit_score})
    return rows


def versus_lines(rows: list[dict]) -> list[str]:
    """The table `charnn atlas` prints below the best units per concept."""
    if not rows:
        return []
    width = max(len(r["latent"]) for r in rows)
    lines = ["units against latents (best single unit vs best autoencoder latent; separation or |r|):"]
    for r in rows:
        lines.append(f"  {r['concept']:15s} {r['metric']:10s} unit {r['unit']:<10s} {r['unit_score']:.3f}   "
                     f"latent {r['latent']:<{width}s} {r['latent_score']:.3f}   latent - unit {r['difference']:+.3f}")
    return lines
