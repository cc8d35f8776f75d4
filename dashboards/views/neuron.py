"""Neuron view: the recorded text colored by one unit (blue negative, white zero, red positive),
beside the search panel. Hover a character for its position, the value, the model's loss there
and its top guesses for the next character; click one to colour the text before it by what each
character contributed to the unit's value there (views/attribution.py). Above the text, the unit's best explanation
(`charnn explain`) and its held-out score next to its chance level; clicking the explanation
searches every unit against it.
"""

from __future__ import annotations

from dash import ClientsideFunction, Input, Output, State, dcc, html, no_update

from .. import explained
from ..state import served, view_unit
from . import search
from .explain import use_button
from .textpanel import legend, paint_payload, text_panel, window_key, window_payload


def layout(concepts: dict) -> html.Div:
    return html.Div(className="neuron-view", children=[
        html.Div(className="main", children=[
            html.Div(id="neuron-explained", className="explained-line"),
            text_panel("text", legend("−1", "+1", "rdbu")),
            html.Div(className="row", children=[
                html.Div("keys: j / k next / previous unit · n / p next / previous page · s next strong activation · "
                         "select text to use it as the heatmap's span", className="hint", style={"flex": "1"}),
                html.Button("ablate / clamp this unit", id="neuron-intervene", className="btn small"),
            ]),
        ]),
        html.Div(className="side", children=[search.layout(concepts)]),
        dcc.Store(id="win"), dcc.Store(id="win-key"), dcc.Store(id="paint"), dcc.Store(id="attr-at"),
    ])


def register(app, data) -> None:
    @app.callback(Output("win", "data"), Output("win-key", "data"), Output("paint", "data"),
                  Input("view", "data"), State("win-key", "data"))
    def update(view, shown_key):
        view = served(view, data)
        key = window_key(view)
        win = window_payload(data, view) if key != shown_key else no_update
        return win, key, paint_payload(data, view)

    @app.callback(Output("neuron-explained", "children"), Input("view", "data"), Input("explain-version", "data"))
    def explanation(view, _version):
        view = served(view, data, tab="neuron")
        return explanation_line(data, view)

    app.clientside_callback(ClientsideFunction("charnn", "renderNeuron"), Output("text-status", "children"),
                            Input("win", "data"), Input("paint", "data"))


def explanation_line(data, view: dict) -> list:
    """'0:c:229 explained: [inside `"`...`"`] held-out r +0.906 (chance 0.012) ...', or why there is none."""
    unit = view_unit(view)
    try:
        df = data.explanations(view["run"], view["rec"])
    except ValueError as err:
        return [html.Span(str(err), className="error")]
    rows = explained.explained(explained.ranked(df, unit))
    if rows.empty:
        return [html.Span(explained.missing(df, unit, view["rec"]), className="hint")]
    best = rows.iloc[0]
    return [html.Span(f"{unit} explained: ", className="lbl"), use_button(best["explanation"], "neuron", 1),
            html.Span(" " + explained.scores(best), className="status")]
