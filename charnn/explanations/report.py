"""What `charnn explain` prints about the two-part explanations and the program swap.

    two_part_lines(df)          # classes, shares of the whole explanation and of readable terms alone,
                                # R^2 of lookup and memory, whole-state reconstruction, the memory units
    swap_lines(rows)            # bits per character clean / mean-ablated / swapped per layer, kind and r
    two_part_shares(df)         # the shares as a table (benchmarks, the dashboard)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .swap import whole_r
from .table import THRESHOLDS


def two_part_shares(df: pd.DataFrame) -> pd.DataFrame:
    """Per (layer, kind): units, class counts, median R^2 (lookup, memory, pairs), and the share of
    units at held-out r >= each threshold for the whole explanation and the readable terms alone."""
    best = df[df["rank"] == 1]
    rows = []
    for (layer, kind), g in best.groupby(["layer", "kind"], sort=True):
        ok = g[g["status"] != "constant"]
        whole = whole_r(g)
        rows.append({"layer": layer, "kind": kind, "units": len(g), **g["class"].value_counts().to_dict(),
                     "r2_local": float(ok["r2_local"].median()) if len(ok) else 0.0,
                     "r2_memory": float(ok["r2_memory"].median()) if len(ok) else 0.0,
                     "r2_pairs": float(ok["r2_pairs"].median()) if len(ok) else 0.0,
                     **{f"whole>={t}": float((whole >= t).mean()) for t in THRESHOLDS},
                     **{f"readable>={t}": float((g["score_readable"] >= t).mean()) for t in THRESHOLDS}})
    return pd.DataFrame(rows).fillna(0)


def two_part_lines(df: pd.DataFrame, n_units: int = 10) -> list[str]:
    """The table format's two-part section (see the module docstring)."""
    lines = ["", "two-part explanations: a lookup on the last K characters, then readable terms for what it leaves "
                 "(held out):",
             f"  {'layer':>5} {'kind':>4}  {'local':>5} {'memory':>6} {'mixed':>5} {'integ.':>6} {'const.':>6}  "
             f"{'R2 lookup':>9} {'+memory':>7} {'pairs':>5}   whole r >= 0.5/0.7/0.8   readable alone"]
    recon = {(d["layer"], d["kind"]): d["reconstruction"] for d in df.attrs.get("reconstruction", [])}
    for row in two_part_shares(df).to_dict("records"):
        counts = [int(row.get(c, 0)) for c in ("local", "memory", "mixed", "integrator", "constant")]
        whole = "/".join(f"{row[f'whole>={t}']:.0%}" for t in THRESHOLDS)
        readable = "/".join(f"{row[f'readable>={t}']:.0%}" for t in THRESHOLDS)
        lines.append(f"  {row['layer']:>5} {row['kind']:>4}  {counts[0]:>5} {counts[1]:>6} {counts[2]:>5} "
                     f"{counts[3]:>6} {counts[4]:>6}  {row['r2_local']:>9.2f} {row['r2_memory']:>+7.2f} "
                     f"{row['r2_pairs']:>5.2f}   {whole:>22}   {readable}")
    if recon:
        lines.append("  whole-state reconstruction (held-out variance of the state that all its units' explanations "
                     "reproduce): " + ", ".join(f"{layer}:{kind} {v:.1%}" for (layer, kind), v in sorted(recon.items())))
    best = df[(df["rank"] == 1) & (df["class"] == "memory")].sort_values("r2_memory", ascending=False).head(n_units)
    if len(best):
        lines += ["", "units with the most memory (R^2 the readable terms add to the lookup):"]
        for row in best.itertuples(index=False):
            lines.append(f"  {row.layer}:{row.kind}:{row.unit:<5} +{row.r2_memory:.2f} (lookup {row.r2_local:.2f})  "
                         f"{row.readable}")
    return lines


def swap_lines(rows: pd.DataFrame) -> list[str]:
    """The program swap as a table."""
    lines = ["program swap: units replaced by their explanations in the forward pass (held-out half), bits per character",
             f"  {'layer':>5} {'kind':>4} {'min r':>5} {'units':>5}  {'clean':>6} {'mean-ablated':>12} {'swapped':>7}"
             f"  recovered"]
    for r in rows.itertuples(index=False):
        rec = "n/a" if np.isnan(r.fraction_recovered) else f"{r.fraction_recovered:.1%}"
        lines.append(f"  {r.layer:>5} {r.kind:>4} {r.min_r:>5.2f} {r.units:>5}  {r.bpc_clean:>6.3f} "
                     f"{r.bpc_mean_ablated:>12.3f} {r.bpc_swapped:>7.3f}  {rec}")
    return lines
