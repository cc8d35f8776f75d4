"""Neuron view: the recorded text colored by one unit (blue negative, white zero, red positive),
beside the search panel. Hover a character for its position, the value, the model's loss there
and its top guesses for the next character.
"""

from __future__ import annotations

from dash import ClientsideFunction, Input, Output, State, dcc, html, no_update

from ..state import served
from . import search
from .textpanel import legend, paint_payload, text_panel, window_key, window_payload


def layout(concepts: dict) -> html.Div:
    return html.Div(className="neuron-view", children=[
        html.Div(className="main", children=[
            text_panel("text", legend("−1", "+1", "rdbu")),
            html.Div(className="row", children=[
                html.Div("keys: j / k next / previous unit · n / p next / previous page · s next strong activation · "
                         "select text to use it as the heatmap's span", className="hint", style={"flex": "1"}),
                html.Button("ablate / clamp this unit", id="neuron-intervene", className="btn small"),
            ]),
        ]),
        html.Div(className="side", children=[search.layout(concepts)]),
        dcc.Store(id="win"), dcc.Store(id="win-key"), dcc.Store(id="paint"),
    ])


def register(app, data) -> None:
    @app.callback(Output("win", "data"), Output("win-key", "data"), Output("paint", "data"),
                  Input("view", "data"), State("win-key", "data"))
    def update(view, shown_key):
        view = served(view, data)
        key = window_key(view)
        win = window_payload(data, view) if key != shown_key else no_update
        return win, key, paint_payload(data, view)

    app.clientside_callback(ClientsideFunction("charnn", "renderNeuron"), Output("text-status", "children"),
                            Input("win", "data"), Input("paint", "data"))
