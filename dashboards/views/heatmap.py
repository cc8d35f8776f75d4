"""Many neurons: a heatmap of chosen units (rows) over the text (columns), as in LSTMVis, and a
span finder: select a span of text (in the neuron view, or by zooming the heatmap) and list the
units that are on inside it and off around it.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from dash import Input, Output, State, ctx, dash_table, dcc, html, no_update
from dash.exceptions import PreventUpdate

from charnn import colors

from ..unitstats import span_units

WIDTHS = (100, 200, 500, 1000)
DEFAULT_UNITS = 16
MAX_UNITS = 64


def unit_id(layer: int, kind: str, unit: int) -> str:
    return f"{layer}:{kind}:{unit}"


def parse_unit_id(value: str) -> tuple[int, str, int]:
    layer, kind, unit = value.split(":")
    return int(layer), kind, int(unit)


def layout() -> html.Div:
    return html.Div(className="heatmap-view", children=[
        html.Div(className="row", children=[
            dcc.Dropdown(id="heat-units", multi=True, placeholder="units (default: the first 16 of this layer and kind)",
                         style={"flex": "1"}),
            html.Button("+ current unit", id="heat-add", className="btn small"),
            html.Button("top search results", id="heat-from-search", className="btn small"),
            html.Button("clear", id="heat-clear", className="btn small"),
            dcc.Dropdown(id="heat-width", options=[{"label": f"{w} chars", "value": w} for w in WIDTHS], value=200,
                         clearable=False, style={"width": "8rem"}),
        ]),
        dcc.Graph(id="heat-graph", config={"displaylogo": False}),
        html.H5("Units on inside a span and off around it"),
        html.Div(className="row", children=[
            html.Span("span", className="lbl"),
            dcc.Input(id="span-start", type="number", min=0, placeholder="start", style={"width": "7rem"}),
            dcc.Input(id="span-stop", type="number", min=0, placeholder="stop", style={"width": "7rem"}),
            html.Span("threshold", className="lbl"),
            dcc.Slider(id="span-threshold", min=0.0, max=0.9, step=0.1, value=0.3, marks=None,
                       tooltip={"always_visible": False}),
            html.Button("find units", id="span-go", className="btn primary"),
        ]),
        html.Div("select text in the neuron view, or zoom the heatmap, to fill the span", className="hint"),
        html.Div(id="span-error", className="error"),
        dash_table.DataTable(id="span-table", data=[], page_size=10, cell_selectable=True,
                             columns=[{"name": c, "id": c} for c in ("layer", "kind", "unit", "sign", "score", "inside", "around")],
                             style_cell={"fontFamily": "monospace", "fontSize": "12px", "padding": "2px 6px"}),
    ])


def heatmap_figure(values: np.ndarray, labels: list[str], chars: list[str], start: int, title: str) -> go.Figure:
    """values (units, n) normalized to [-1, 1]; one column per character."""
    x = np.arange(start, start + values.shape[1])
    shown = ["↵" if c == "\n" else ("␣" if c == " " else c) for c in chars]
    fig = go.Figure(go.Heatmap(
        z=values, x=x, y=labels, zmin=-1, zmax=1, colorscale="RdBu", reversescale=True,
        customdata=np.tile(np.array(shown, dtype=object), (len(labels), 1)),
        hovertemplate="pos %{x} '%{customdata}'<br>%{y}: %{z:.3f}<extra></extra>", colorbar=dict(thickness=10)))
    tick = max(1, len(x) // 100)
    fig.update_layout(title=title, height=max(300, 110 + 22 * len(labels)), margin=dict(l=90, r=10, t=40, b=40), yaxis_autorange="reversed",
                      xaxis=dict(tickmode="array", tickvals=x[::tick], ticktext=shown[::tick], tickangle=0,
                                 tickfont=dict(family="monospace", size=11)))
    return fig


def register(app, data) -> None:
    @app.callback(Output("heat-units", "options"), Input("rec-key", "data"))
    def options(key):
        if not key or not key.get("rec"):
            return []
        info = data.info(key["run"], key["rec"])
        return [unit_id(l, k, u) for l in range(info["layers"]) for k in info["kinds"] for u in range(info["hidden"])]

    @app.callback(Output("heat-units", "value"), Input("heat-add", "n_clicks"), Input("heat-from-search", "n_clicks"),
                  Input("heat-clear", "n_clicks"), State("heat-units", "value"), State("view", "data"),
                  State("search-units", "data"), prevent_initial_call=True)
    def choose(_add, _search, _clear, chosen, view, found):
        chosen = list(chosen or [])
        if ctx.triggered_id == "heat-clear":
            return []
        if ctx.triggered_id == "heat-from-search":
            return [unit_id(*u) for u in (found or [])] or no_update
        current = unit_id(view["layer"], view["kind"], view["unit"])
        return chosen + [current] if current not in chosen else no_update

    @app.callback(Output("heat-graph", "figure"), Input("view", "data"), Input("heat-units", "value"),
                  Input("heat-width", "value"))
    def figure(view, chosen, width):
        if not view or view.get("tab") != "heatmap" or not view.get("rec"):
            raise PreventUpdate
        if chosen:
            units = [parse_unit_id(u) for u in chosen[:MAX_UNITS]]
        else:
            hidden = data.info(view["run"], view["rec"])["hidden"]
            units = [(view["layer"], view["kind"], u) for u in range(min(DEFAULT_UNITS, hidden))]
        start = view["focus"] - width // 2 if view.get("focus") is not None else view["pos"]
        start = max(0, start)
        raw = data.units_window(view["run"], view["rec"], units, start, start + width)  # (units, n)
        norm = np.stack([colors.normalize(row, k, view["scale"], *data.unit_range(view["run"], view["rec"], l, k, u))
                         for row, (l, k, u) in zip(raw, units)]) if len(units) else raw
        chars = data.text_window(view["run"], view["rec"], start, start + raw.shape[1])["char"].tolist()
        labels = [f"L{l} {k} {u}" for l, k, u in units]
        return heatmap_figure(norm, labels, chars, start, f"{len(units)} units, chars {start:,}–{start + len(chars):,}")

    @app.callback(Output("span-start", "value"), Output("span-stop", "value"), Input("span-sel", "data"),
                  Input("heat-graph", "relayoutData"), prevent_initial_call=True)
    def span_from_selection(selection, relayout):
        if ctx.triggered_id == "span-sel" and selection:
            return selection["start"], selection["stop"]
        if relayout and "xaxis.range[0]" in relayout:
            return int(np.ceil(relayout["xaxis.range[0]"])), int(np.floor(relayout["xaxis.range[1]"])) + 1
        raise PreventUpdate

    @app.callback(Output("span-table", "data"), Output("span-error", "children"), Input("span-go", "n_clicks"),
                  State("span-start", "value"), State("span-stop", "value"), State("span-threshold", "value"),
                  State("view", "data"), prevent_initial_call=True)
    def find(_n, start, stop, threshold, view):
        if start is None or stop is None or stop <= start:
            return [], "choose a span: start < stop"
        if stop - start > 2000:
            return [], "spans up to 2,000 characters"
        margin = max(10, stop - start)
        a = max(0, start - margin)
        rec = data.recording(view["run"], view["rec"])
        kind, rows = view["kind"], []
        for layer in range(rec.layers):
            block = rec.activations(layer, kind, None, a, stop + margin)  # (n, H)
            lo, hi = rec.unit_range(layer, kind)
            found = span_units(colors.normalize(block, kind, view["scale"], lo, hi), slice(start - a, stop - a), threshold)
            rows += [{**r, "layer": layer, "kind": kind, "unit": r["index"]} for r in found]
        rows.sort(key=lambda r: -r["score"])
        return [{**{k: r[k] for k in ("layer", "kind", "unit", "sign")},
                 **{k: round(r[k], 3) for k in ("score", "inside", "around")},
                 "id": unit_id(r["layer"], kind, r["unit"])} for r in rows[:20]], ""

    @app.callback(Output("open", "data", allow_duplicate=True), Input("span-table", "active_cell"),
                  State("span-start", "value"), prevent_initial_call=True)
    def open_unit(cell, start):
        if not cell or not cell.get("row_id"):
            raise PreventUpdate
        layer, kind, unit = parse_unit_id(cell["row_id"])
        return {"layer": layer, "kind": kind, "unit": unit, "tab": "neuron", "focus": start, "pos": max(0, start - 300)}
