"""Units against latents: for each concept of an atlas, the best of the model's own units against
the best latent of the sparse autoencoders whose latents the recording stores (kinds `sae-NAME`).

    rows = units_vs_latents(frames, concepts, binary)   # one dict per concept, or [] without latents
    per_concept.attrs["units_vs_latents"]                # what charnn.search.atlas leaves there

A binary concept is scored by separation, max(AUROC, 1 - AUROC); a continuous one by |r|, as the
atlas ranks them. `difference` is the latent's score minus the unit's: positive where the best
latent separates the concept better than any single unit.

With `rec` and the targets, the comparison is scored on the characters that no autoencoder
trained on (`heldout`): `unit_heldout`, `latent_heldout` and `difference_heldout`, with
`heldout_chars`, the range scored.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..scan import separation
from ..units import Unit, is_latent
from . import heldout

COLUMNS = ["concept", "metric", "unit", "unit_score", "latent", "latent_score", "difference"]
HELDOUT = ["unit_heldout", "unit_heldout_score", "latent_heldout", "latent_heldout_score", "difference_heldout",
           "heldout_chars"]


def scores(df: pd.DataFrame, binary: bool) -> np.ndarray:
    """(n,) each row's score: separation for a binary concept, |r| for a continuous one."""
    if binary:
        return separation(df["auroc"]).fillna(0.0).to_numpy()
    return df["r"].abs().fillna(0.0).to_numpy()


def _best(df: pd.DataFrame, score: np.ndarray, mask: np.ndarray) -> tuple[str, float]:
    i = np.flatnonzero(mask)[int(np.argmax(score[mask]))]
    row = df.iloc[i]
    return str(Unit(int(row.layer), row.kind, int(row.unit))), float(score[i])


def _top(df: pd.DataFrame, score: np.ndarray, mask: np.ndarray) -> list[Unit]:
    idx = np.flatnonzero(mask)[np.argsort(-score[mask], kind="stable")[:heldout.CANDIDATES]]
    return [Unit(int(df.iloc[i].layer), df.iloc[i].kind, int(df.iloc[i].unit)) for i in idx]


def units_vs_latents(frames: list[pd.DataFrame], concepts: list[str], binary: list[bool], rec=None,
                     targets: list | None = None) -> list[dict]:
    """For each concept (frames[j]: every unit's statistics against concepts[j]), the best unit and
    the best latent with their scores; [] when the frames hold no latents or nothing but latents.
    rec, targets (each (n_chars,)): also the held-out comparison (see the module docstring)."""
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
        if rec is not None and targets is not None:
            split = heldout.latent_split(rec, df["kind"][latent].unique())
            y = np.asarray(targets[len(rows) - 1])
            u, us = heldout.held_out_best(rec, _top(df, score, ~latent), y, is_binary, split)
            la, ls = heldout.held_out_best(rec, _top(df, score, latent), y, is_binary, split)
            rows[-1].update(unit_heldout=u, unit_heldout_score=us, latent_heldout=la, latent_heldout_score=ls,
                            difference_heldout=ls - us, heldout_chars=[int(split), int(len(y))])
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
    held = [r for r in rows if "heldout_chars" in r]
    if held:
        a, b = held[0]["heldout_chars"]
        lines.append(f"held out: on characters {a:,}-{b:,}, which no autoencoder trained on (picked before them):")
        for r in held:
            lines.append(f"  {r['concept']:15s} {r['metric']:10s} unit {r['unit_heldout']:<10s} "
                         f"{r['unit_heldout_score']:.3f}   latent {r['latent_heldout']:<{width}s} "
                         f"{r['latent_heldout_score']:.3f}   latent - unit {r['difference_heldout']:+.3f}")
    return lines
