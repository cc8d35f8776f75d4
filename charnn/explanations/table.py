"""explanations.parquet: the rows `charnn explain` writes beside a recording, and reading them back.

    df = load_explanations("runs/austen/recordings/val")             # every row, or None if not explained
    load_explanations(rec, unit="0:c:56")                            # one unit's rows (a filtered read)
    current_explanations(rec)                                        # every row, None if they are another recording's
    explanations_path(rec)                                           # <rec>/explanations.parquet
    shares(df)                                                       # share of units at r >= 0.5, 0.7, 0.8
    best_explanations(rec)                                           # each unit's rank-1 explanation (for the atlas)

One row per (unit, rank); rank 1 is the unit's best explanation. Columns:
  layer, kind, unit, rank
  explanation   the program's text (what `charnn search --explanation` accepts; "" if none)
  terms         atoms it uses; binary: its value is 0/1
  status        "ok", or "constant": the unit does not vary on the fitting or the held-out part (a
                dead unit, or a cell state whose tanh saturates), so it is unexplainable; "none found":
                no term explains any of its variance
  score         r_heldout, oriented by the fitting part (so a sign flip counts against it)
  r_fit, r_heldout   Pearson r on the fitting / held-out part (c as tanh(c))
  r_all         r over every character of the recording on the stored values: what search reports
  r_chance      r_heldout of the program shifted far along the held-out text
  auroc, auroc_chance, iou, iou_chance   held-out, for 0/1 programs (NaN otherwise); IoU at the
                unit's best threshold, oriented by r_fit
  curve_1 ... curve_10   the unit's held-out r with that many greedy least-squares terms (the same on
                each of its rows)
  The unit's two-part explanation (`twopart`; the same on each of its rows):
  lookup        the local part, printed as a lookup on the last K characters with its highest and
                lowest entries ("" for a constant unit)
  readable      the memory part: readable terms fitted on what the lookup leaves ("" if none pays)
  score_readable  held-out r of the readable terms alone (refitted on the unit, no lookup)
  r2_local      held-out R^2 of the lookup
  r2_memory     held-out R^2 that the readable terms add to the lookup
  r2_pairs      held-out R^2 of the (previous, current) pair lookup, the reference
  class         local, memory, mixed, integrator or constant (`classes`)
  offset        the constant of the prediction lookup + readable (`swap`)
  half_life     the unit's median memory span in characters (`charnn memory`; the same on each of its
                rows): NaN for a kind that no gate decays (an LSTM's h, a gate)
  lookup_table  the lookup's value in each context cell (df.attrs["contexts"]) on rank 1, empty on the others
The settings, part sizes and the recording's id are in the file's metadata (df.attrs).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..fsio import atomic_path
from ..units import Unit

FILE = "explanations.parquet"
CURVE = (1, 2, 3, 5, 10)  # term counts of the curve
THRESHOLDS = (0.5, 0.7, 0.8)
STATS = ("r_fit", "r_heldout", "r_all", "r_chance", "auroc", "auroc_chance", "iou", "iou_chance")
TWO_PART = ["lookup", "readable", "score_readable", "r2_local", "r2_memory", "r2_pairs", "class", "offset"]
COLUMNS = ["layer", "kind", "unit", "rank", "explanation", "terms", "binary", "status", "score", *STATS] + \
          [f"curve_{k}" for k in CURVE] + TWO_PART + ["half_life", "lookup_table"]
PRINTED = [c for c in COLUMNS if c != "lookup_table"]  # what --format json and csv print


def frame(units: list[tuple[int, str, int]], kept: list[list], stats: dict, curve: np.ndarray, constant: np.ndarray,
          binary: np.ndarray, two, half_life: np.ndarray) -> pd.DataFrame:
    """The rows: units[u] = (layer, kind, unit); kept[u] its explanations (candidates, best first);
    stats[name] (U, K); curve (U, len(CURVE)); constant (U,) bool: no explanation; binary (U, K) bool;
    two: the two-part explanations (`twopart.TwoPart`); half_life (U,) (NaN: none)."""
    rows = []
    for u, (layer, kind, unit) in enumerate(units):
        head = dict(layer=layer, kind=kind, unit=unit)
        tail = {f"curve_{k}": float(curve[u, i]) for i, k in enumerate(CURVE)}
        tail.update({c: (two.columns[c][u] if c in ("lookup", "readable", "class") else float(two.columns[c][u]))
                     for c in TWO_PART})
        tail["half_life"] = float(half_life[u])
        first = len(rows)
        if not kept[u]:
            rows.append(dict(head, rank=1, explanation="", terms=0, binary=False,
                             status="constant" if constant[u] else "none found", score=0.0,
                             **{s: (0.0 if s.startswith("r_") else np.nan) for s in STATS}, **tail,
                             lookup_table=two.tables[:, u].astype(np.float32)))
            continue
        for rank, k in enumerate(range(len(kept[u])), 1):
            r_fit = float(stats["r_fit"][u, k])
            rows.append(dict(head, rank=rank, explanation=str(kept[u][k].root), terms=kept[u][k].terms,
                             binary=bool(binary[u, k]), status="ok",
                             score=float((1.0 if r_fit >= 0 else -1.0) * stats["r_heldout"][u, k]),
                             **{s: float(stats[s][u, k]) for s in STATS}, **tail))
        for i, row in enumerate(rows[first:]):
            row["lookup_table"] = two.tables[:, u].astype(np.float32) if i == 0 else np.zeros(0, np.float32)
    return pd.DataFrame(rows, columns=COLUMNS)


def shares(df: pd.DataFrame, column: str = "score") -> pd.DataFrame:
    """Per (layer, kind): units, and the share of units whose rank-1 `column` (or a curve_k column,
    whatever the rank) reaches each of THRESHOLDS."""
    best = df[df["rank"] == 1]
    rows = []
    for (layer, kind), g in best.groupby(["layer", "kind"], sort=True):
        rows.append({"layer": layer, "kind": kind, "units": len(g),
                     **{f">={t}": float((g[column] >= t).mean()) for t in THRESHOLDS}})
    return pd.DataFrame(rows)


def save_explanations(df: pd.DataFrame, path: Path, recording_id: str | None = None) -> Path:
    """Write df to path atomically (a kill leaves the previous file or none), df.attrs and the
    recording's id in the Parquet metadata."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = {"attrs": df.attrs, "recording_id": recording_id}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           b"charnn.explanations": json.dumps(meta, default=str).encode()})
    try:
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
    except OSError as err:  # a read-only recording is still explained, just not saved
        warnings.warn(f"could not write {path}: {err}", stacklevel=2)
    return path


def explanations_path(rec_or_path) -> Path:
    """Where the explanations of a recording (a Recording or its folder) are saved."""
    return Path(getattr(rec_or_path, "path", rec_or_path)) / FILE


def load_explanations(rec_or_path, unit=None) -> pd.DataFrame | None:
    """The explanations saved beside a recording (a Recording, its folder, or the .parquet), or None
    if it has none; unit ("0:c:37" or a charnn.units.Unit): only that unit's rows (a filtered read)."""
    where = Path(getattr(rec_or_path, "path", rec_or_path))
    path = where if where.suffix == ".parquet" else explanations_path(where)
    if not path.is_file():
        return None
    filters = None
    if unit is not None:
        u = Unit.parse(unit)
        filters = [("layer", "=", u.layer), ("kind", "=", u.kind), ("unit", "=", u.index)]
    table = pq.read_table(path, filters=filters)
    df = table.to_pandas()
    raw = (table.schema.metadata or {}).get(b"charnn.explanations")
    if raw:
        meta = json.loads(raw)
        df.attrs.update(meta.get("attrs", {}), recording_id=meta.get("recording_id"))
    return df


def current_explanations(rec) -> pd.DataFrame | None:
    """Every row saved beside `rec`; None if it has none, or if they are for an earlier recording in
    that folder (another recording id)."""
    df = load_explanations(rec)
    rid = (getattr(rec, "meta", None) or {}).get("recording_id")
    if df is None or (rid and df.attrs.get("recording_id") not in (None, rid)):
        return None
    return df


def best_explanations(rec) -> pd.DataFrame | None:
    """Each unit's best explanation saved beside `rec`: layer, kind, unit, explanation, explanation_r
    (its held-out score); None if it has none, or if they are for an earlier recording in that folder."""
    df = current_explanations(rec)
    if df is None:
        return None
    best = df[(df["rank"] == 1) & (df["status"] == "ok")]
    return best[["layer", "kind", "unit", "explanation", "score"]].rename(columns={"score": "explanation_r"})
