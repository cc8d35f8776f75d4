"""Search panel: a regex, a built-in concept or an explanation -> units ranked by how well they track it.

An explanation is the text `charnn explain` prints (``inside `"`...`"` AND NOT after newline``, a
weighted sum such as `0.8 * log distance since newline`), searched as `charnn search --explanation`
searches it: a 0/1 program is a binary target, a weighted sum a continuous one. Clicking an
explanation anywhere in the dashboard (the `explain-use` store) puts it here and runs the search.

The search is a `JobPanel` job: it runs in a server thread with progress and a Cancel button,
and a bad or catastrophic regex, or an explanation that does not parse, comes back as an error
message in the panel (the search module matches under a time limit). Starting a search puts its
query into the view, so the neuron view underlines its matches; clicking a row of the results
opens that unit. For a binary target the table shows the separation max(AUROC, 1 - AUROC) and
whether the unit is high or low inside its matches, as `charnn search` prints them.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, wait

import numpy as np
from dash import Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from charnn.scan import direction, separation
from charnn.search import SearchCancelled, search
from charnn.text import parse, query_fields
from charnn.units import Unit

from ..state import TARGETS, opening, served
from ..urlstate import MAX_LEN
from . import grid
from .explain import explanation_text
from .jobpanel import JobPanel

MAX_ROWS = 200  # rows sent to the browser
MODES = ("regex", "concept", "explanation")
HEATMAP_UNITS = 16  # top results offered to the heatmap
PANEL = JobPanel("search", "Search", cancel=True, progress=True)
TIPS = {
    "separation": "max(AUROC, 1 − AUROC): 0.5 is chance, 1 separates the matches from the rest perfectly",
    "inside": "whether the unit is high or low inside the matches",
    "r": "correlation with the target (point-biserial for a binary one)",
    "d": "Cohen's d: the difference of the means inside and outside, in standard deviations",
    "f1": "F1 of the unit's best threshold",
}
BINARY = ["unit", "separation", "inside", "r", "d", "f1"]
CONTINUOUS = ["unit", "r"]


FORMATS = {"separation": ".3f", "r": "+.3f", "d": "+.2f", "f1": ".3f"}


def columns(names: list[str]) -> list[dict]:
    return [grid.column(c, TIPS.get(c), FORMATS.get(c), unit=c == "unit", width=96 if c == "separation" else 56)
            for c in names]


def layout(concepts: dict) -> html.Div:
    concept_options = [{"label": f"{name}: {c.description}", "value": name} for name, c in concepts.items()]
    return html.Div(className="search-panel", children=[
        html.H4("Search units"),
        dcc.RadioItems(id="search-mode", options=list(MODES), value="regex", inline=True),
        html.Div(id="search-regex-box", className="row", children=[
            dcc.Input(id="search-regex", type="text", placeholder='regex, e.g. "[^"]*"', debounce=False,
                      maxLength=MAX_LEN, style={"flex": "1", "fontFamily": "monospace"}),
            dcc.Dropdown(id="search-target", options=list(TARGETS) + ["group:1"], value="inside",
                         clearable=False, style={"width": "7rem"}),
        ]),
        html.Div(id="search-concept-box", className="row", style={"display": "none"}, children=[
            dcc.Dropdown(id="search-concept", options=concept_options, clearable=False,
                         value=next(iter(concepts), None), style={"flex": "1"}),
        ]),
        html.Div(id="search-explanation-box", className="row", style={"display": "none"}, children=[
            dcc.Input(id="search-explanation", type="text", debounce=False, maxLength=MAX_LEN,
                      placeholder="an explanation, e.g. inside `\"`...`\"` AND NOT after newline",
                      style={"flex": "1", "fontFamily": "monospace"}),
        ]),
        html.Div(className="row", children=PANEL.controls()),
        *PANEL.feedback(),
        html.Div(id="search-baseline", className="status"),
        grid.grid("search-table", columns(BINARY), height=420),
        html.Div("click a row to open that unit; click a header to sort", className="hint"),
        dcc.Store(id="search-units"), dcc.Store(id="search-filled", data=False), dcc.Store(id="search-request"),
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
    job.report(0.0, "matching" if query.get("regex") else
               "evaluating the explanation" if query.get("explanation") else "computing the concept")

    def report(done_chars: int, total_chars: int) -> None:
        job.report(done_chars / max(1, total_chars), "scoring every unit")

    # The recording itself (not a wrapper), so the engine scans its memory maps and cached summaries.
    return search(rec, **query_fields(query), progress=report, cancel=job.cancel.is_set)


def table_rows(df) -> list[dict]:
    """The best MAX_ROWS units as grid rows, id `1:c:37`; binary targets get separation and inside."""
    top = df.head(MAX_ROWS)
    top = top.assign(unit=[str(Unit(int(r.layer), r.kind, int(r.unit))) for r in top.itertuples()])
    if df.attrs.get("binary", True):
        auroc = top["auroc"].to_numpy()
        top = top.assign(separation=separation(auroc),
                         inside=[direction(a).removesuffix(" inside") if np.isfinite(a) else None for a in auroc])
    return grid.rows(top, BINARY if df.attrs.get("binary", True) else CONTINUOUS, row_id=lambda r: r["unit"])


def baseline_text(df) -> str:
    """The chance level of the search (its statistics against a circularly shifted target)."""
    base = df.attrs.get("baseline") or {}
    parts = [f"{label} {base[key]:.3f}" for key, label in (("r_p99", "|r|"), ("auroc_p99", "separation"))
             if isinstance(base.get(key), (int, float)) and np.isfinite(base[key])]
    if not parts:
        return ""
    shift = f" shifted by {base['offset']:,} characters" if "offset" in base else ""
    over = f"{base['units']:,} sampled units" if "units" in base else "units"
    return f"chance level, 99th percentile over {over} against the target{shift}: " + ", ".join(parts)


def support(df) -> str:
    """'a target non-zero at 12,345 of 200,000 characters' (the same for every unit)."""
    n = int(df["support"].iloc[0]) if len(df) else 0
    return f"a target non-zero at {n:,} of {df.attrs.get('n_chars', 0):,} characters"


def search_query(mode: str, regex: str | None, target: str | None, concept: str | None,
                 explanation: str | None = None) -> dict:
    """The query the panel's inputs ask for (every key of the view's query, the unused ones None);
    a ValueError (shown in the panel) when they ask none, or for an explanation that does not parse."""
    if mode == "concept":
        if not concept:
            raise ValueError("pick a concept")
        return {"concept": concept, "regex": None, "explanation": None}
    if mode == "explanation":
        if not explanation or not explanation.strip():
            raise ValueError("type an explanation, or click one in unit details or on the Explain tab")
        if len(explanation) > MAX_LEN:
            raise ValueError(f"the explanation has {len(explanation):,} characters: the search takes up to {MAX_LEN:,}")
        parse(explanation)  # an ExplanationError (a ValueError) says where it stops making sense
        return {"explanation": explanation.strip(), "regex": None, "concept": None}
    if not regex:
        raise ValueError("type a regex, pick a concept or give an explanation")
    if len(regex) > MAX_LEN:
        raise ValueError(f"the regex has {len(regex):,} characters: the search takes up to {MAX_LEN:,}")
    return {"regex": regex, "target": target or "inside", "concept": None, "explanation": None}


def render(df) -> list:
    binary = df.attrs.get("binary", True)
    units = [[int(r.layer), r.kind, int(r.unit)] for r in df.head(HEATMAP_UNITS).itertuples()]
    return [table_rows(df), columns(BINARY if binary else CONTINUOUS), baseline_text(df), units]


def register(app, data, jobs) -> None:
    @app.callback(Output("search-regex-box", "style"), Output("search-concept-box", "style"),
                  Output("search-explanation-box", "style"), Input("search-mode", "value"))
    def show_mode(mode):
        shown = mode if mode in MODES else "regex"
        return [{} if m == shown else {"display": "none"} for m in MODES]

    def prepare(mode, regex, target, concept, explanation, view):
        if not view or not view.get("rec"):
            raise ValueError("no recording to search: record one with `charnn record RUN TEXT`")
        query = search_query(mode, regex, target, concept, explanation)
        v = served(view, data)
        run, name = v["run"], v["rec"]
        rec, preparing = data.recording(run, name), data.preparing(run, name)

        def work(job):
            return data.cached_search(run, name, query, lambda: run_search(rec, query, job, preparing))
        return work, [{**clicked_unit(), **query}]

    def clicked_unit() -> dict:
        """The view change that opens the unit whose explanation was clicked, when that click started
        the search: one write to the `open` store with the query (two writes in a row could each
        be merged into a stale view)."""
        if ctx.triggered_id != "search-request" or not isinstance(ctx.triggered[0].get("value"), dict):
            return {}
        try:
            return opening(Unit.parse(str(ctx.triggered[0]["value"].get("unit"))))
        except ValueError:
            return {}

    PANEL.register(
        app, jobs, prepare=prepare,
        triggers=[Input("search-regex", "n_submit"), Input("search-explanation", "n_submit"),
                  Input("search-request", "data")],
        states=[State("search-mode", "value"), State("search-regex", "value"), State("search-target", "value"),
                State("search-concept", "value"), State("search-explanation", "value"), State("view", "data")],
        started=[Output("open", "data", allow_duplicate=True)],
        outputs=[Output("search-table", "rowData"), Output("search-table", "columnDefs"),
                 Output("search-baseline", "children"), Output("search-units", "data")],
        failed=[[], no_update, "", no_update], render=render,
        done=lambda df, seconds: f"{len(df):,} units ranked in {seconds:.2f} s against {support(df)}")

    @app.callback(Output("open", "data", allow_duplicate=True), Input("search-table", "cellClicked"),
                  prevent_initial_call=True)
    def open_row(cell):
        clicked = grid.clicked_unit(cell)
        if clicked is None:
            raise PreventUpdate
        return opening(clicked[1])

    @app.callback(Output("search-mode", "value"), Output("search-regex", "value"), Output("search-target", "value"),
                  Output("search-concept", "value"), Output("search-explanation", "value"),
                  Output("search-filled", "data"), Input("view", "data"), State("search-filled", "data"))
    def fill_from_url(view, filled):
        """Once, on page load: a shared link's regex, concept or explanation goes into the search box."""
        if filled or not view:
            raise PreventUpdate
        if view.get("concept"):
            return "concept", no_update, no_update, view["concept"], no_update, True
        if view.get("explanation"):
            return "explanation", no_update, no_update, no_update, view["explanation"], True
        if view.get("regex"):
            return "regex", view["regex"], view.get("target") or "inside", no_update, no_update, True
        return no_update, no_update, no_update, no_update, no_update, True

    @app.callback(Output("search-mode", "value", allow_duplicate=True),
                  Output("search-explanation", "value", allow_duplicate=True), Output("search-request", "data"),
                  Input("explain-use", "data"), State("view", "data"), prevent_initial_call=True)
    def use_explanation(request, view):
        """A clicked explanation: into the box, and the search started (search-request is one of the
        panel's triggers, so the search reads the box once it is filled, and opens the unit)."""
        if not view or not view.get("rec"):
            raise PreventUpdate
        found = explanation_text(data, served(view, data), request)
        if found is None:
            raise PreventUpdate
        text, unit = found
        return "explanation", text, {"unit": str(unit), "at": time.time()}
