"""What the dashboard shows of a recording's explanations (`charnn explain`'s table; pure pandas
and plotly, tested in tests/dashboard/test_explained.py).

    ranked(df, unit)                      # one unit's explanations, rank 1 first (empty if not explained)
    scores(row)                           # "held-out r +0.906 (chance 0.012) · separation 0.995, high where
                                          #  it holds (chance 0.503)"
    missing(df, unit, rec)                # why a unit has no explanation to show, and what to do
    curve_figure(df, unit)                # its held-out r by number of terms, beside its layer and kind's shares
    best(df, Filters(kinds=["c"]))        # the explain page's table: each unit's best explanation, best first
    share_table(df)                       # per layer and kind, the share of units at r >= 0.5 / 0.7 / 0.8

Scores are the table's: `score` is the held-out r oriented by the fitting part (what the shares
count), `r_heldout` keeps its sign (negative: the unit is low where the explanation holds), and
the chance level is |r| of the same explanation shifted far along the held-out text. A 0/1
explanation's AUROC is shown as the search shows it: the separation max(AUROC, 1 - AUROC), and
whether the unit is high or low where the explanation holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from charnn.explanations import CURVE, THRESHOLDS, shares
from charnn.scan import direction, separation
from charnn.units import Unit

TWO_PART = ("class", "r2_local", "r2_memory", "lookup", "readable")  # the two-part explanation's columns shown
MAX_ROWS = 2000  # rows of the explain page's table sent to the browser
STATUS = {"constant": "constant on the fitting or the held-out part (a dead unit): unexplainable",
          "none found": "no term of the feature library explains any of its variance"}
SHARE_COLORS = {0.5: "#92c5de", 0.7: "#4393c3", 0.8: "#2166ac"}


def ranked(df: pd.DataFrame | None, unit: Unit) -> pd.DataFrame:
    """The unit's rows, rank 1 first; empty when df is None or does not cover the unit."""
    if df is None:
        return pd.DataFrame()
    mine = df[(df["layer"] == unit.layer) & (df["kind"] == unit.kind) & (df["unit"] == unit.index)]
    return mine.sort_values("rank")


def scores(row) -> str:
    """One explanation's scores, each next to its chance level."""
    text = f"held-out r {row['r_heldout']:+.3f} (chance {abs(row['r_chance']):.3f})"
    if np.isfinite(row["auroc"]):
        text += f" · {separated(row['auroc'], row['auroc_chance'])}"
    return text


def separated(auroc: float, chance: float) -> str:
    """'separation 0.995, high where it holds (chance 0.503)' of a held-out AUROC and its chance level."""
    return (f"separation {separation(auroc):.3f}, {direction(auroc).replace('inside', 'where it holds')} "
            f"(chance {separation(chance):.3f})")


def missing(df: pd.DataFrame | None, unit: Unit, rec: str) -> str:
    """Why `unit` has nothing to show: the recording is not explained, its kind was left out, or the
    unit could not be explained."""
    if df is None:
        return f"{rec} has no explanations yet: compute them on the Explain tab"
    rows = ranked(df, unit)
    if rows.empty:
        kinds = ", ".join(sorted(set(df["kind"])))
        return (f"{unit}: the explanations of {rec} cover kinds {kinds}; explain kind {unit.kind} on the Explain tab "
                "to name this unit")
    return f"{unit}: {STATUS.get(rows.iloc[0]['status'], rows.iloc[0]['status'])}"


def explained(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows that hold an explanation (status ok)."""
    return rows[rows["status"] == "ok"] if len(rows) else rows


# ------------------------------------------------------------------ the term-count curve
def term_shares(df: pd.DataFrame, layer: int, kind: str) -> dict[float, list[float]]:
    """{threshold: [share of the layer and kind's units whose curve_k reaches it, for k in CURVE]}."""
    table = {k: shares(df[(df["layer"] == layer) & (df["kind"] == kind)], f"curve_{k}") for k in CURVE}
    return {t: [float(table[k][f">={t}"].iloc[0]) if len(table[k]) else 0.0 for k in CURVE] for t in THRESHOLDS}


def curve_figure(df: pd.DataFrame | None, unit: Unit) -> go.Figure:
    """Left: the unit's held-out r with 1, 2, 3, 5, 10 greedy least-squares terms. Right: for
    reference, the share of its layer and kind's units reaching r 0.5 / 0.7 / 0.8 with as many."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=[f"{unit}: held-out r by number of terms",
                                        f"all {unit.layer}:{unit.kind} units: share at held-out r ≥"])
    rows = ranked(df, unit)
    r = [float(rows.iloc[0][f"curve_{k}"]) for k in CURVE] if len(rows) else []
    if rows.empty:
        fig.add_annotation(text="not explained", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    else:
        fig.add_scatter(x=list(CURVE), y=r, mode="lines+markers", name=f"{unit}", line_color="#b2182b",
                        hovertemplate="%{x} terms: r %{y:.3f}<extra></extra>", row=1, col=1)
        for t, share in term_shares(df, unit.layer, unit.kind).items():
            fig.add_scatter(x=list(CURVE), y=share, mode="lines+markers", name=f"r ≥ {t}", line_color=SHARE_COLORS[t],
                            hovertemplate="%{x} terms: %{y:.1%} of the units<extra>r ≥ " + str(t) + "</extra>",
                            row=1, col=2)
    for col in (1, 2):
        fig.update_xaxes(tickvals=list(CURVE), title_text="terms (greedy least squares)", row=1, col=col)
    low = min([0.0, *r])  # a held-out r can fall below 0
    fig.update_yaxes(range=[low - 0.02 if low < 0 else 0, 1.02], title_text="held-out r", row=1, col=1)
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", row=1, col=2)
    fig.update_layout(height=300, margin=dict(l=50, r=10, t=40, b=40), legend=dict(orientation="h", y=-0.25, x=0.55))
    return fig


# ------------------------------------------------------------------ the explain page
@dataclass
class Filters:
    layers: list | None = None  # None or empty: every layer
    kinds: list | None = None  # None or empty: every kind
    min_score: float | None = None
    contains: str = ""  # a substring of the explanation (case-insensitive)

    def apply(self, best: pd.DataFrame) -> pd.DataFrame:
        keep = np.ones(len(best), bool)
        if self.layers:
            keep &= best["layer"].isin(self.layers).to_numpy()
        if self.kinds:
            keep &= best["kind"].isin(self.kinds).to_numpy()
        if self.min_score is not None:
            keep &= (best["score"] >= self.min_score).to_numpy()
        if self.contains:
            keep &= best["explanation"].str.contains(self.contains, case=False, regex=False).to_numpy()
        return best[keep]


def best(df: pd.DataFrame, filters: Filters = Filters()) -> tuple[pd.DataFrame, int, int]:
    """(each unit's best explanation that passes the filters, best score first, at most MAX_ROWS, with
    the columns the explain page shows: unit, score, r, chance, separation, terms, explanation, the
    two-part explanation's class, r2_local, r2_memory, lookup and readable, and the median half-life
    (NaN for a kind no gate decays, or a file written before it had the column); how many pass; how
    many units there are)."""
    first = df[df["rank"] == 1]
    shown = filters.apply(first).sort_values(["score", "layer", "kind", "unit"], ascending=[False, True, True, True],
                                             kind="stable")
    top = shown.head(MAX_ROWS)
    names = [str(Unit(int(r.layer), r.kind, int(r.unit))) for r in top.itertuples()]
    text = np.where(top["status"] == "ok", top["explanation"], "— " + top["status"].astype(str))
    half_life = top["half_life"].to_numpy() if "half_life" in top else np.full(len(top), np.nan)
    table = pd.DataFrame({"unit": names, "score": top["score"].to_numpy(), "r": top["r_heldout"].to_numpy(),
                          "chance": top["r_chance"].abs().to_numpy(),
                          "separation": separation(top["auroc"]).to_numpy(),
                          "terms": top["terms"].to_numpy(), "explanation": text,
                          **{c: top[c].to_numpy() for c in TWO_PART}, "half_life": half_life})
    return table, len(shown), len(first)


def share_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per layer and kind: units, and r50, r70, r80, the share of them whose best explanation reaches
    held-out r 0.5, 0.7, 0.8 (names without dots: a grid reads a dotted field as a path)."""
    return shares(df).rename(columns={f">={t}": share_column(t) for t in THRESHOLDS})


def share_column(threshold: float) -> str:
    return f"r{round(100 * threshold)}"


def summary(df: pd.DataFrame, rec: str) -> str:
    """What the explanations are: how many units, of which kinds, fitted and scored on what."""
    units = int((df["rank"] == 1).sum())
    return f"{units:,} units of {rec} explained (kinds {', '.join(sorted(set(df['kind'])))}): {scored_on(df)}"


def scored_on(df: pd.DataFrame) -> str:
    """'fitted on 100,626 characters, scored on 100,626 held-out characters (the second half); ...'."""
    attrs = df.attrs
    heldout = attrs.get("settings", {}).get("heldout", "second half")
    where = "the second half" if heldout == "second half" else heldout
    return (f"fitted on {attrs.get('n_fit', 0):,} characters, scored on {attrs.get('n_heldout', 0):,} held-out "
            f"characters ({where}); units on their stored values")

