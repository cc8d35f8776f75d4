"""Model view: training curves (train / validation bits per character from metrics.csv), the
gate saturation scatter of Karpathy et al. 2015 (Fig. 3: per unit, the fraction of steps a gate
is below 0.1 against above 0.9, one panel per gate, colored by layer), and the text window
colored by the model's loss on each character.
"""

from __future__ import annotations

import plotly.graph_objects as go
from dash import ClientsideFunction, Input, Output, dcc, html
from dash.exceptions import PreventUpdate
from plotly.subplots import make_subplots

from charnn.gates import gates_of

from ..data import SATURATION_CHARS
from .textpanel import legend, text_panel

LAYER_COLORS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02"]
GATE_NAMES = {"i": "input gate", "f": "forget gate", "o": "output gate", "r": "reset gate", "z": "update gate"}


def layout() -> html.Div:
    return html.Div(className="model-view", children=[
        html.Div(className="grid2", children=[
            dcc.Graph(id="model-curves", config={"displaylogo": False}),
            html.Div([dcc.Graph(id="model-gates", config={"displaylogo": False}),
                      html.Div(id="model-gates-note", className="status")]),
        ]),
        html.H5("Model loss on each character (bits); hover for its predictions"),
        text_panel("loss-text", legend("0", "8+ bits", "loss")),
    ])


def curves_figure(metrics, run: str) -> go.Figure:
    fig = go.Figure()
    if metrics is None or metrics.empty:
        fig.add_annotation(text=f"{run} has no metrics.csv", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
        return fig
    fig.add_scatter(x=metrics["step"], y=metrics["train_bpc"], name="train", mode="lines", line_color="#999")
    val = metrics.dropna(subset=["val_bpc"])
    fig.add_scatter(x=val["step"], y=val["val_bpc"], name="validation", mode="lines+markers", line_color="#b2182b")
    fig.update_layout(title=f"Training curves of {run}", height=360, xaxis_title="step", yaxis_title="bits per character",
                      margin=dict(l=50, r=10, t=40, b=40), legend=dict(orientation="h", y=1.02, x=0.5))
    return fig


def gates_figure(sat) -> go.Figure:
    gates = list(dict.fromkeys(sat["gate"]))
    fig = make_subplots(rows=1, cols=len(gates), subplot_titles=[GATE_NAMES.get(g, g) for g in gates], shared_yaxes=True)
    for col, gate in enumerate(gates, start=1):
        for layer in sorted(set(sat["layer"])):
            rows = sat[(sat.gate == gate) & (sat.layer == layer)]
            fig.add_scatter(x=rows["left"], y=rows["right"], mode="markers", name=f"layer {layer}",
                            marker=dict(size=5, color=LAYER_COLORS[layer % len(LAYER_COLORS)], opacity=0.7),
                            customdata=rows["unit"], showlegend=col == 1, legendgroup=str(layer),
                            hovertemplate="unit %{customdata}<br>< 0.1: %{x:.2f}<br>> 0.9: %{y:.2f}<extra></extra>",
                            row=1, col=col)
        fig.add_scatter(x=[0, 1], y=[1, 0], mode="lines", line=dict(color="#ccc", dash="dot"), showlegend=False,
                        hoverinfo="skip", row=1, col=col)
        fig.update_xaxes(range=[0, 1], title_text="fraction < 0.1", row=1, col=col)
    fig.update_yaxes(range=[0, 1], title_text="fraction > 0.9", row=1, col=1)
    fig.update_layout(title="Gate saturation", height=380, margin=dict(l=50, r=10, t=60, b=90),
                      legend=dict(orientation="h", x=0.5, xanchor="center", y=-0.3))
    return fig


def register(app, data) -> None:
    @app.callback(Output("model-curves", "figure"), Output("model-gates", "figure"), Output("model-gates-note", "children"),
                  Output("model-gates", "style"), Input("view", "data"))
    def update(view):
        if not view or view.get("tab") != "model" or not view.get("run"):
            raise PreventUpdate
        curves = curves_figure(data.metrics(view["run"]), view["run"])
        if not view.get("rec"):
            return curves, go.Figure(), "no recording", {"display": "none"}
        info = data.info(view["run"], view["rec"])
        gates = gates_of(info["cell"])
        if not set(gates) & set(info["kinds"]):
            note = (f"gate saturation needs the gates {', '.join(gates)} in the recording: record it again"
                    if gates else f"a {info['cell']} has no sigmoid gates to draw the saturation of")
            return curves, go.Figure(), note, {"display": "none"}
        sat = data.gate_saturation(view["run"], view["rec"])
        note = f"over the first {min(info['n_chars'], SATURATION_CHARS):,} characters of {view['rec']}"
        return curves, gates_figure(sat), note, {}

    app.clientside_callback(ClientsideFunction("charnn", "renderLoss"), Output("loss-text-status", "children"),
                            Input("win", "data"), Input("tabs", "value"))
