"""Units against latents, a section of the Explain tab: for each built-in concept, the best of the
model's c and h units against the best latent of the recording's sparse autoencoders (kinds
`sae-NAME`), their scores, the difference and which wins, as `charnn atlas` prints them.

The comparison is an atlas over the states and the latents (`charnn.search.atlas`, one pass over
the recording), run as a `JobPanel` job with progress and Cancel and remembered by the server, so
pressing the button again for the same recording answers at once. Clicking a unit or a latent
opens it in the neuron view. A recording without latents shows how to add them instead.
"""

from __future__ import annotations

from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

import charnn.sae
from charnn.search import atlas
from charnn.units import Unit, is_latent

from .. import versus
from ..state import opening, served
from . import grid
from .jobpanel import JobPanel

PANEL = JobPanel("versus", "Compare units and latents", cancel=True, progress=True)
FORMATS = {"unit_score": ".3f", "latent_score": ".3f", "difference": "+.3f"}
COLUMNS = [
    grid.column("concept", width=110),
    grid.column("metric", "separation max(AUROC, 1 − AUROC) for a 0/1 concept, |r| for a continuous one", width=80),
    {**grid.column("unit", "the best of the model's c and h units (click to open it)", unit=True, width=80),
     "cellClass": "open-unit"},
    grid.column("unit_score", "the best unit's separation or |r|", FORMATS["unit_score"]),
    {**grid.column("latent", "the best latent of every autoencoder whose latents the recording stores (click to open it)",
                   unit=True, width=230), "cellClass": "open-unit", "flex": 2},
    grid.column("latent_score", "the best latent's separation or |r|", FORMATS["latent_score"]),
    grid.column("difference", "latent score − unit score: positive where a latent tracks the concept better than any unit",
                FORMATS["difference"]),
    grid.column("wins", "the side with the higher score (tie: equal to 3 places)"),
    {**grid.column("unit_heldout", "the best unit picked before, scored on the characters no autoencoder "
                   "trained on", unit=True, width=80), "cellClass": "open-unit"},
    grid.column("unit_heldout_score", "its score on those characters", ".3f"),
    {**grid.column("latent_heldout", "the best latent picked before, scored on the characters no autoencoder "
                   "trained on", unit=True, width=200), "cellClass": "open-unit"},
    grid.column("latent_heldout_score", "its score on those characters", ".3f"),
    grid.column("difference_heldout", "latent − unit, held out", "+.3f"),
]
OPENS = ("unit", "latent", "unit_heldout", "latent_heldout")  # the columns whose cells open their unit


def layout() -> html.Div:
    return html.Div(className="versus-view", children=[
        html.H4("Units against latents"),
        html.Div(id="versus-note", className="status"),
        html.Div(id="versus-controls", className="row", children=PANEL.controls()),
        *PANEL.feedback(),
        html.Div(id="versus-summary", className="status"),
        html.Div(grid.grid("versus-table", COLUMNS, height=None, empty="press Compare units and latents"),
                 className="versus-table"),
        html.Div("click a unit or a latent to open it in the neuron view; click a header to sort", className="hint"),
        dcc.Store(id="versus-result"),
    ])


def rec_argument(data, run: str, rec: str) -> str:
    """The recording as `charnn sae` takes it: RUNS_DIR/RUN/recordings/REC."""
    return f"{data.root}/{run}/recordings/{rec}"


def prepare(data, view):
    """The job's work for this view; a ValueError (shown in the panel) when there is nothing to compare."""
    if not view or not view.get("rec"):
        raise ValueError("no recording: record one with `charnn record RUN TEXT`")
    view = served(view, data)
    run, name = view["run"], view["rec"]
    rec = data.recording(run, name)
    kinds = versus.compared_kinds(data.info(run, name)["kinds"])
    if not kinds:
        raise ValueError(versus.hint(rec_argument(data, run, name), charnn.sae.names(rec)))

    def work(job):
        def report(done: int, total: int) -> None:
            job.report(done / max(1, total), f"scoring kinds {', '.join(kinds)} against every concept")

        def compare() -> dict:
            per_concept, _ = atlas(rec, kinds=kinds, progress=report, cancel=job.cancel.is_set)
            return {"rec": f"{run}/{name}", "rows": per_concept.attrs["units_vs_latents"],
                    "skipped": per_concept.attrs["skipped"], "n_chars": rec.n_chars}
        job.report(0.0, "the concepts' targets")
        return data.remembered(("versus", rec.path, tuple(kinds)), compare)
    return work


def done(result: dict, seconds: float) -> str:
    return f"{len(result['rows'])} concepts compared in {seconds:.1f} s"


def register(app, data, jobs) -> None:
    PANEL.register(app, jobs, states=[State("view", "data")], prepare=lambda view: prepare(data, view),
                   outputs=[Output("versus-result", "data")], render=lambda result: [result], done=done)

    @app.callback(Output("versus-note", "children"), Output("versus-controls", "style"),
                  Output("versus-summary", "children"), Output("versus-table", "rowData"),
                  Input("view", "data"), Input("versus-result", "data"))
    def show(view, result):
        """The hint (no latents) or what is compared, and the table of the last comparison of this recording."""
        view = served(view, data, tab="explain")
        run, name = view["run"], view["rec"]
        kinds = versus.compared_kinds(data.info(run, name)["kinds"])
        if not kinds:
            hint = versus.hint(rec_argument(data, run, name), charnn.sae.names(data.recording(run, name)))
            return hint, {"display": "none"}, "", []
        latents = [k for k in kinds if is_latent(k)]
        units = [k for k in kinds if not is_latent(k)]
        note = (f"{name} stores the latents of {len(latents)} autoencoder{'s' * (len(latents) > 1)} "
                f"({', '.join(latents)}): for each built-in concept, the best unit of kinds {', '.join(units)} "
                f"against the best latent")
        if not isinstance(result, dict) or result.get("rec") != f"{run}/{name}":
            return note, {}, "", []
        table = versus.table(result["rows"])
        rows = grid.rows(table, versus.COLUMNS + versus.HELDOUT, row_id=lambda r: r["concept"])
        return note, {}, versus.summary(result["rows"], result.get("skipped") or {}, result["n_chars"]), rows

    @app.callback(Output("open", "data", allow_duplicate=True), Input("versus-table", "cellClicked"),
                  prevent_initial_call=True)
    def open_cell(cell):
        """A unit or latent clicked: open it (the navigation bar checks that it exists)."""
        if not isinstance(cell, dict) or cell.get("colId") not in OPENS:
            raise PreventUpdate
        try:
            return opening(Unit.parse(str(cell.get("value"))))
        except ValueError:
            raise PreventUpdate from None
