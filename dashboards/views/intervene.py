"""Intervene: ablate (to zero or to its mean) or clamp the current unit over the text window, and
see the per-character loss change painted over the text (red: the loss went up, blue: down), the
bits-per-character change against a few random units, and a sample generated with the unit held
next to the sample without it (same seed). The work runs in a server thread (`jobpanel`).
"""

from __future__ import annotations

from dash import ClientsideFunction, Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from charnn.causal import Mode

from ..interventions import MODES, PRIME_CHARS, Request, run_intervention, summary_lines
from ..state import unit_label, window_bounds
from . import jobpanel
from .textpanel import legend, text_panel

MODE_LABELS = {"zero": "zero", "mean": "mean", "clamp": "clamp to"}


def layout() -> html.Div:
    def labelled(label, component):
        return html.Label([html.Span(label, className="lbl"), component], className="field")

    return html.Div(className="intervene-view", children=[
        html.H4(id="ivn-title"),
        html.Div(className="row", children=[
            labelled("mode", dcc.RadioItems(id="ivn-mode", options=[{"label": MODE_LABELS[m], "value": m} for m in MODES],
                                            value="zero", inline=True)),
            labelled("clamp value", dcc.Input(id="ivn-value", type="text", placeholder="e.g. 1.5", style={"width": "6rem"})),
            labelled("only inside regex (optional)", dcc.Input(id="ivn-inside", type="text", placeholder='e.g. "[^"]*"',
                                                               style={"width": "12rem", "fontFamily": "monospace"})),
            labelled("measure on regex (optional)", dcc.Input(id="ivn-where", type="text", placeholder='e.g. "',
                                                              style={"width": "10rem", "fontFamily": "monospace"})),
        ]),
        html.Div(className="row", children=[
            labelled("sample prime", dcc.Input(id="ivn-prime", type="text", style={"width": "22rem"},
                                               placeholder=f"default: the window's first {PRIME_CHARS} characters")),
            labelled("seed", dcc.Input(id="ivn-seed", type="number", value=0, min=0, step=1, style={"width": "5rem"})),
            jobpanel.button("ivn", "Run"),
            *jobpanel.feedback("ivn"),
        ]),
        html.Div(id="ivn-summary", className="status"),
        text_panel("ivn-text", legend("loss down", "loss up", "rdbu")),
        html.Div(className="grid2", children=[
            html.Div([html.H5("Sample without the intervention", id="ivn-plain-title"),
                      html.Pre(id="ivn-plain", className="sample")]),
            html.Div([html.H5("Sample with the unit held", id="ivn-held-title"), html.Pre(id="ivn-held", className="sample")]),
        ]),
        dcc.Store(id="ivn-result"),
    ])


def prepare(data, view, mode, value, inside, where, prime, seed):
    """The job's work for these inputs; a ValueError (shown in the panel) for a bad one."""
    if not view or not view.get("rec"):
        raise ValueError("no recording to intervene on: record one with `charnn record RUN TEXT`")
    data.info(view["run"], view["rec"])  # a name that leaves RUNS_DIR is refused here, in the request
    if seed is None or int(seed) < 0:
        raise ValueError("seed must be a whole number, 0 or more")
    Mode.of(mode, value)  # a bad clamp value is answered now, not from the thread
    req = Request(mode, value, inside or None, where or None, prime or None, int(seed))
    return lambda job: run_intervention(data, view, req, job)


def render(result: dict) -> list:
    lines = summary_lines(result["summary"], result["window_delta"])
    prime = html.Span(result["prime"], className="prime", title="the prime")
    return [result, [html.Div(line) for line in lines],
            f"Sample without the intervention (seed {result['seed']})", [prime, result["plain"]],
            f"Sample with {result['summary']['unit']} held at {result['value']:.4g} (same seed)", [prime, result["held"]]]


def register(app, data, jobs) -> None:
    @app.callback(Output("ivn-title", "children"), Input("view", "data"))
    def title(view):
        if not view or not view.get("rec"):
            raise PreventUpdate
        start, stop = window_bounds(view, data.info(view["run"], view["rec"])["n_chars"])
        return f"Ablate or clamp {unit_label(view)} over the window, chars {start:,}–{stop:,}"

    @app.callback(Output("ivn-value", "disabled"), Input("ivn-mode", "value"))
    def value_box(mode):
        return mode != "clamp"

    @app.callback(Output("open", "data", allow_duplicate=True), Input("neuron-intervene", "n_clicks"),
                  prevent_initial_call=True)
    def open_panel(_clicks):
        return {"tab": "intervene"}

    jobpanel.register(
        app, jobs, "ivn",
        states=[State("view", "data"), State("ivn-mode", "value"), State("ivn-value", "value"), State("ivn-inside", "value"),
                State("ivn-where", "value"), State("ivn-prime", "value"), State("ivn-seed", "value")],
        prepare=lambda *values: prepare(data, *values),
        outputs=[Output("ivn-result", "data"), Output("ivn-summary", "children"), Output("ivn-plain-title", "children"),
                 Output("ivn-plain", "children"), Output("ivn-held-title", "children"), Output("ivn-held", "children")],
        render=render)

    app.clientside_callback(ClientsideFunction("charnn", "renderDelta"), Output("ivn-text-status", "children"),
                            Input("ivn-result", "data"))
