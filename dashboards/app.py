"""The Dash app factory.

    from dashboards import create_app
    app = create_app("runs")                 # serve with dashboards.server (or: charnn dashboard runs)
    app.server.extensions["charnn"].data     # the server-side DataStore; .jobs, .close()

One page with a navigation bar (run, recording, layer, kind, unit, position) and seven tabs:
neuron (colored text + search), unit details, explain (which units can I name? and units against
latents), many neurons (heatmap), model, intervene (ablate or clamp the unit), history (neurons
across training and runs). The view lives in a small `dcc.Store` mirrored in the URL; every heavy
array stays in this process (`DataStore`). Two more stores connect the views: `explain-version`
changes when the Explain tab has written a recording's explanations, `explain-use` when an
explanation is clicked (the search panel then searches it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from dash import Dash, Input, Output, dcc, html

from charnn.search import CONCEPTS

from .data import DataStore
from .jobs import Jobs
from .paths import PathError
from .state import TABS
from .views import attribution, details, explain, heatmap, history, intervene, model, navbar, neuron, search, versus

ASSETS = Path(__file__).parent / "assets"
TAB_STYLE = {"padding": "6px 12px"}
TAB_LABELS = {"neuron": "Neuron", "details": "Unit details", "explain": "Explain", "heatmap": "Many neurons",
              "model": "Model", "intervene": "Intervene", "history": "History"}


def layout(concepts: dict) -> html.Div:
    return html.Div(className="app", children=[
        dcc.Location(id="url", refresh=False),
        dcc.Store(id="view"), dcc.Store(id="open"), dcc.Store(id="span-sel"),
        dcc.Store(id="explain-version"), dcc.Store(id="explain-use"),
        html.Div(className="title", children=[html.B("charnn"), html.Span(" neurons of character-level RNNs")]),
        navbar.layout(),
        html.Div(id="nav-error", className="error"),
        dcc.Tabs(id="tabs", value=TABS[0], className="tabs",
                 children=[dcc.Tab(label=TAB_LABELS[t], value=t, style=TAB_STYLE, selected_style=TAB_STYLE) for t in TABS]),
        html.Div(id="tab-neuron", children=neuron.layout(concepts)),
        html.Div(id="tab-details", children=details.layout(), style={"display": "none"}),
        html.Div(id="tab-explain", children=[explain.layout(), versus.layout()], style={"display": "none"}),
        html.Div(id="tab-heatmap", children=heatmap.layout(), style={"display": "none"}),
        html.Div(id="tab-model", children=model.layout(), style={"display": "none"}),
        html.Div(id="tab-intervene", children=intervene.layout(), style={"display": "none"}),
        html.Div(id="tab-history", children=history.layout(concepts), style={"display": "none"}),
    ])


@dataclass
class Services:
    """What the app holds beside Dash: the data store and the background jobs."""
    data: DataStore
    jobs: Jobs

    def close(self) -> None:
        """Cancel the jobs and stop the search preparation (the server is shutting down)."""
        self.jobs.close()
        self.data.close()


def refuse_paths(err: Exception):
    """Callback errors: a run or recording name that escapes RUNS_DIR (only a hand-made request
    can send one) is refused with no update and one log line; anything else is raised as usual."""
    if isinstance(err, PathError):
        logging.getLogger(__name__).warning("refused: %s", err)
        return None
    raise err


def create_app(runs_root: str | Path) -> Dash:
    """A Dash app that browses the runs and recordings under runs_root."""
    data, jobs = DataStore(runs_root), Jobs()
    app = Dash(__name__, title="charnn", assets_folder=str(ASSETS), update_title=None, on_error=refuse_paths)
    app.layout = layout(CONCEPTS)
    navbar.register(app, data)
    neuron.register(app, data)
    search.register(app, data, jobs)
    details.register(app, data)
    attribution.register(app, data)
    explain.register(app, data, jobs)
    versus.register(app, data, jobs)
    heatmap.register(app, data)
    model.register(app, data)
    intervene.register(app, data, jobs)
    history.register(app, data, jobs)

    @app.callback(*[Output(f"tab-{t}", "style") for t in TABS], Input("tabs", "value"))
    def show_tab(tab):
        return [{} if t == tab else {"display": "none"} for t in TABS]

    app.server.extensions["charnn"] = Services(data, jobs)
    return app
