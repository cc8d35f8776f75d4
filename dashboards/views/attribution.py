"""Why a unit has its value here, in the dashboard: clicking a character in the neuron view colours
the text before it by each position's contribution to the unit's value there (charnn.attribute:
the exact write decomposition for an LSTM's c or a GRU's h, integrated gradients otherwise), on
the same diverging scale as the activations, with the method, the half-life and the remainder in
the status line. Unit details shows the unit's memory span (half-life per position) as a histogram
and its circuit (charnn.circuit) as a graph; clicking a node opens that unit.
"""

from __future__ import annotations

import dash_cytoscape as cyto
import numpy as np
import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from charnn import colors
from charnn.units import Unit

from ..state import opening, served, view_unit, window_bounds
from .textpanel import window_key

WHITE = "#ffffff"


def attribution_paint(data, view: dict, pos: int) -> dict:
    """The paint payload (see textpanel.paint_payload) of the contributions to the view's unit at
    `pos`: characters from the window's start (or the stream's) to `pos` coloured, the rest white."""
    run, rec, unit = view["run"], view["rec"], view_unit(view)
    start, stop = window_bounds(view, data.info(run, rec)["n_chars"])
    if not start <= pos < stop:
        raise PreventUpdate
    a, span = data.attribution(run, rec, unit, pos, start)
    c = a.contributions["contribution"].to_numpy(np.float64)
    peak = float(np.abs(c).max()) if len(c) else 0.0
    fills = [WHITE] * (stop - start)
    values: list = [None] * (stop - start)
    first = a.start - start
    fills[first:first + len(c)] = colors.diverging(c / peak if peak > 0 else c)
    values[first:first + len(c)] = np.round(c, 5).tolist()
    half = "half-life —" if span is None else f"half-life {span[0]}{'+' if span[1] else ''}"
    note = (f"= {a.value:.4g} at {pos:,}: {a.method} · {half} · remainder {a.remainder:.4g} from before {a.start:,} "
            f"· full colour at ±{peak:.3g}")
    return {"key": window_key(view), "unit": f"contributions to {unit}", "kind": "contribution", "colors": fills,
            "values": values, "under": [], "error": "", "note": note, "focus": pos - start}


def memory_figure(half_lives: np.ndarray, unit: Unit) -> go.Figure:
    fig = go.Figure()
    if half_lives is None:
        fig.add_annotation(text=f"no gate decays kind {unit.kind}: no memory span", showarrow=False,
                           x=0.5, y=0.5, xref="paper", yref="paper")
        fig.update_layout(xaxis_visible=False, yaxis_visible=False)
    else:
        med, p90 = (int(np.quantile(half_lives, q, method="inverted_cdf")) for q in (0.5, 0.9))
        fig.add_histogram(x=np.log2(np.maximum(half_lives, 1)), nbinsx=40, marker_color="#2166ac")
        fig.update_layout(xaxis=dict(title="half-life (characters, log2 scale)", tickvals=list(range(13)),
                                     ticktext=[str(2 ** i) for i in range(13)]),
                          title=f"Memory span: median half-life {med}, 90th percentile {p90}")
    fig.update_layout(height=320, margin=dict(l=40, r=10, t=40, b=40), yaxis_title="positions")
    return fig


def circuit_elements(g) -> list[dict]:
    """Cytoscape elements of a circuit: nodes (state nodes carry their unit) and weighted edges."""
    scale = max([abs(w) for w in g.edges["weight"]] or [1.0])
    nodes = [{"data": {"id": n.id, "label": n.id if n.kind not in ("char",) or not n.char else f"{n.id} {n.char!r}",
                       "unit": f"{n.layer}:{n.kind}:{n.unit}" if n.kind not in ("char", "bias", "saturation") else "",
                       "size": 16 + 30 * min(1.0, float(n.influence))}} for n in g.nodes.itertuples()]
    edges = [{"data": {"source": e.source, "target": e.target, "width": 1 + 5 * abs(e.weight) / scale,
                       "color": "#b2182b" if e.weight > 0 else "#2166ac"}} for e in g.edges.itertuples()]
    return nodes + edges


STYLE = [{"selector": "node", "style": {"label": "data(label)", "width": "data(size)", "height": "data(size)",
                                        "font-size": 9, "background-color": "#999"}},
         {"selector": "edge", "style": {"width": "data(width)", "line-color": "data(color)", "target-arrow-shape": "triangle",
                                        "target-arrow-color": "data(color)", "curve-style": "bezier"}}]


def layout() -> html.Div:
    graph = cyto.Cytoscape(id="circuit-graph", elements=[], layout={"name": "breadthfirst", "directed": True},
                           style={"width": "100%", "height": "420px"}, stylesheet=STYLE)
    return html.Div(className="circuit-panel", children=[
        dcc.Graph(id="details-memory", config={"displaylogo": False}),
        html.H5("Circuit (gates frozen at their recorded values; click a node to open its unit)"),
        html.Div(id="circuit-status", className="status"), graph,
    ])


def register(app, data) -> None:
    @app.callback(Output("paint", "data", allow_duplicate=True), Input("attr-at", "data"), State("view", "data"),
                  prevent_initial_call=True)
    def attribute_click(click, view):
        if not click:
            raise PreventUpdate
        return attribution_paint(data, served(view, data), int(click["pos"]))

    @app.callback(Output("details-memory", "figure"), Output("circuit-graph", "elements"),
                  Output("circuit-status", "children"), Input("view", "data"))
    def unit_panels(view):
        view = served(view, data, tab="details")
        unit = view_unit(view)
        try:
            half_lives = data.unit_half_lives(view["run"], view["rec"], unit)
        except ValueError:
            half_lives = None
        try:
            g = data.circuit(view["run"], view["rec"], unit, view.get("focus"))
        except ValueError as err:
            return memory_figure(half_lives, unit), [], str(err)
        where = f"at {g.at:,}" if g.at is not None else f"averaged over its {len(g.positions)} largest values"
        return (memory_figure(half_lives, unit), circuit_elements(g),
                f"{unit} {where}: {len(g.nodes)} nodes, {len(g.edges)} edges (edge colour: sign of the direct effect)")

    @app.callback(Output("open", "data", allow_duplicate=True), Input("circuit-graph", "tapNodeData"),
                  prevent_initial_call=True)
    def open_node(node):
        if not node or not node.get("unit"):
            raise PreventUpdate
        return opening(Unit.parse(node["unit"]))
