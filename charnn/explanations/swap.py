"""Program swap: units replaced by their explanations' predictions in the model's forward pass.

    rows = swap(rec, min_r=(0.5, 0.7, 0.8))      # per (layer, kind, min_r): bpc clean / mean-ablated / swapped
    rows = swap(rec, top=20)                     # the 20 best-explained units of each layer and kind
    charnn explain runs/austen/recordings/val --swap --min-r 0.7

Each chosen unit's value is set, at every step, to what its two-part explanation (lookup +
readable terms, `twopart`) predicts from the text read so far. The hook acts in the recurrence:
the next step reads the replaced state, so an explanation that misses what the unit remembers
shows in the loss. The same units held at their mean is the baseline:

    fraction recovered = (bpc mean-ablated - bpc swapped) / (bpc mean-ablated - bpc clean)

1 when the explanations carry everything the units give the model, 0 when they carry no more
than a constant. Units are chosen per layer and kind by the held-out r of their whole
explanation, sqrt(r2_local + r2_memory). Scored on the held-out half of the recording (what the
explanations were not fitted on), after a burn-in on the characters before it; the model is the
recording's own copy of its weights. Values are stored values (`charnn.units.unit_value`), as
the explanations predict them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch

from ..recording.replay import recording_ids, recording_run
from ..scoring.scorer import StreamScorer
from ..stepper import Hook
from ..text.atoms import TextIndex
from ..text.parser import parse
from ..units import is_latent
from .lookup import Contexts
from .table import current_explanations, explanations_path

THRESHOLDS = (0.5, 0.7, 0.8)
FIELDS = ["layer", "kind", "min_r", "units", "bpc_clean", "bpc_mean_ablated", "bpc_swapped", "fraction_recovered"]


class SwapError(ValueError):
    """A swap that cannot run: no explanations, or no unit to swap; nothing is written."""


@dataclass
class Replace(Hook):
    """Set `units` of state `kind` in `layer` to values[t] (T, B, k) at step t, where `where` (T, B)."""

    layer: int
    kind: str
    units: torch.Tensor  # (k,) int64
    values: torch.Tensor  # (T, B, k)
    where: torch.Tensor | None = None
    readout: bool = False

    def change(self, state: torch.Tensor) -> torch.Tensor:
        out = state.clone()
        out[..., self.units] = self.values.to(state.dtype)
        return out

    def apply(self, state: torch.Tensor, t: int) -> None:
        new = self.values[t].to(state.dtype)  # (B, k)
        old = state[:, self.units]
        state[:, self.units] = new if self.where is None else torch.where(self.where[t].unsqueeze(1), new, old)

    def window(self, s0: int, s1: int) -> "Replace":
        return replace(self, values=self.values[s0:s1], where=None if self.where is None else self.where[s0:s1])


def whole_r(df: pd.DataFrame) -> pd.Series:
    """Held-out r of each row's whole explanation (lookup + readable terms)."""
    return np.sqrt((df["r2_local"] + df["r2_memory"]).clip(lower=0.0))


def predictions(rec, best: pd.DataFrame, contexts: dict) -> np.ndarray:
    """(n_chars, k) what each unit of `best` (rank-1 rows) is explained to be at every character."""
    text = rec.string
    ix = TextIndex(text)  # shared by every readable part
    ctx = Contexts(np.array(contexts["alphabet"], np.int64), np.array(contexts["keys"], np.int64).reshape(-1, 3))
    ids = ctx.ids(text)  # (n,)
    out = np.zeros((len(text), len(best)), np.float32)
    for j, row in enumerate(best.itertuples(index=False)):
        table = np.asarray(row.lookup_table, np.float32)
        mean = float(table.mean()) if table.size else 0.0
        out[:, j] = np.where(ids >= 0, table[np.maximum(ids, 0)], mean) + row.offset
        if row.readable:
            out[:, j] += parse(row.readable).evaluate(ix)
    return out


def choose(best: pd.DataFrame, min_r: float | None, top: int | None) -> pd.DataFrame:
    """The units to swap among rank-1 rows: whole r >= min_r, or the `top` best."""
    ok = best[best["status"] == "ok"].assign(whole_r=lambda d: whole_r(d))
    if top is not None:
        return ok.sort_values("whole_r", ascending=False).head(top)
    return ok[ok["whole_r"] >= min_r]


def swap(rec, min_r=THRESHOLDS, top: int | None = None, kinds=None, max_chars: int | None = 20_000,
         context: int = 256, streams: int = 128, device: str = "cpu", progress=None) -> pd.DataFrame:
    """Rows (FIELDS) per layer, kind and threshold (or `top`): the loss with the chosen units clean,
    mean-ablated and swapped for their explanations (see the module docstring). max_chars: the
    held-out characters scored (None: all). A SwapError (nothing written) when the recording has
    no explanations, a kind has none, or no unit reaches a threshold."""
    df = current_explanations(rec)
    if df is None or "lookup_table" not in df.columns:
        raise SwapError(f"{explanations_path(rec)}: no explanations of this recording yet: run `charnn explain "
                        f"{rec.path}` first")
    best = df[df["rank"] == 1]
    have = sorted(best["kind"].unique())
    kinds = list(kinds) if kinds else have
    missing = [k for k in kinds if k not in have]
    latent = [k for k in kinds if is_latent(k)]
    if latent and kinds is not have:
        raise SwapError(f"kind {latent[0]!r} is an autoencoder's latents: --swap replaces the model's own states")
    kinds = [k for k in kinds if not is_latent(k)]
    if missing:
        raise SwapError(f"kind {missing[0]!r} has no explanations in {explanations_path(rec)} (explained: {', '.join(have)})")
    thresholds = [None] if top is not None else list(np.atleast_1d(min_r))
    plans = []
    for (layer, kind), g in best[best["kind"].isin(kinds)].groupby(["layer", "kind"], sort=True):
        for r in thresholds:
            chosen = choose(g, r, top)
            if len(chosen):
                plans.append((int(layer), kind, r, chosen))
    if not plans:
        what = f"the top {top}" if top is not None else f"held-out r >= {min(thresholds)}"
        raise SwapError(f"no unit of kinds {', '.join(kinds)} has an explanation with {what}: nothing to swap")
    return _score(rec, df.attrs, plans, top, max_chars, context, streams, device, progress)


def _score(rec, attrs: dict, plans: list, top, max_chars, context, streams, device, progress) -> pd.DataFrame:
    run = recording_run(rec)
    ids = recording_ids(rec, run)
    n_fit = int(attrs.get("n_fit") or rec.n_chars // 2)
    start = n_fit if n_fit + int(attrs.get("n_heldout") or 0) == rec.n_chars else 0  # 0: scored on another recording
    stop = rec.n_chars if max_chars is None else min(rec.n_chars, start + max_chars)
    first = max(0, start - context)
    layers = {layer for layer, _, _, _ in plans}
    scorer = StreamScorer(run, ids[first:stop], streams=streams, step_layers=layers, device=device)
    held = np.arange(stop - first) >= start - first  # (n,) local positions scored
    where = scorer.where_matrix(held, after_burn_in=True)  # (steps, B)
    steps_pos = np.minimum(scorer.positions[:, :-1].T + first, stop - 1)  # (steps, B) text positions

    def bits(hooks=()) -> float:
        loss, _ = scorer.loss(list(hooks))
        if progress:
            progress()
        return float(np.nanmean(loss[start - first + 1:]))

    clean = bits()
    rows = []
    for layer, kind, r, chosen in plans:
        units = chosen["unit"].to_numpy(np.int64)
        pred = predictions(rec, chosen, attrs["contexts"])  # (n, k)
        mean = rec.activations(layer, kind, units, start, stop).mean(0)  # (k,)
        idx = torch.from_numpy(units.copy())
        values = torch.from_numpy(pred[steps_pos]).to(scorer.device)  # (steps, B, k)
        flat = torch.from_numpy(np.broadcast_to(mean, values.shape).copy()).to(scorer.device)
        ablated = bits([Replace(layer, kind, idx, flat, where)])
        swapped = bits([Replace(layer, kind, idx, values, where)])
        span = ablated - clean
        rows.append({"layer": layer, "kind": kind, "min_r": float(r) if r is not None else float(chosen["whole_r"].min()),
                     "units": len(units), "bpc_clean": clean, "bpc_mean_ablated": ablated, "bpc_swapped": swapped,
                     "fraction_recovered": (ablated - swapped) / span if span > 0 else float("nan")})
    return pd.DataFrame(rows, columns=FIELDS)
