"""Search panel: a regex or a built-in concept -> units ranked by how well they track it.

The search runs in a server thread (`jobs.Jobs`) that the page polls every 200 ms for progress;
Cancel stops it at its next check. A bad or catastrophic regex comes back as an error message
in the panel (the search module matches under a time limit). Clicking a row opens that unit in
the neuron view with the matches underlined.
"""

from __future__ import annotations

from concurrent.futures import Future, wait

import numpy as np
from dash import Input, Output, State, dash_table, dcc, html, no_update
from dash.exceptions import PreventUpdate

from charnn.search import SearchCancelled, search

from ..state import TARGETS

COLUMNS = ["layer", "kind", "unit", "r", "auroc", "d", "f1", "support"]
MAX_ROWS = 200  # rows sent to the browser
HEATMAP_UNITS = 16  # top results offered to the heatmap


def layout(concepts: dict) -> html.Div:
    concept_options = [{"label": f"{name}: {c.description}", "value": name} for name, c in concepts.items()]
    return html.Div(className="search-panel", children=[
        html.H4("Search units"),
        dcc.RadioItems(id="search-mode", options=[{"label": "regex", "value": "regex"},
                                                  {"label": "concept", "value": "concept"}],
                       value="regex", inline=True),
        html.Div(id="search-regex-box", className="row", children=[
            dcc.Input(id="search-regex", type="text", placeholder='regex, e.g. "[^"]*"', debounce=False,
                      style={"flex": "1", "fontFamily": "monospace"}),
            dcc.Dropdown(id="search-target", options=list(TARGETS) + ["group:1"], value="inside",
                         clearable=False, style={"width": "7rem"}),
        ]),
        html.Div(id="search-concept-box", className="row", style={"display": "none"}, children=[
            dcc.Dropdown(id="search-concept", options=concept_options, clearable=False,
                         value=next(iter(concepts), None), style={"flex": "1"}),
        ]),
        html.Div(className="row", children=[
            html.Button("Search", id="search-go", className="btn primary"),
            html.Button("Cancel", id="search-cancel", className="btn", disabled=True),
            html.Progress(id="search-progress", max="1", value="0", style={"flex": "1"}),
        ]),
        html.Div(id="search-status", className="status"),
        html.Div(id="search-error", className="error"),
        html.Div(id="search-baseline", className="status"),
        dash_table.DataTable(
            id="search-table", columns=[{"name": c, "id": c} for c in COLUMNS], data=[],
            page_size=15, sort_action="native", cell_selectable=True,
            style_table={"overflowX": "auto"}, style_cell={"fontFamily": "monospace", "fontSize": "12px", "padding": "2px 6px"},
            style_header={"fontWeight": "bold"},
        ),
        dcc.Interval(id="search-poll", interval=200, disabled=True),
        dcc.Store(id="search-job"), dcc.Store(id="search-units"), dcc.Store(id="search-filled", data=False),
    ])


def run_search(rec, query: dict, job, preparing: Future | None = None):
    """The engine's search, reporting progress to the job and stopping when it is cancelled. If
    the recording's summary is being built (`preparing` runs), waits for it; if that is only
    queued behind another recording, cancels it: the search then builds the summary itself."""
    if preparing is not None and not preparing.cancel():
        while not preparing.done():
            job.report(0.0, "preparing this recording for search (once)")
            if job.cancel.is_set():
                raise SearchCancelled("search cancelled while the recording was being prepared")
            wait([preparing], timeout=0.1)
    job.report(0.0, "matching" if query.get("regex") else "computing the concept")

    def report(done_chars: int, total_chars: int) -> None:
        job.report(done_chars / max(1, total_chars), "scoring every unit")

    # The recording itself (not a wrapper), so the engine scans its memory maps and cached summaries.
    return search(rec, regex=query.get("regex"), concept=query.get("concept"),
                  target=query.get("target") or "inside", progress=report, cancel=job.cancel.is_set)


def table_rows(df) -> list[dict]:
    rows = []
    for rec in df.head(MAX_ROWS).to_dict("records"):
        row = {c: rec.get(c) for c in COLUMNS}
        for c in ("r", "auroc", "d", "f1"):
            v = row[c]
            row[c] = None if v is None or not np.isfinite(v) else round(float(v), 3)
        row.update(layer=int(row["layer"]), unit=int(row["unit"]), support=int(row["support"] or 0),
                   id=f"{int(row['layer'])}:{row['kind']}:{int(row['unit'])}")
        rows.append(row)
    return rows


def baseline_text(df) -> str:
    """The chance level of the search (its statistics against a circularly shifted target)."""
    base = df.attrs.get("baseline") or {}
    parts = [f"{label} {base[key]:.3f}" for key, label in (("r_p99", "|r|"), ("auroc_p99", "AUROC (either sign)"))
             if isinstance(base.get(key), (int, float))]
    if not parts:
        return ""
    shift = f" shifted by {base['offset']:,} characters" if "offset" in base else ""
    over = f"{base['units']:,} sampled units" if "units" in base else "units"
    return f"chance level, 99th percentile over {over} against the target{shift}: " + ", ".join(parts)


def parse_row_id(row_id: str) -> dict:
    layer, kind, unit = row_id.split(":")
    return {"layer": int(layer), "kind": kind, "unit": int(unit)}


def register(app, data, jobs) -> None:
    @app.callback(Output("search-regex-box", "style"), Output("search-concept-box", "style"),
                  Input("search-mode", "value"))
    def show_mode(mode):
        hidden = {"display": "none"}
        return (hidden, {}) if mode == "concept" else ({}, hidden)

    @app.callback(
        output={"job": Output("search-job", "data"), "polling_off": Output("search-poll", "disabled"),
                "error": Output("search-error", "children"), "cancel_off": Output("search-cancel", "disabled"),
                "open": Output("open", "data", allow_duplicate=True),
                "status": Output("search-status", "children", allow_duplicate=True)},
        inputs={"clicks": Input("search-go", "n_clicks"), "submit": Input("search-regex", "n_submit"),
                "mode": State("search-mode", "value"), "regex": State("search-regex", "value"),
                "target": State("search-target", "value"), "concept": State("search-concept", "value"),
                "view": State("view", "data")},
        prevent_initial_call=True)
    def start(clicks, submit, mode, regex, target, concept, view):
        refused = {"job": no_update, "polling_off": True, "cancel_off": True, "open": no_update, "status": ""}
        if not view or not view.get("rec"):
            return {**refused, "error": "no recording to search: record one with `charnn record RUN TEXT`"}
        query = {"concept": concept, "regex": None} if mode == "concept" else {"regex": regex, "target": target, "concept": None}
        if not (query.get("regex") or query.get("concept")):
            return {**refused, "error": "type a regex or pick a concept"}
        rec = data.recording(view["run"], view["rec"])
        preparing = data.preparing(view["run"], view["rec"])
        job_id = jobs.start(lambda job: data.cached_search(view["run"], view["rec"], query,
                                                           lambda: run_search(rec, query, job, preparing)))
        return {"job": job_id, "polling_off": False, "error": "", "cancel_off": False, "open": query, "status": "starting"}

    @app.callback(Input("search-cancel", "n_clicks"), State("search-job", "data"), prevent_initial_call=True)
    def cancel(_clicks, job_id):
        jobs.cancel(job_id)

    @app.callback(
        output={"progress": Output("search-progress", "value"), "status": Output("search-status", "children"),
                "rows": Output("search-table", "data"), "baseline": Output("search-baseline", "children"),
                "error": Output("search-error", "children", allow_duplicate=True),
                "polling_off": Output("search-poll", "disabled", allow_duplicate=True),
                "cancel_off": Output("search-cancel", "disabled", allow_duplicate=True),
                "units": Output("search-units", "data")},
        inputs={"n": Input("search-poll", "n_intervals"), "job_id": State("search-job", "data")},
        prevent_initial_call=True)
    def poll(n, job_id):
        job = jobs.get(job_id)
        idle = {"progress": "0", "status": "", "rows": no_update, "baseline": no_update, "error": "",
                "polling_off": True, "cancel_off": True, "units": no_update}
        if job is None:
            return idle
        if not job.done:
            return {**idle, "progress": f"{job.progress:.3f}", "status": f"{job.message}  {100 * job.progress:.0f}%",
                    "polling_off": False, "cancel_off": False}
        if job.error or job.result is None:
            message = "search cancelled" if job.cancelled else (job.error or "search failed")
            return {**idle, "rows": [], "baseline": "", "error": message}
        df = job.result
        return {**idle, "progress": "1", "rows": table_rows(df), "baseline": baseline_text(df),
                "status": f"{len(df):,} units ranked in {job.seconds:.2f} s; click a row to open it",
                "units": [[int(r.layer), r.kind, int(r.unit)] for r in df.head(HEATMAP_UNITS).itertuples()]}

    @app.callback(Output("open", "data", allow_duplicate=True), Input("search-table", "active_cell"),
                  prevent_initial_call=True)
    def open_row(cell):
        if not cell or not cell.get("row_id"):
            raise PreventUpdate
        return {**parse_row_id(cell["row_id"]), "tab": "neuron"}

    @app.callback(Output("search-mode", "value"), Output("search-regex", "value"), Output("search-target", "value"),
                  Output("search-concept", "value"), Output("search-filled", "data"),
                  Input("view", "data"), State("search-filled", "data"))
    def fill_from_url(view, filled):
        """Once, on page load: a shared link's regex or concept goes into the search box."""
        if filled or not view:
            raise PreventUpdate
        if view.get("concept"):
            return "concept", no_update, no_update, view["concept"], True
        if view.get("regex"):
            return "regex", view["regex"], view.get("target") or "inside", no_update, True
        return no_update, no_update, no_update, no_update, True
