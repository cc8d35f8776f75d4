"""A button that starts work in a server thread (`jobs.Jobs`), a poll every 250 ms while it runs,
and its result rendered into the page when it is done: the intervention and history panels.

    html.Div([button("ivn", "Run"), *feedback("ivn")])      # button, status, error, poll, job store
    register(app, jobs, "ivn", states=[State("view", "data")],
             prepare=lambda view: lambda job: work(view, job),  # checks inputs: ValueError -> shown
             outputs=[Output("ivn-summary", "children")], render=lambda result: [summary(result)])

`prepare` runs in the request, so a bad input is answered at once; the work it returns runs in
the thread and may call `job.report(fraction, message)`. While a job runs its button is disabled.
"""

from __future__ import annotations

import time

from dash import Input, Output, State, dcc, html, no_update

from ..paths import PathError

POLL_MS = 250


def button(prefix: str, label: str) -> html.Button:
    return html.Button(label, id=f"{prefix}-go", className="btn primary")


def feedback(prefix: str) -> list:
    return [html.Span(id=f"{prefix}-status", className="status"), html.Div(id=f"{prefix}-error", className="error"),
            dcc.Interval(id=f"{prefix}-poll", interval=POLL_MS, disabled=True), dcc.Store(id=f"{prefix}-job")]


def register(app, jobs, prefix: str, states: list[State], prepare, outputs: list[Output], render) -> None:
    """Callbacks of one job panel: `prepare(*states)` -> work(job); `render(result)` -> a value per output."""
    controls = [Output(f"{prefix}-poll", "disabled"), Output(f"{prefix}-status", "children"),
                Output(f"{prefix}-error", "children"), Output(f"{prefix}-go", "disabled")]

    @app.callback(Output(f"{prefix}-job", "data"), *controls, Input(f"{prefix}-go", "n_clicks"), *states,
                  prevent_initial_call=True)
    def start(_clicks, *values):
        try:
            work = prepare(*values)
        except PathError:
            raise  # refused by the app's error handler, like every other callback
        except ValueError as err:
            return no_update, True, "", str(err), False
        return jobs.start(work), False, "starting", "", True

    @app.callback(*[Output(o.component_id, o.component_property, allow_duplicate=True) for o in controls], *outputs,
                  Input(f"{prefix}-poll", "n_intervals"), State(f"{prefix}-job", "data"), prevent_initial_call=True)
    def poll(_n, job_id):
        job, unchanged = jobs.get(job_id), [no_update] * len(outputs)
        if job is None:
            return True, "", "", False, *unchanged
        if not job.done:
            return False, f"{job.message} … {time.perf_counter() - job.started:.0f} s", "", True, *unchanged
        if job.error:
            return True, "", job.error, False, *unchanged
        return True, f"done in {job.seconds:.1f} s", "", False, *render(job.result)
