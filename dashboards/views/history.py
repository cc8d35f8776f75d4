"""History: neurons across training, from the probe recordings a run made while it trained
(`charnn train ... --record-every N --probe-text FILE` -> RUN/recordings/step-XXXXXXX/).

For a concept or a regex, the best unit at each probe step and its AUROC and |r| against the
chance level ("the quote cell appears at step 1,200"); for the current unit, its best match by
activation correlation at each step; and, against another run with a recording of the same
name (another seed), the best match of every unit. All three run in server threads (`jobpanel`)
through charnn.history, the same API as `charnn history` and `charnn match`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, State, ctx, dash_table, dcc, html
from dash.exceptions import PreventUpdate

from charnn.history import concept_history, match_units, unit_history

from ..state import unit_label
from . import jobpanel

RED, BLUE = "#b2182b", "#2166ac"
MAX_MATCH_ROWS = 500  # rows of the run-against-run match table sent to the browser
CONCEPT_COLUMNS = ["step", "layer", "kind", "unit", "auroc", "r", "chance_auroc_p99", "chance_r_p99"]
UNIT_COLUMNS = ["step", "match_layer", "match_kind", "match_unit", "corr"]
MATCH_COLUMNS = ["layer", "kind", "unit", "match_layer", "match_kind", "match_unit", "corr"]
TABLE_STYLE = {"fontFamily": "monospace", "fontSize": "12px", "padding": "2px 6px"}


def no_probes_note(run: str) -> str:
    return (f"{run} has no probe recordings. Make them while training: `charnn train CORPUS --out runs/{run} "
            "--record-every N --probe-text FILE` records FILE every N steps into recordings/step-XXXXXXX/.")


def table(table_id: str, columns: list[str], page_size: int = 10) -> dash_table.DataTable:
    return dash_table.DataTable(id=table_id, columns=[{"name": c, "id": c} for c in columns], data=[], page_size=page_size,
                                cell_selectable=True, sort_action="native", style_cell=TABLE_STYLE,
                                style_header={"fontWeight": "bold"}, style_table={"overflowX": "auto"})


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
                dcc.Input(id="hist-regex", type="text", placeholder='or a regex, e.g. "[^"]*"',
                          style={"width": "14rem", "fontFamily": "monospace"}),
                jobpanel.button("hist-concept", "Show"),
            ]),
            *jobpanel.feedback("hist-concept"),
            html.Div(className="grid2", children=[
                dcc.Graph(id="hist-concept-graph", figure=placeholder("pick a concept or type a regex, then Show"),
                          config={"displaylogo": False}),
                html.Div([table("hist-concept-table", CONCEPT_COLUMNS),
                          html.Div("click a row to open that unit in its probe recording", className="hint")]),
            ]),
            html.H5("The current unit over training: its best match at each probe step"),
            html.Div(className="row", children=[jobpanel.button("hist-unit", "Track the current unit"),
                                                html.Span(id="hist-unit-hint", className="hint")]),
            *jobpanel.feedback("hist-unit"),
            html.Div(className="grid2", children=[
                dcc.Graph(id="hist-unit-graph", figure=placeholder("press Track to follow the current unit"),
                          config={"displaylogo": False}),
                table("hist-unit-table", UNIT_COLUMNS),
            ]),
        ]),
        html.H5("Compare with another run: the best match of each unit, by activation correlation on the same text"),
        html.Div(className="row", children=[
            dcc.Dropdown(id="hist-other", placeholder="a run with a recording of the same name", style={"width": "16rem"}),
            jobpanel.button("hist-match", "Match"),
            html.Span(id="hist-match-best", className="status"),
        ]),
        *jobpanel.feedback("hist-match"),
        table("hist-match-table", MATCH_COLUMNS),
    ])


def placeholder(text: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=text, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(xaxis_visible=False, yaxis_visible=False, height=340, margin=dict(l=40, r=10, t=40, b=40))
    return fig


# ------------------------------------------------------------------ pure: series, figures, rows
def concept_series(df: pd.DataFrame) -> dict:
    """The best unit's AUROC (either sign, like the chance level) and |r| per step, with labels."""
    auroc = df["auroc"].to_numpy(np.float64)
    return {"step": df["step"].tolist(), "auroc": np.maximum(auroc, 1 - auroc).tolist(),
            "abs_r": df["r"].abs().tolist(),
            "chance_auroc": pd.to_numeric(df["chance_auroc_p99"], errors="coerce").tolist(),
            "chance_r": pd.to_numeric(df["chance_r_p99"], errors="coerce").tolist(),
            "label": [f"layer {l} {k} unit {u}" for l, k, u in zip(df["layer"], df["kind"], df["unit"])]}


def concept_figure(df: pd.DataFrame, what: str) -> go.Figure:
    s = concept_series(df)
    fig = go.Figure()
    for key, name, color in (("auroc", "AUROC (either sign)", RED), ("abs_r", "|r|", BLUE)):
        fig.add_scatter(x=s["step"], y=s[key], name=name, mode="lines+markers", line_color=color, customdata=s["label"],
                        hovertemplate="step %{x}: %{customdata}<br>" + name + " %{y:.3f}<extra></extra>")
    for key, name, color in (("chance_auroc", "chance AUROC (p99)", RED), ("chance_r", "chance |r| (p99)", BLUE)):
        fig.add_scatter(x=s["step"], y=s[key], name=name, mode="lines", line=dict(color=color, dash="dot", width=1),
                        hovertemplate="step %{x}: " + name + " %{y:.3f}<extra></extra>")
    fig.update_layout(title=f"Best unit at each probe step<br><sup>for {what}</sup>", height=340, yaxis_range=[0, 1.02],
                      xaxis_title="training step", margin=dict(l=40, r=10, t=40, b=40),
                      legend=dict(orientation="h", y=-0.25, x=0))
    return fig


def unit_figure(df: pd.DataFrame, label: str) -> go.Figure:
    matches = [f"layer {l} {k} unit {u}, r {c:+.3f}" for l, k, u, c in
               zip(df["match_layer"], df["match_kind"], df["match_unit"], df["corr"])]
    fig = go.Figure(go.Scatter(x=df["step"], y=df["corr"].abs(), mode="lines+markers", line_color=RED, customdata=matches,
                               hovertemplate="step %{x}: %{customdata}<extra></extra>", name="|corr| of the best match"))
    fig.update_layout(title=f"Best match at each probe step<br><sup>of {label}</sup>", height=340, yaxis_range=[0, 1.02],
                      xaxis_title="training step", yaxis_title="|correlation|", margin=dict(l=40, r=10, t=40, b=40))
    return fig


def rows(df: pd.DataFrame, columns: list[str], row_id=None) -> list[dict]:
    """JSON-safe table rows; floats rounded to 3 places, NaN as empty; `row_id(row)` adds an id."""
    out = []
    for rec in df.to_dict("records"):
        row = {c: rec.get(c) for c in columns}
        for c, v in row.items():
            if isinstance(v, (float, np.floating)):
                row[c] = None if not np.isfinite(v) else round(float(v), 3)
            elif isinstance(v, np.integer):
                row[c] = int(v)
        if row_id is not None:
            row["id"] = row_id(rec)
        out.append(row)
    return out


def match_rows(df: pd.DataFrame, unit: tuple[int, str, int]) -> tuple[list[dict], dict | None]:
    """Rows of the match table with `unit`'s row first, and that row (None if it is not in df)."""
    mine = (df["layer"] == unit[0]) & (df["kind"] == unit[1]) & (df["unit"] == unit[2])
    ordered = pd.concat([df[mine], df[~mine]]).head(MAX_MATCH_ROWS)
    table_rows = rows(ordered, MATCH_COLUMNS)
    return table_rows, (table_rows[0] if mine.any() else None)


def open_request(row_id: str) -> dict:
    """'step-0001200:1:c:37' -> the partial view that opens that unit in that probe recording."""
    rec, layer, kind, unit = row_id.rsplit(":", 3)
    return {"rec": rec, "layer": int(layer), "kind": kind, "unit": int(unit), "pos": 0, "focus": None, "tab": "neuron"}


# ------------------------------------------------------------------ jobs
def reference(view: dict, steps: dict[int, str]) -> tuple[int, str]:
    """(step, note) of the probe recording the current unit is taken from: the view's, else the last."""
    named = {name: step for step, name in steps.items()}
    if view["rec"] in named:
        return named[view["rec"]], f"at step {named[view['rec']]:,} (this recording)"
    last = max(steps)
    return last, f"at step {last:,} (the last probe recording)"


def prepare_concept(data, view, mode, concept, regex):
    steps = probe_steps(data, view)
    query = {"concept": concept, "regex": None} if mode == "concept" else {"concept": None, "regex": regex}
    if not (query["concept"] or query["regex"]):
        raise ValueError("pick a concept or type a regex")
    path, what = data.run_path(view["run"]), query["concept"] or repr(query["regex"])

    def work(job):
        job.report(0.0, f"searching {len(steps)} probe recordings")
        key = ("concept", str(path), tuple(steps.values()), query["concept"], query["regex"])
        df = data.remembered(key, lambda: concept_history(path, concept=query["concept"], regex=query["regex"]))
        return {"df": df, "names": steps, "what": what}
    return work


def render_concept(result: dict) -> list:
    df, names = result["df"], result["names"]
    row_id = lambda r: f"{names[int(r['step'])]}:{int(r['layer'])}:{r['kind']}:{int(r['unit'])}"  # noqa: E731
    return [concept_figure(df, result["what"]), rows(df, CONCEPT_COLUMNS, row_id)]


def prepare_unit(data, view):
    steps = probe_steps(data, view)
    unit = (view["layer"], view["kind"], view["unit"])
    step, note = reference(view, steps)
    path, label = data.run_path(view["run"]), f"{unit_label(view)} {note}"

    def work(job):
        job.report(0.0, f"correlating with {len(steps)} probe recordings")
        key = ("unit", str(path), tuple(steps.values()), unit, step)
        return {"df": data.remembered(key, lambda: unit_history(path, unit, reference_step=step)),
                "names": steps, "label": label}
    return work


def render_unit(result: dict) -> list:
    df, names = result["df"], result["names"]
    row_id = lambda r: f"{names[int(r['step'])]}:{int(r['match_layer'])}:{r['match_kind']}:{int(r['match_unit'])}"  # noqa: E731
    return [unit_figure(df, result["label"]), rows(df, UNIT_COLUMNS, row_id)]


def prepare_match(data, view, other):
    if not view or not view.get("rec"):
        raise ValueError("no recording to match: record one with `charnn record RUN TEXT`")
    if not other:
        raise ValueError(f"pick a run to compare with: one that also has a recording named {view['rec']!r}")
    run, rec, kind = view["run"], view["rec"], view["kind"]
    data.info(run, rec)  # a name that leaves RUNS_DIR is refused here, in the request
    if rec not in data.recordings(other):
        raise ValueError(f"{other} has no recording named {rec!r}")
    unit = (view["layer"], kind, view["unit"])

    def work(job):
        job.report(0.0, f"correlating every {kind} unit of {run} with {other}'s")
        a, b = data.recording(run, rec), data.recording(other, rec)
        df = data.remembered(("match", str(a.path), str(b.path), kind), lambda: match_units(a, b, kinds=[kind]))
        return {"df": df, "unit": unit, "label": unit_label(view), "other": other}
    return work


def render_match(result: dict) -> list:
    table_rows, mine = match_rows(result["df"], result["unit"])
    best = "" if mine is None else (f"{result['label']} ↔ {result['other']}'s layer {mine['match_layer']} "
                                    f"{mine['match_kind']} unit {mine['match_unit']}, r {mine['corr']:+.3f}")
    return [table_rows, best]


def probe_steps(data, view) -> dict[int, str]:
    if not view or not view.get("rec"):
        raise ValueError("no recording: record one with `charnn record RUN TEXT`")
    steps = data.probe_steps(view["run"])
    if not steps:
        raise ValueError(no_probes_note(view["run"]))
    return steps


# ------------------------------------------------------------------ callbacks
def register(app, data, jobs) -> None:
    @app.callback(Output("hist-note", "children"), Output("hist-probes", "style"), Output("hist-unit-hint", "children"),
                  Output("hist-other", "options"), Output("hist-other", "value"), Input("view", "data"),
                  State("hist-other", "value"))
    def overview(view, other):
        if not view or view.get("tab") != "history" or not view.get("run"):
            raise PreventUpdate
        run, rec = view["run"], view.get("rec")
        others = [r for r in data.runs() if r != run and rec and rec in data.recordings(r)]
        chosen = other if other in others else (others[0] if others else None)
        steps = data.probe_steps(run)
        if not steps:
            return no_probes_note(run), {"display": "none"}, "", others, chosen
        note = f"{run}: {len(steps)} probe recordings, steps {min(steps):,}–{max(steps):,}"
        hint = f"{unit_label(view)} {reference(view, steps)[1]}" if rec else ""
        return note, {}, hint, others, chosen

    @app.callback(Output("hist-regex", "disabled"), Output("hist-concept", "disabled"), Input("hist-mode", "value"))
    def mode(value):
        return value != "regex", value == "regex"

    jobpanel.register(app, jobs, "hist-concept",
                      states=[State("view", "data"), State("hist-mode", "value"), State("hist-concept", "value"),
                              State("hist-regex", "value")],
                      prepare=lambda *values: prepare_concept(data, *values),
                      outputs=[Output("hist-concept-graph", "figure"), Output("hist-concept-table", "data")],
                      render=render_concept)
    jobpanel.register(app, jobs, "hist-unit", states=[State("view", "data")],
                      prepare=lambda view: prepare_unit(data, view),
                      outputs=[Output("hist-unit-graph", "figure"), Output("hist-unit-table", "data")],
                      render=render_unit)
    jobpanel.register(app, jobs, "hist-match", states=[State("view", "data"), State("hist-other", "value")],
                      prepare=lambda view, other: prepare_match(data, view, other),
                      outputs=[Output("hist-match-table", "data"), Output("hist-match-best", "children")],
                      render=render_match)

    @app.callback(Output("open", "data", allow_duplicate=True), Input("hist-concept-table", "active_cell"),
                  Input("hist-unit-table", "active_cell"), prevent_initial_call=True)
    def open_row(concept_cell, unit_cell):
        cell = concept_cell if ctx.triggered_id == "hist-concept-table" else unit_cell
        if not cell or not cell.get("row_id"):
            raise PreventUpdate
        return open_request(cell["row_id"])
