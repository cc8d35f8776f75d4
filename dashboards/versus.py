"""What the dashboard shows of units against latents: for each built-in concept, the best of the
model's own units against the best latent of the recording's sparse autoencoders (kinds
`sae-NAME`), as `charnn atlas` prints it (`charnn.search.versus`). Pure pandas, tested in
tests/dashboard/test_versus.py.

    compared_kinds(["i", "c", "h", "sae-c0"])   # ["c", "h", "sae-c0"]: the states and the latents; [] without latents
    table(rows)                                 # rows of atlas's units_vs_latents -> the grid's table, with `wins`
    summary(rows, skipped, n_chars)             # "the best latent beats the best unit on 3 of 8 concepts ..."
    hint("runs/austen/recordings/val", [])      # how to give a recording latents

A binary concept is scored by separation max(AUROC, 1 - AUROC), a continuous one by |r|; `wins`
names the side with the higher score, "tie" when they agree to the table's 3 places.
"""

from __future__ import annotations

import pandas as pd

from charnn.units import LATENT_PREFIX, is_latent

STATES = ("c", "h")  # the model's units compared: its states (gates are derived from them)
CLEAR = 0.02  # a win by this much counts as clear (the margin the project asks of a latent over a unit)
TIE = 0.0005  # differences under this show as +0.000
COLUMNS = ["concept", "metric", "unit", "unit_score", "latent", "latent_score", "difference", "wins"]
HELDOUT = ["unit_heldout", "unit_heldout_score", "latent_heldout", "latent_heldout_score", "difference_heldout"]


def compared_kinds(kinds: list[str]) -> list[str]:
    """The kinds an atlas compares: the model's states (every non-latent kind if it stores neither
    c nor h) and every latent kind; [] when the recording stores no latents."""
    latents = [k for k in kinds if is_latent(k)]
    if not latents:
        return []
    units = [k for k in kinds if k in STATES] or [k for k in kinds if not is_latent(k)]
    return units + latents


def winner(difference: float) -> str:
    if abs(difference) < TIE:
        return "tie"
    return "latent" if difference > 0 else "unit"


def table(rows: list[dict]) -> pd.DataFrame:
    """One row per concept (in the atlas's order): its metric, the best unit and latent with their
    scores, difference = latent - unit, and which wins; then the same scored on the characters no
    autoencoder trained on (HELDOUT; empty where the rows have none)."""
    df = pd.DataFrame(rows, columns=COLUMNS[:-1] + HELDOUT)
    return df.assign(wins=[winner(d) for d in df["difference"]])[COLUMNS + HELDOUT]


def summary(rows: list[dict], skipped: dict, n_chars: int) -> str:
    """How many concepts each side wins, and over which characters the scores are."""
    wins = [winner(r["difference"]) for r in rows]
    clear = [r["concept"] for r in rows if r["difference"] >= CLEAR]
    text = (f"the best latent beats the best unit on {wins.count('latent')} of {len(rows)} concepts"
            f" (by {CLEAR} or more on {len(clear)}{': ' + ', '.join(clear) if clear else ''}),"
            f" the best unit wins {wins.count('unit')}")
    text += f"; scored over all {n_chars:,} characters, which include the autoencoders' training characters"
    held = [r for r in rows if "heldout_chars" in r]
    if held:
        a, b = held[0]["heldout_chars"]
        won = sum(r["difference_heldout"] >= TIE for r in held)
        text += (f"; held out (characters {a:,}-{b:,}, which no autoencoder trained on): the latent wins "
                 f"{won} of {len(held)}")
    if skipped:
        text += f"; not scored (constant on this text): {', '.join(skipped)}"
    return text


def hint(rec_path: str, trained: list[str]) -> str:
    """What to run to give the recording latents: add the autoencoders trained on it whose latents
    it does not store yet, or train one."""
    if trained:
        return (f"this recording stores no autoencoder latents: add those of {', '.join(trained)} with "
                f"`charnn sae add {rec_path} {trained[0]}`")
    return (f"this recording stores no autoencoder latents: train an autoencoder with `charnn sae train {rec_path}` "
            f"(its latents become kind {LATENT_PREFIX}NAME)")
