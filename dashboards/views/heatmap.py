"""Many neurons: a heatmap of chosen units (rows) over the text (columns), as in LSTMVis, and a
span finder: select a span of text (in the neuron view, or by zooming the heatmap) and list the
units that are on inside it and off around it.

Units are picked by name (`1:c:37`; typing `1:c:` lists that layer and kind); the picker offers
at most MAX_OPTIONS names at a time, so a recording with very wide kinds sends no long lists.
"""

from __future__ import annotations

from itertools import islice

import numpy as np
import plotly.graph_objects as go
from dash import Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from charnn import colors
from charnn.units import Unit

from ..state import opening, served, view_unit
from ..unitstats import span_units
from . import grid

WIDTHS = (100, 200, 500, 1000)  # characters shown; a request for another width gets DEFAULT_WIDTH
DEFAULT_WIDTH = 200
DEFAULT_UNITS = 16
MAX_UNITS = 64
MAX_OPTIONS = 100
MAX_SPAN = 2000  # characters of a span the finder scores
SPAN_ROWS = 20
SPAN_COLUMNS = [grid.column("unit", unit=True), grid.column("sign", "+: on means high, −: on means low"),
                grid.column("score", "fraction on inside − fraction on around", ".2f"),
                grid.column("inside", "fraction of the span's characters where the unit is on", ".2f"),
                grid.column("around", "fraction of the characters around the span where it is on", ".2f")]


def layout() -> html.Div:
    return html.Div(className="heatmap-view", children=[
        html.Div(className="row", children=[
            dcc.Dropdown(id="heat-units", multi=True, style={"flex": "1"},
                         placeholder=f"units by name, e.g. 1:c:37 (default: the first {DEFAULT_UNITS} of this layer and kind)"),
            html.Button("+ current unit", id="heat-add", className="btn small"),
            html.Button("top search results", id="heat-from-search", className="btn small", disabled=True,
                        title="the best units of the last search (search on the Neuron tab)"),
            html.Button("clear", id="heat-clear", className="btn small"),
            dcc.Dropdown(id="heat-width", options=[{"label": f"{w} chars", "value": w} for w in WIDTHS], value=DEFAULT_WIDTH,
                         clearable=False, style={"width": "9rem"}),
        ]),
        dcc.Graph(id="heat-graph", config={"displaylogo": False}),
        html.Div(id="heat-note", className="status"),
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
        grid.grid("span-table", SPAN_COLUMNS, height=300),
        dcc.Store(id="span-shown"),
    ])


def unit_options(data, view: dict, typed: str | None, chosen: list[str]) -> list[str]:
    """The picker's choices: the chosen units, then up to MAX_OPTIONS names containing what is
    typed (with nothing typed, the units of the view's layer and kind)."""
    info = data.info(view["run"], view["rec"])
    if typed:
        layers = info.get("kind_layers", {})  # an added kind (an autoencoder's latents) is in its own layer
        names = (str(Unit(layer, kind, u)) for layer in range(info["layers"]) for kind in info["kinds"]
                 if layer in layers.get(kind, [layer]) for u in range(data.width(view["run"], view["rec"], layer, kind)))
        found = (name for name in names if typed.strip() in name)
    else:
        found = (str(Unit(view["layer"], view["kind"], u))
                 for u in range(data.width(view["run"], view["rec"], view["layer"], view["kind"])))
    return list(dict.fromkeys(chosen + list(islice(found, MAX_OPTIONS))))


def chosen_units(data, view: dict, names: list | None) -> tuple[list[Unit], int]:
    """(units to draw, how many chosen names this recording lacks): the first MAX_UNITS chosen
    that exist in it, else the first DEFAULT_UNITS of the view's layer and kind."""
    info, units = data.info(view["run"], view["rec"]), []
    for name in (names or [])[:MAX_UNITS]:
        try:
            unit = Unit.parse(name)
            units.append(unit.check(info["layers"], info["kinds"], data.width(view["run"], view["rec"], unit.layer, unit.kind)))
        except ValueError:
            continue
    if names and units:
        return units, min(len(names), MAX_UNITS) - len(units)
    width = data.width(view["run"], view["rec"], view["layer"], view["kind"])
    return [Unit(view["layer"], view["kind"], u) for u in range(min(DEFAULT_UNITS, width))], len(names or [])


def heatmap_figure(values: np.ndarray, labels: list[str], chars: list[str], start: int, title: str) -> go.Figure:
    """values (units, n) normalized to [-1, 1]; one column per character."""
    x = np.arange(start, start + values.shape[1])
    shown = ["↵" if c == "\n" else ("␣" if c == " " else c) for c in chars]
    fig = go.Figure(go.Heatmap(
        z=values, x=x, y=labels, zmin=-1, zmax=1, colorscale="RdBu", reversescale=True,
        customdata=np.tile(np.array(shown, dtype=object), (len(labels), 1)),
        hovertemplate="pos %{x} '%{customdata}'<br>%{y}: %{z:.3f}<extra></extra>", colorbar=dict(thickness=10)))
    tick = max(1, len(x) // 100)
    fig.update_layout(title=title, height=max(300, 110 + 22 * len(labels)), margin=dict(l=90, r=10, t=40, b=40),
                      yaxis_autorange="reversed",
                      xaxis=dict(tickmode="array", tickvals=x[::tick], ticktext=shown[::tick], tickangle=0,
                                 tickfont=dict(family="monospace", size=11)))
    return fig


def window_start(view: dict, width: int) -> int:
    """The heatmap's first character: centred on the focus if there is one, else at the page."""
    return max(0, view["focus"] - width // 2 if view.get("focus") is not None else view["pos"])


def find_span(data, view: dict, start, stop, threshold) -> list[dict]:
    """Grid rows of the units of the view's kind (every layer) on inside [start, stop) and off
    around it, best first; a ValueError says what is wrong with the span."""
    n = data.info(view["run"], view["rec"])["n_chars"]
    if not all(isinstance(x, (int, float)) for x in (start, stop)) or not 0 <= start < stop <= n:
        raise ValueError(f"choose a span: 0 ≤ start < stop ≤ {n:,}")
    if stop - start > MAX_SPAN:
        raise ValueError(f"spans up to {MAX_SPAN:,} characters")
    if not isinstance(threshold, (int, float)) or not 0 <= threshold < 1:
        raise ValueError("the threshold is between 0 and 1")
    start, stop = int(start), int(stop)
    margin = max(10, stop - start)
    a = max(0, start - margin)
    rec, kind, found = data.recording(view["run"], view["rec"]), view["kind"], []
    for layer in range(rec.layers):
        block = rec.activations(layer, kind, None, a, stop + margin)  # (n, width)
        lo, hi = rec.unit_range(layer, kind)
        norm = colors.normalize(block, kind, view["scale"], lo, hi)
        found += [{**r, "unit": str(Unit(layer, kind, r["index"]))}
                  for r in span_units(norm, slice(start - a, stop - a), threshold, top=SPAN_ROWS)]
    found.sort(key=lambda r: -r["score"])
    return [{"id": r["unit"], "unit": r["unit"], "sign": r["sign"],
             **{k: round(r[k], 3) for k in ("score", "inside", "around")}} for r in found[:SPAN_ROWS]]


def register(app, data) -> None:
    @app.callback(Output("heat-units", "options"), Output("heat-units", "value"), Input("heat-units", "search_value"),
                  Input("heat-add", "n_clicks"), Input("heat-from-search", "n_clicks"), Input("heat-clear", "n_clicks"),
                  Input("view", "data"), State("heat-units", "value"), State("search-units", "data"))
    def pick(typed, _add, _search, _clear, view, chosen, found):
        """The picker's options and value together: the picker drops a value its options lack."""
        v = served(view, data, tab="heatmap")
        before = chosen = [c for c in (chosen or []) if isinstance(c, str)]
        if ctx.triggered_id == "heat-clear":
            chosen = []
        elif ctx.triggered_id == "heat-from-search" and found:
            chosen = [str(Unit.parse(u)) for u in found[:MAX_UNITS]]
        elif ctx.triggered_id == "heat-add" and str(view_unit(v)) not in chosen:
            chosen = chosen + [str(view_unit(v))]
        return unit_options(data, v, typed, chosen), chosen if chosen != before else no_update

    @app.callback(Output("heat-from-search", "disabled"), Input("search-units", "data"))
    def searched(found):
        return not found

    @app.callback(Output("heat-graph", "figure"), Output("heat-note", "children"), Input("view", "data"),
                  Input("heat-units", "value"), Input("heat-width", "value"))
    def figure(view, chosen, width):
        v = served(view, data, tab="heatmap")
        width = width if width in WIDTHS else DEFAULT_WIDTH
        units, missing = chosen_units(data, v, chosen)
        start = window_start(v, width)
        raw = data.units_window(v["run"], v["rec"], units, start, start + width)  # (units, n)
        norm = np.stack([colors.normalize(row, u.kind, v["scale"], *data.unit_range(v["run"], v["rec"], u.layer, u.kind, u.index))
                         for row, u in zip(raw, units)]) if units else raw
        chars = data.text_window(v["run"], v["rec"], start, start + raw.shape[1])["char"].tolist()
        title = f"{len(units)} units, chars {start:,}–{start + len(chars):,}"
        note = f"{missing} chosen unit(s) are not in this recording" if missing else ""
        return heatmap_figure(norm, [str(u) for u in units], chars, start, title), note

    @app.callback(Output("span-start", "value"), Output("span-stop", "value"), Input("span-sel", "data"),
                  Input("heat-graph", "relayoutData"), prevent_initial_call=True)
    def span_from_selection(selection, relayout):
        if ctx.triggered_id == "span-sel" and selection:
            return selection["start"], selection["stop"]
        if relayout and "xaxis.range[0]" in relayout:
            return int(np.ceil(relayout["xaxis.range[0]"])), int(np.floor(relayout["xaxis.range[1]"])) + 1
        raise PreventUpdate

    @app.callback(Output("span-table", "rowData"), Output("span-error", "children"), Output("span-shown", "data"),
                  Input("span-go", "n_clicks"), State("span-start", "value"), State("span-stop", "value"),
                  State("span-threshold", "value"), State("view", "data"), prevent_initial_call=True)
    def find(_n, start, stop, threshold, view):
        v = served(view, data)
        try:
            return find_span(data, v, start, stop, threshold), "", int(start)
        except ValueError as err:
            return [], str(err), None

    @app.callback(Output("open", "data", allow_duplicate=True), Input("span-table", "cellClicked"),
                  State("span-shown", "data"), prevent_initial_call=True)
    def open_unit(cell, start):
        clicked = grid.clicked_unit(cell)
        if clicked is None:
            raise PreventUpdate
        return opening(clicked[1], focus=start if isinstance(start, int) else None)
