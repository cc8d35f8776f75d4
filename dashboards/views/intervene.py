"""Intervene: ablate (to zero or to its mean) or clamp the current unit over the text window, and
see the per-character loss change painted over the text (red: the loss went up, blue: down), the
bits-per-character change against a few random units, and a sample generated with the unit held
next to the sample without it (same seed). The work is a `JobPanel` job.
"""

from __future__ import annotations

from dash import ClientsideFunction, Input, Output, State, dcc, html

from charnn.causal import Mode

from ..interventions import MODES, PRIME_CHARS, Request, run_intervention, summary_lines
from ..state import served, unit_label, window_bounds
from ..urlstate import MAX_LEN
from .jobpanel import JobPanel
from .textpanel import legend, text_panel

MODE_LABELS = {"zero": "zero", "mean": "mean", "clamp": "clamp to"}
MAX_PRIME = 1000  # characters of a sample's prime
MAX_SEED = 2**32 - 1
PANEL = JobPanel("ivn", "Run")


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
                                                               maxLength=MAX_LEN,
                                                               style={"width": "12rem", "fontFamily": "monospace"})),
            labelled("measure on regex (optional)", dcc.Input(id="ivn-where", type="text", placeholder='e.g. "',
                                                              maxLength=MAX_LEN,
                                                              style={"width": "10rem", "fontFamily": "monospace"})),
        ]),
        html.Div(className="row", children=[
            labelled("sample prime", dcc.Input(id="ivn-prime", type="text", style={"width": "22rem"}, maxLength=MAX_PRIME,
                                               placeholder=f"default: the window's first {PRIME_CHARS} characters")),
            labelled("seed", dcc.Input(id="ivn-seed", type="number", value=0, min=0, max=MAX_SEED, step=1,
                                       style={"width": "6rem"})),
            *PANEL.controls(),
            *PANEL.feedback(),
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
    view = served(view, data)  # the window is bounded and the names checked here, in the request
    if not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"the seed is a whole number from 0 to {MAX_SEED:,}")
    Mode.of(mode, value)  # a bad clamp value is answered now, not from the thread
    for name, text, most in (("regex", inside, MAX_LEN), ("regex", where, MAX_LEN), ("prime", prime, MAX_PRIME)):
        if text and len(text) > most:
            raise ValueError(f"a {name} of {len(text):,} characters: the panel takes up to {most:,}")
    req = Request(mode, value, inside or None, where or None, prime or None, seed)
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
        view = served(view, data, tab="intervene")
        start, stop = window_bounds(view, data.info(view["run"], view["rec"])["n_chars"])
        return f"Ablate or clamp {unit_label(view)} over the window, chars {start:,}–{stop:,}"

    @app.callback(Output("ivn-value", "disabled"), Input("ivn-mode", "value"))
    def value_box(mode):
        return mode != "clamp"

    @app.callback(Output("open", "data", allow_duplicate=True), Input("neuron-intervene", "n_clicks"),
                  prevent_initial_call=True)
    def open_panel(_clicks):
        return {"tab": "intervene"}

    PANEL.register(
        app, jobs,
        states=[State("view", "data"), State("ivn-mode", "value"), State("ivn-value", "value"), State("ivn-inside", "value"),
                State("ivn-where", "value"), State("ivn-prime", "value"), State("ivn-seed", "value")],
        prepare=lambda *values: prepare(data, *values),
        outputs=[Output("ivn-result", "data"), Output("ivn-summary", "children"), Output("ivn-plain-title", "children"),
                 Output("ivn-plain", "children"), Output("ivn-held-title", "children"), Output("ivn-held", "children")],
        render=render)

    app.clientside_callback(ClientsideFunction("charnn", "renderDelta"), Output("ivn-text-status", "children"),
                            Input("ivn-result", "data"))
