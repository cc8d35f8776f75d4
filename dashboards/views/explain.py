"""Explain: "which units can I name?". Each unit's best explanation (`charnn explain`: a short
program over features of the text, fitted on the first half of the recording and scored on the
second) in a sortable table beside its two-part explanation (a lookup on the last few
characters, readable terms for what it leaves, the class and R² of each) and its memory span
(the median half-life of `charnn memory`), the share of units
whose explanation reaches held-out r 0.5, 0.7 and 0.8 per layer and kind, and filters by layer,
kind, score and text. A recording with no explanations yet gets them computed here, as a `JobPanel` job with progress and Cancel
(`charnn.explain`, which writes explanations.parquet beside the recording, as the CLI does).

Clicking a row opens its unit; clicking an explanation (here, in the neuron view or in unit
details: `use_button`) opens its unit and searches every unit against that explanation. Those
clicks write the `explain-use` store, which the search panel reads; finishing a job writes
`explain-version`, which every view that shows explanations listens to.
"""

from __future__ import annotations

import time

from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

import charnn
from charnn.explanations import THRESHOLDS, explanations_path
from charnn.units import Unit

from .. import explained
from ..state import opening, served, view_unit
from ..urlstate import MAX_LEN
from . import grid
from .jobpanel import JobPanel

PANEL = JobPanel("explain", "Explain every unit", cancel=True, progress=True)
DEFAULT_KINDS = ("c", "h")  # what `charnn explain --kinds c,h` explains: the states, not the gates
MIN_SCORES = (0.3, 0.5, 0.7, 0.8)
TIPS = {
    "score": "held-out r, oriented by the fitting part (a sign flip on the held-out text counts against it)",
    "r": "Pearson r between the unit and its explanation on the held-out half (negative: low where it holds)",
    "chance": "|r| of the same explanation shifted far along the held-out text",
    "separation": "a 0/1 explanation's held-out max(AUROC, 1 − AUROC): 0.5 is chance, 1 separates perfectly",
    "terms": "features the explanation uses",
    "explanation": "click to search every unit against this explanation",
    "class": "local: the last few characters say it; memory: readable terms say what it holds beyond them; "
             "mixed: both; integrator: a cell summing over hundreds of characters; constant: dead",
    "r2_local": "held-out R² of a lookup on the last K characters",
    "r2_memory": "held-out R² that the readable terms add to the lookup",
    "lookup": "the local part: the lookup, with its highest and lowest entries",
    "readable": "the memory part: readable terms fitted on what the lookup leaves",
    "half_life": "median memory span in characters: steps back until the product of the forget (update) gates "
                 "falls below 1/2 (charnn memory); empty for a kind no gate decays, such as an LSTM's h",
}
FORMATS = {"score": "+.3f", "r": "+.3f", "chance": ".3f", "separation": ".3f", "terms": "d", "r2_local": ".3f",
           "r2_memory": "+.3f", "half_life": ",d"}
COLUMNS = [grid.column("unit", unit=True, width=80),
           *(grid.column(c, TIPS[c], FORMATS[c]) for c in ("score", "r", "chance", "separation", "terms")),
           {**grid.column("explanation", TIPS["explanation"], width=360), "flex": 5, "cellClass": "use-explanation",
            "tooltipField": "explanation"},
           grid.column("class", TIPS["class"], width=80),
           *(grid.column(c, TIPS[c], FORMATS[c]) for c in ("r2_local", "r2_memory", "half_life")),
           {**grid.column("readable", TIPS["readable"], width=160), "flex": 3, "tooltipField": "readable"},
           {**grid.column("lookup", TIPS["lookup"], width=160), "flex": 3, "tooltipField": "lookup"}]
SHARE_COLUMNS = [grid.column("layer", fmt="d"), grid.column("kind"), grid.column("units", fmt=",d")] + [
    {**grid.column(explained.share_column(t), f"share of units whose best explanation reaches held-out r {t}", ".1%"),
     "headerName": f"r ≥ {t}"} for t in THRESHOLDS]


def layout() -> html.Div:
    def labelled(label, component):
        return html.Label([html.Span(label, className="lbl"), component], className="field")

    return html.Div(className="explain-view", children=[
        html.H4("Which units can I name?"),
        html.Div(id="explain-note", className="status"),
        html.Div(className="row", children=[
            labelled("kinds to explain", dcc.Checklist(id="explain-kinds", options=[], value=[], inline=True)),
            *PANEL.controls(),
        ]),
        *PANEL.feedback(),
        html.H5("Share of units whose best explanation reaches held-out r"),
        html.Div(grid.grid("explain-shares", SHARE_COLUMNS, height=None, empty="no explanations yet"),
                 className="narrow"),
        html.Div(className="row", children=[
            labelled("layers", dcc.Dropdown(id="explain-layers", multi=True, placeholder="all",
                                            style={"width": "10rem"})),
            labelled("kinds", dcc.Dropdown(id="explain-kind-filter", multi=True, placeholder="all",
                                           style={"width": "12rem"})),
            labelled("held-out score at least", dcc.Dropdown(id="explain-min", options=list(MIN_SCORES),
                                                             placeholder="any", style={"width": "9rem"})),
            labelled("explanation contains", dcc.Input(id="explain-contains", type="text", debounce=True,
                                                       maxLength=MAX_LEN, placeholder='e.g. `"`',
                                                       style={"width": "14rem", "fontFamily": "monospace"})),
        ]),
        html.Div(id="explain-shown", className="status"),
        grid.grid("explain-table", COLUMNS, height=520, empty="no explanations yet: press Explain every unit"),
        html.Div("click a unit to open it; click an explanation to search every unit against it; "
                 "click a header to sort", className="hint"),
        dcc.Store(id="explain-options-key"),
    ])


def use_button(text: str, where: str, rank: int) -> html.Button:
    """An explanation as a button: a click opens the view's unit and searches every unit against it."""
    return html.Button(text, id={"type": "use-explanation", "where": where, "rank": rank},
                       className="btn small explanation", title="search every unit against this explanation")


# ------------------------------------------------------------------ the job
def default_kinds(kinds: list[str]) -> list[str]:
    chosen = [k for k in kinds if k in DEFAULT_KINDS]
    return chosen or list(kinds)


def prepare(data, view, kinds):
    """The job's work for these inputs; a ValueError (shown in the panel) for a bad one."""
    if not view or not view.get("rec"):
        raise ValueError("no recording to explain: record one with `charnn record RUN TEXT`")
    view = served(view, data)
    run, name = view["run"], view["rec"]
    have = data.info(run, name)["kinds"]
    kinds = [k for k in have if k in (kinds or [])]
    if not kinds:
        raise ValueError(f"pick the kinds to explain (this recording has {', '.join(have)})")
    rec = data.recording(run, name)

    def work(job):
        job.report(0.0, "the text's features, then two passes over the recording")
        path = explanations_path(rec)
        before = _stat(path)

        def report(done: int, total: int) -> None:
            job.report(done / max(1, total), f"explaining every unit of kinds {', '.join(kinds)}")
        df = charnn.explain(rec, kinds=kinds, progress=report, cancel=job.cancel.is_set)
        saved = _stat(path) not in (None, before)  # explain warns and goes on when it cannot write
        if not saved:
            data.explained(run, name, df)
        return {"units": int((df["rank"] == 1).sum()), "saved": saved, "rec": f"{run}/{name}"}
    return work


def _stat(path) -> tuple | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


def done(result: dict, seconds: float) -> str:
    where = ("saved beside the recording" if result["saved"] else
             "could not be saved beside the recording (read-only?): kept in this server's memory")
    return f"{result['units']:,} units explained in {seconds:.0f} s; {where}"


# ------------------------------------------------------------------ callbacks
def register(app, data, jobs) -> None:
    PANEL.register(app, jobs, states=[State("view", "data"), State("explain-kinds", "value")],
                   prepare=lambda view, kinds: prepare(data, view, kinds),
                   outputs=[Output("explain-version", "data")],
                   render=lambda result: [{"rec": result["rec"], "at": time.time()}], done=done)

    @app.callback(Output("explain-kinds", "options"), Output("explain-kinds", "value"),
                  Output("explain-layers", "options"), Output("explain-kind-filter", "options"),
                  Output("explain-layers", "value"), Output("explain-kind-filter", "value"),
                  Output("explain-options-key", "data"),
                  Input("view", "data"), Input("explain-version", "data"), State("explain-options-key", "data"))
    def options(view, version, shown):
        """The kinds to explain and the filters' choices (none chosen: every layer and kind), set when
        the recording or its explanations change."""
        view = served(view, data, tab="explain")
        key = f"{view['run']}/{view['rec']}|{version}"
        if key == shown:
            raise PreventUpdate
        info = data.info(view["run"], view["rec"])
        try:
            df = data.explanations(view["run"], view["rec"])
        except ValueError:
            df = None  # the table's callback shows the error
        kinds = default_kinds(info["kinds"]) if df is None else [k for k in info["kinds"] if k in set(df["kind"])]
        layers = sorted(int(x) for x in set(df["layer"])) if df is not None else []
        kind_filter = [k for k in info["kinds"] if df is not None and k in set(df["kind"])]
        return info["kinds"], kinds, layers, kind_filter, None, None, key

    @app.callback(Output("explain-note", "children"), Output("explain-shares", "rowData"),
                  Output("explain-table", "rowData"), Output("explain-shown", "children"),
                  Input("view", "data"), Input("explain-version", "data"), Input("explain-layers", "value"),
                  Input("explain-kind-filter", "value"), Input("explain-min", "value"),
                  Input("explain-contains", "value"))
    def table(view, _version, layers, kinds, min_score, contains):
        view = served(view, data, tab="explain")
        try:
            df = data.explanations(view["run"], view["rec"])
        except ValueError as err:
            return str(err), [], [], ""
        if df is None:
            return (f"{view['rec']} has no explanations yet. Explain every unit computes them here (as "
                    f"`charnn explain` does): each unit gets a few short programs over features of the text, fitted "
                    f"on the first half of the recording and scored on the second."), [], [], ""
        filters = explained.Filters(layers=layers, kinds=kinds,
                                    min_score=float(min_score) if isinstance(min_score, (int, float)) else None,
                                    contains=(contains or "")[:MAX_LEN])
        best, passing, total = explained.best(df, filters)
        rows = grid.rows(best, list(best.columns), row_id=lambda r: r["unit"])
        shares = explained.share_table(df)
        share_rows = grid.rows(shares, list(shares.columns), row_id=lambda r: f"{r['layer']}:{r['kind']}")
        shown = f"{passing:,} of {total:,} units" + (f", the best {len(best):,} shown" if passing > len(best) else "")
        return explained.summary(df, view["rec"]), share_rows, rows, shown

    @app.callback(Output("open", "data", allow_duplicate=True), Output("explain-use", "data", allow_duplicate=True),
                  Input("explain-table", "cellClicked"), State("view", "data"), prevent_initial_call=True)
    def click_row(cell, view):
        """An explanation clicked: search it; any other cell, or a unit with no explanation: open the unit."""
        clicked = grid.clicked_unit(cell)
        if clicked is None or not view:
            raise PreventUpdate
        request = {"unit": str(clicked[1]), "rank": 1, "at": time.time()}
        if cell.get("colId") == "explanation" and explanation_text(data, served(view, data), request):
            return no_update, request
        return opening(clicked[1]), no_update

    @app.callback(Output("explain-use", "data", allow_duplicate=True),
                  Input({"type": "use-explanation", "where": ALL, "rank": ALL}, "n_clicks"), State("view", "data"),
                  prevent_initial_call=True)
    def click_button(_clicks, view):
        if not ctx.triggered_id or not ctx.triggered or not ctx.triggered[0].get("value") or not view:
            raise PreventUpdate
        rank = ctx.triggered_id.get("rank")
        if not isinstance(rank, int):
            raise PreventUpdate
        return {"unit": str(view_unit(served(view, data))), "rank": rank, "at": time.time()}


def explanation_text(data, view: dict, request) -> tuple[str, Unit] | None:
    """(the explanation's text, its unit) that an `explain-use` request names, read from the
    recording's explanations (never from the browser); None if there is none."""
    if not isinstance(request, dict) or not isinstance(request.get("rank"), int) \
            or not isinstance(request.get("unit"), str):
        return None
    try:
        unit = Unit.parse(request["unit"])
        rows = explained.explained(explained.ranked(data.explanations(view["run"], view["rec"]), unit))
    except ValueError:
        return None
    row = rows[rows["rank"] == request["rank"]]
    return (str(row["explanation"].iloc[0]), unit) if len(row) else None
