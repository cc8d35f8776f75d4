"""History: neurons across training, from the probe recordings a run made while it trained
(`charnn train ... --record-every N --probe-text FILE` -> RUN/recordings/step-XXXXXXX/).

For a concept or a regex, the best unit at each probe step and its separation (max(AUROC,
1 - AUROC)) and |r| against the chance level ("the quote cell appears at step 1,200"); for the current unit, its best match by
activation correlation at each step; and, against another run with a recording of the same
name (another seed), the best match of every unit. All three are `JobPanel` jobs through
charnn.history, the same API as `charnn history` and `charnn match`. Clicking a row of a table
opens its unit (in its probe recording, for the two tables over training).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, State, ctx, dcc, html
from dash.exceptions import PreventUpdate

from charnn.history import concept_history, match_units, unit_history
from charnn.scan import separation
from charnn.units import Unit

from ..state import opening, served, unit_label, view_unit
from ..urlstate import MAX_LEN
from . import grid
from .jobpanel import JobPanel

RED, BLUE = "#b2182b", "#2166ac"
MAX_MATCH_ROWS = 500  # rows of the run-against-run match table sent to the browser
SEPARATION = "max(AUROC, 1 − AUROC) of the best unit: 0.5 is chance, 1 separates perfectly"
CONCEPT_COLUMNS = [grid.column("step", fmt=",d"), grid.column("unit", unit=True),
                   grid.column("separation", SEPARATION, ".3f", width=96),
                   grid.column("inside", "whether the unit is high or low inside the matches"),
                   grid.column("r", "correlation with the target", "+.3f"),
                   grid.column("chance_separation", "99th percentile of the separation against a shifted target",
                               ".3f", width=140),
                   grid.column("chance_r", "99th percentile of |r| against a shifted target", ".3f", width=84)]
UNIT_COLUMNS = [grid.column("step", fmt=",d"),
                grid.column("match", "the unit of that step that correlates best", unit=True),
                grid.column("corr", "correlation of their activations on the probe text", "+.3f")]
MATCH_COLUMNS = [grid.column("unit", unit=True), grid.column("match", "the other run's unit that correlates best", unit=True),
                 grid.column("corr", "correlation of their activations on the same text", "+.3f")]
PANELS = {name: JobPanel(f"hist-{name}", label) for name, label in
          (("concept", "Show"), ("unit", "Track the current unit"), ("match", "Match"))}


def no_probes_note(run: str) -> str:
    return (f"{run} has no probe recordings. Make them while training: `charnn train CORPUS --out runs/{run} "
            "--record-every N --probe-text FILE` records FILE every N steps into recordings/step-XXXXXXX/.")


def layout(concepts: dict) -> html.Div:
    options = [{"label": f"{name}: {c.description}", "value": name} for name, c in concepts.items()]
    return html.Div(className="history-view", children=[
        html.Div(id="hist-note", className="status"),
        html.Div(id="hist-probes", children=[
            html.H5("A concept over training: the best unit at each probe step"),
            html.Div(className="row", children=[
                dcc.RadioItems(id="hist-mode", options=["concept", "regex"], value="concept", inline=True),
                dcc.Dropdown(id="hist-concept", options=options, value=next(iter(concepts), None), clearable=False,
                             style={"flex": "1"}),
                dcc.Input(id="hist-regex", type="text", placeholder='or a regex, e.g. "[^"]*"', maxLength=MAX_LEN,
                          style={"width": "14rem", "fontFamily": "monospace"}),
                *PANELS["concept"].controls(),
            ]),
            *PANELS["concept"].feedback(),
            over_training("concept", "pick a concept or type a regex, then Show", CONCEPT_COLUMNS),
            html.H5("The current unit over training: its best match at each probe step"),
            html.Div(className="row", children=[*PANELS["unit"].controls(),
                                                html.Span(id="hist-unit-hint", className="hint")]),
            *PANELS["unit"].feedback(),
            over_training("unit", "press Track to follow the current unit", UNIT_COLUMNS),
        ]),
        html.H5("Compare with another run: the best match of each unit, by activation correlation on the same text"),
        html.Div(className="row", children=[
            dcc.Dropdown(id="hist-other", style={"width": "20rem"}),
            *PANELS["match"].controls(),
            html.Span(id="hist-match-best", className="status"),
        ]),
        *PANELS["match"].feedback(),
        grid.grid("hist-match-table", MATCH_COLUMNS, height=340),
        html.Div("click a row to open that unit of this run", className="hint"),
    ])


def over_training(name: str, empty: str, columns: list[dict]) -> html.Div:
    """A figure over the probe steps (hist-NAME-graph) beside its table (hist-NAME-table)."""
    return html.Div(className="grid2", children=[
        dcc.Graph(id=f"hist-{name}-graph", figure=placeholder(empty), config={"displaylogo": False}),
        html.Div([grid.grid(f"hist-{name}-table", columns, height=340),
                  html.Div("click a row to open that unit in its probe recording", className="hint")]),
    ])


def placeholder(text: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=text, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(xaxis_visible=False, yaxis_visible=False, height=340, margin=dict(l=40, r=10, t=40, b=40),
                      plot_bgcolor="rgba(0,0,0,0)")
    return fig


# ------------------------------------------------------------------ pure: series, figures, rows
def concept_series(df: pd.DataFrame) -> dict:
    """The best unit's separation max(AUROC, 1 - AUROC) (like the chance level) and |r| per step,
    with labels."""
    auroc = df["auroc"].to_numpy(np.float64)
    return {"step": df["step"].tolist(), "separation": separation(auroc).tolist(),
            "abs_r": df["r"].abs().tolist(),
            "chance_separation": pd.to_numeric(df["chance_auroc_p99"], errors="coerce").tolist(),
            "chance_r": pd.to_numeric(df["chance_r_p99"], errors="coerce").tolist(),
            "label": [f"unit {Unit(int(l), k, int(u))}" for l, k, u in zip(df["layer"], df["kind"], df["unit"])]}


def concept_figure(df: pd.DataFrame, what: str) -> go.Figure:
    s = concept_series(df)
    fig = go.Figure()
    for key, name, color in (("separation", "separation", RED), ("abs_r", "|r|", BLUE)):
        fig.add_scatter(x=s["step"], y=s[key], name=name, mode="lines+markers", line_color=color, customdata=s["label"],
                        hovertemplate="step %{x}: %{customdata}<br>" + name + " %{y:.3f}<extra></extra>")
    for key, name, color in (("chance_separation", "chance separation (p99)", RED), ("chance_r", "chance |r| (p99)", BLUE)):
        fig.add_scatter(x=s["step"], y=s[key], name=name, mode="lines", line=dict(color=color, dash="dot", width=1),
                        hovertemplate="step %{x}: " + name + " %{y:.3f}<extra></extra>")
    fig.update_layout(title=f"Best unit at each probe step<br><sup>for {what}</sup>", height=340, yaxis_range=[0, 1.02],
                      xaxis_title="training step", margin=dict(l=40, r=10, t=40, b=40),
                      legend=dict(orientation="h", y=-0.25, x=0))
    return fig


def unit_figure(df: pd.DataFrame, label: str) -> go.Figure:
    matches = [f"unit {u}, r {c:+.3f}" for u, c in zip(unit_names(df, "match_"), df["corr"])]
    fig = go.Figure(go.Scatter(x=df["step"], y=df["corr"].abs(), mode="lines+markers", line_color=RED, customdata=matches,
                               hovertemplate="step %{x}: %{customdata}<extra></extra>", name="|corr| of the best match"))
    fig.update_layout(title=f"Best match at each probe step<br><sup>of {label}</sup>", height=340, yaxis_range=[0, 1.02],
                      xaxis_title="training step", yaxis_title="|correlation|", margin=dict(l=40, r=10, t=40, b=40))
    return fig


def unit_names(df: pd.DataFrame, prefix: str = "") -> list[str]:
    """'1:c:37' for each row's (layer, kind, unit), or its (match_layer, match_kind, match_unit)."""
    return [str(Unit(int(l), k, int(u))) for l, k, u in zip(df[f"{prefix}layer"], df[f"{prefix}kind"], df[f"{prefix}unit"])]


def concept_rows(df: pd.DataFrame, names: dict[int, str]) -> list[dict]:
    """Grid rows of concept_history's frame, id 'step-0001200/1:c:37'."""
    s = concept_series(df)
    table = pd.DataFrame({"step": df["step"], "unit": unit_names(df), "separation": s["separation"],
                          "inside": np.where(df["auroc"].isna(), None, np.where(df["auroc"] >= 0.5, "high", "low")),
                          "r": df["r"], "chance_separation": s["chance_separation"], "chance_r": s["chance_r"]})
    return grid.rows(table, list(table.columns), row_id=lambda r: f"{names[int(r['step'])]}/{r['unit']}")


def unit_rows(df: pd.DataFrame, names: dict[int, str]) -> list[dict]:
    """Grid rows of unit_history's frame, id 'step-0001200/1:c:37' (the match at that step)."""
    table = pd.DataFrame({"step": df["step"], "match": unit_names(df, "match_"), "corr": df["corr"]})
    return grid.rows(table, list(table.columns), row_id=lambda r: f"{names[int(r['step'])]}/{r['match']}")


def match_rows(df: pd.DataFrame, unit: Unit) -> tuple[list[dict], dict | None]:
    """Grid rows of match_units' frame with `unit`'s row first, id '1:c:37', and that row (None
    if it is not in df)."""
    table = pd.DataFrame({"unit": unit_names(df), "match": unit_names(df, "match_"), "corr": df["corr"]})
    mine = table["unit"] == str(unit)
    ordered = pd.concat([table[mine], table[~mine]]).head(MAX_MATCH_ROWS)
    out = grid.rows(ordered, list(table.columns), row_id=lambda r: r["unit"])
    return out, (out[0] if mine.any() else None)


def open_request(rec: str | None, unit: Unit) -> dict:
    """The partial view that opens `unit`, at the start of probe recording `rec` if one is given."""
    return opening(unit, focus=None, **({"rec": rec, "pos": 0} if rec else {}))


# ------------------------------------------------------------------ jobs
def reference(view: dict, steps: dict[int, str]) -> tuple[int, str]:
    """(step, note) of the probe recording the current unit is taken from: the view's, else the last."""
    named = {name: step for step, name in steps.items()}
    if view["rec"] in named:
        return named[view["rec"]], f"at step {named[view['rec']]:,} (this recording)"
    last = max(steps)
    return last, f"at step {last:,} (the last probe recording)"


def prepare_concept(data, view, mode, concept, regex):
    view, steps = probe_steps(data, view)
    query = {"concept": concept, "regex": None} if mode == "concept" else {"concept": None, "regex": regex}
    if not (query["concept"] or query["regex"]):
        raise ValueError("pick a concept or type a regex")
    if query["regex"] and len(query["regex"]) > MAX_LEN:
        raise ValueError(f"the regex has {len(query['regex']):,} characters: the search takes up to {MAX_LEN:,}")
    path, what = data.run_path(view["run"]), query["concept"] or repr(query["regex"])

    def work(job):
        job.report(0.0, f"searching {len(steps)} probe recordings")
        key = ("concept", str(path), tuple(steps.values()), query["concept"], query["regex"])
        df = data.remembered(key, lambda: concept_history(path, concept=query["concept"], regex=query["regex"]))
        return {"df": df, "names": steps, "what": what}
    return work


def render_concept(result: dict) -> list:
    return [concept_figure(result["df"], result["what"]), concept_rows(result["df"], result["names"])]


def prepare_unit(data, view):
    view, steps = probe_steps(data, view)
    unit = view_unit(view)
    step, note = reference(view, steps)
    path, label = data.run_path(view["run"]), f"{unit_label(view)} {note}"

    def work(job):
        job.report(0.0, f"correlating with {len(steps)} probe recordings")
        key = ("unit", str(path), tuple(steps.values()), unit, step)
        return {"df": data.remembered(key, lambda: unit_history(path, unit, reference_step=step)),
                "names": steps, "label": label}
    return work


def render_unit(result: dict) -> list:
    return [unit_figure(result["df"], result["label"]), unit_rows(result["df"], result["names"])]


def prepare_match(data, view, other):
    if not view or not view.get("rec"):
        raise ValueError("no recording to match: record one with `charnn record RUN TEXT`")
    view = served(view, data)  # a name that leaves RUNS_DIR is refused here, in the request
    run, rec, kind = view["run"], view["rec"], view["kind"]
    if not other:
        raise ValueError(f"pick a run to compare with: one that also has a recording named {rec!r}")
    if rec not in data.recordings(other):
        raise ValueError(f"{other} has no recording named {rec!r}")

    def work(job):
        job.report(0.0, f"correlating every {kind} unit of {run} with {other}'s")
        a, b = data.recording(run, rec), data.recording(other, rec)
        df = data.remembered(("match", str(a.path), str(b.path), kind), lambda: match_units(a, b, kinds=[kind]))
        return {"df": df, "unit": view_unit(view), "label": unit_label(view), "other": other}
    return work


def render_match(result: dict) -> list:
    table_rows, mine = match_rows(result["df"], result["unit"])
    best = "" if mine is None else f"{result['label']} ↔ {result['other']}'s unit {mine['match']}, r {mine['corr']:+.3f}"
    return [table_rows, best]


def probe_steps(data, view) -> tuple[dict, dict[int, str]]:
    """(the view resolved on the server, {step: probe recording name}); a ValueError saying how
    to make probe recordings when the run has none."""
    if not view or not view.get("rec"):
        raise ValueError("no recording: record one with `charnn record RUN TEXT`")
    view = served(view, data)
    steps = data.probe_steps(view["run"])
    if not steps:
        raise ValueError(no_probes_note(view["run"]))
    return view, steps


# ------------------------------------------------------------------ callbacks
def register(app, data, jobs) -> None:
    @app.callback(Output("hist-note", "children"), Output("hist-probes", "style"), Output("hist-unit-hint", "children"),
                  Output("hist-other", "options"), Output("hist-other", "value"), Output("hist-other", "placeholder"),
                  Input("view", "data"), State("hist-other", "value"))
    def overview(view, other):
        view = served(view, data, tab="history")
        run, rec = view["run"], view["rec"]
        others = [r for r in data.runs() if r != run and rec in data.recordings(r)]
        chosen = other if other in others else (others[0] if others else None)
        placeholder = f"a run with a recording named {rec}" if others else f"no other run has a recording named {rec}"
        steps = data.probe_steps(run)
        if not steps:
            return no_probes_note(run), {"display": "none"}, "", others, chosen, placeholder
        note = f"{run}: {len(steps)} probe recordings, steps {min(steps):,}–{max(steps):,}"
        return note, {}, f"{unit_label(view)} {reference(view, steps)[1]}", others, chosen, placeholder

    @app.callback(Output("hist-regex", "disabled"), Output("hist-concept", "disabled"), Input("hist-mode", "value"))
    def mode(value):
        return value != "regex", value == "regex"

    PANELS["concept"].register(
        app, jobs, states=[State("view", "data"), State("hist-mode", "value"), State("hist-concept", "value"),
                           State("hist-regex", "value")],
        prepare=lambda *values: prepare_concept(data, *values),
        outputs=[Output("hist-concept-graph", "figure"), Output("hist-concept-table", "rowData")], render=render_concept)
    PANELS["unit"].register(
        app, jobs, states=[State("view", "data")], prepare=lambda view: prepare_unit(data, view),
        outputs=[Output("hist-unit-graph", "figure"), Output("hist-unit-table", "rowData")], render=render_unit)
    PANELS["match"].register(
        app, jobs, states=[State("view", "data"), State("hist-other", "value")],
        prepare=lambda view, other: prepare_match(data, view, other),
        outputs=[Output("hist-match-table", "rowData"), Output("hist-match-best", "children")], render=render_match)

    @app.callback(Output("open", "data", allow_duplicate=True), Input("hist-concept-table", "cellClicked"),
                  Input("hist-unit-table", "cellClicked"), Input("hist-match-table", "cellClicked"),
                  prevent_initial_call=True)
    def open_row(concept_cell, unit_cell, match_cell):
        cell = {"hist-concept-table": concept_cell, "hist-unit-table": unit_cell}.get(ctx.triggered_id, match_cell)
        clicked = grid.clicked_unit(cell)
        if clicked is None:
            raise PreventUpdate
        return open_request(*clicked)
