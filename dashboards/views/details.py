"""Unit details: what one unit does over the whole recording. Its explanations (`charnn explain`:
each with its held-out scores next to their chance levels; clicking one searches every unit against
it) and its held-out r against the number of terms beside its layer and kind's shares; the
activation histogram split by inside / outside the current regex, concept or explanation, the top
activating contexts (both signs), contexts sampled per activation decile (as Neuroscope and SAE
dashboards show them), and the mean activation against the position within a match. Clicking a
context opens it in the neuron view.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from charnn import colors

from .. import explained
from ..state import query, query_label, served, unit_label, view_unit
from ..unitstats import histograms, position_profile, quantile_samples, top_positions
from . import attribution
from .explain import use_button

CONTEXT = 32  # characters each side of a context's centre
TOP_K = 12


def layout() -> html.Div:
    return html.Div(className="details-view", children=[
        html.H4(id="details-title"),
        html.Div(id="details-note", className="status"),
        html.H5("Explanations"),
        html.Div(id="details-explained", className="explained-table"),
        dcc.Graph(id="details-curve", config={"displaylogo": False}, style={"display": "none"}),
        html.Div(className="grid2", children=[
            dcc.Graph(id="details-hist", config={"displaylogo": False}),
            dcc.Graph(id="details-profile", config={"displaylogo": False}),
        ]),
        html.Div(className="grid2", children=[
            html.Div([html.H5("Highest activations"), html.Div(id="details-top-pos", className="contexts")]),
            html.Div([html.H5("Lowest activations"), html.Div(id="details-top-neg", className="contexts")]),
        ]),
        html.H5("Contexts per activation decile (0 = lowest)"),
        html.Div(id="details-quantiles", className="contexts"),
        attribution.layout(),
        dcc.Store(id="details-key"),
    ])


def details_key(view: dict) -> str:
    return "|".join(str(view.get(k)) for k in ("run", "rec", "layer", "kind", "unit", "scale", "regex", "concept", "target"))


def context_row(text: str, values: np.ndarray, norm: np.ndarray, pos: int, label: str) -> html.Div:
    """One context: a button with its position, then the characters colored by the unit."""
    a, b = max(0, pos - CONTEXT), min(len(text), pos + CONTEXT + 1)
    fills = colors.diverging(norm[a:b])
    spans = [html.Span(ch if ch != "\n" else "↵", style={"background": fills[i - a]},
                       className="centre" if i == pos else None) for i, ch in zip(range(a, b), text[a:b])]
    return html.Div(className="ctx", children=[
        html.Button(f"{label} @{pos}", id={"type": "ctx-open", "pos": pos}, className="btn small ctx-btn",
                    title=f"value {values[pos]:.4f}: open in the neuron view"),
        html.Span(spans, className="ctx-text"),
    ])


def histogram_figure(hist: dict, title: str) -> go.Figure:
    centres = (hist["edges"][:-1] + hist["edges"][1:]) / 2
    fig = go.Figure()
    if "inside" in hist:
        fig.add_bar(x=centres, y=hist["outside"], name="outside matches", marker_color="#888", opacity=0.6)
        fig.add_bar(x=centres, y=hist["inside"], name="inside matches", marker_color="#b2182b", opacity=0.6)
    else:
        fig.add_bar(x=centres, y=hist["all"], name="all characters", marker_color="#2166ac")
    fig.update_layout(barmode="overlay", title=title, height=320, bargap=0, margin=dict(l=40, r=10, t=40, b=30),
                      xaxis_title="activation", yaxis_title="density", legend=dict(orientation="h", y=1.02, x=0.4))
    return fig


def profile_figure(profile: dict | None, note: str) -> go.Figure:
    fig = go.Figure()
    if profile is None:
        fig.add_annotation(text=note, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
        fig.update_layout(xaxis_visible=False, yaxis_visible=False)
    else:
        for name, color in (("start", "#b2182b"), ("end", "#2166ac")):
            p = profile[name]
            keep = p["count"] > 0
            fig.add_scatter(x=p["offset"][keep], y=p["mean"][keep], mode="lines+markers", name=f"from match {name}",
                            line_color=color, marker_size=4)
        fig.add_vline(x=0, line_dash="dot", line_color="#999")
    fig.update_layout(title=f"By position in the match ({note})", height=320, margin=dict(l=40, r=10, t=40, b=30),
                      xaxis_title="offset (characters; 0 = first / last character of the match)",
                      yaxis_title="mean activation",
                      legend=dict(orientation="h", y=1.02, x=0.4))
    return fig


def ranked_table(rows) -> html.Table:
    """A unit's explanations, best first: each a button that searches it, then its scores."""
    head = ["rank", "explanation", "held-out r (chance)", "0/1: separation (chance)", "IoU (chance)",
            "r on the fitting half", "terms"]

    def binary(text_of, *values):
        return "" if not np.isfinite(values[0]) else text_of(*values)
    body = [html.Tr([html.Td(int(r["rank"])), html.Td(use_button(r["explanation"], "details", int(r["rank"]))),
                     html.Td(f"{r['r_heldout']:+.3f} ({abs(r['r_chance']):.3f})"),
                     html.Td(binary(explained.separated, r["auroc"], r["auroc_chance"]).removeprefix("separation ")),
                     html.Td(binary("{:.3f} ({:.3f})".format, r["iou"], r["iou_chance"])), html.Td(f"{r['r_fit']:+.3f}"),
                     html.Td(int(r["terms"]))])
            for _, r in rows.iterrows()]
    return html.Table(className="ranked", children=[html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(body)])


def register(app, data) -> None:
    @app.callback(Output("details-title", "children"), Output("details-note", "children"),
                  Output("details-hist", "figure"), Output("details-profile", "figure"),
                  Output("details-top-pos", "children"), Output("details-top-neg", "children"),
                  Output("details-quantiles", "children"), Output("details-key", "data"),
                  Input("view", "data"), State("details-key", "data"))
    def update(view, shown):
        view = served(view, data, tab="details")
        if details_key(view) == shown:
            raise PreventUpdate
        run, rec, layer, kind, unit = (view[k] for k in ("run", "rec", "layer", "kind", "unit"))
        values = data.unit_column(run, rec, layer, kind, unit)
        lo, hi = data.unit_range(run, rec, layer, kind, unit)
        norm = colors.normalize(values, kind, view["scale"], lo, hi)
        text = data.text(run, rec)
        note, mask = "no regex or concept: search one to split by it", None
        q = query(view)
        try:
            target = data.target(run, rec, q)
        except ValueError as err:
            target, note = None, str(err)
        if target is not None and np.all((target == 0) | (target == 1)):
            mask = target > 0.5
            note = f"split by {query_label(q)}"
        elif target is not None:
            note = f"{query_label(q)} is continuous: no inside / outside split"
        profile = position_profile(values, mask) if mask is not None else None
        prof_note = f"{profile['matches']:,} matches" if profile else "needs a regex or a binary concept"
        tops = [[context_row(text, values, norm, p, f"{values[p]:+.3f}") for p in top_positions(values, TOP_K, s)]
                for s in (1, -1)]
        quant = [context_row(text, values, norm, p, f"q{b}") for b, p in quantile_samples(values)]
        title = f"{unit_label(view)}: mean {values.mean():+.3f}, std {values.std():.3f}, range [{lo:+.3f}, {hi:+.3f}]"
        return (title, note, histogram_figure(histograms(values, mask), "Activation histogram"),
                profile_figure(profile, prof_note), tops[0], tops[1], quant, details_key(view))

    @app.callback(Output("details-explained", "children"), Output("details-curve", "figure"),
                  Output("details-curve", "style"), Input("view", "data"), Input("explain-version", "data"))
    def explanations(view, _version):
        view = served(view, data, tab="details")
        unit = view_unit(view)
        try:
            df = data.explanations(view["run"], view["rec"])
        except ValueError as err:
            return html.Div(str(err), className="error"), no_update, {"display": "none"}
        rows = explained.explained(explained.ranked(df, unit))
        if rows.empty:
            return html.Div(explained.missing(df, unit, view["rec"]), className="hint"), no_update, {"display": "none"}
        return [html.Div(explained.scored_on(df), className="status"), ranked_table(rows)], \
            explained.curve_figure(df, unit), {}

    @app.callback(Output("open", "data", allow_duplicate=True), Input({"type": "ctx-open", "pos": ALL}, "n_clicks"),
                  prevent_initial_call=True)
    def open_context(clicks):
        if not ctx.triggered_id or not ctx.triggered or not ctx.triggered[0].get("value"):
            raise PreventUpdate
        return {"focus": int(ctx.triggered_id["pos"]), "tab": "neuron"}
