"""The one way the dashboard runs long work: a button starts it in a server thread (`jobs.Jobs`),
the page polls it every POLL_MS while it runs (status, progress, a Cancel button), and its
result is rendered into the page when it is done. The search, intervention and history panels
are all JobPanels.

    panel = JobPanel("ivn", "Run")                        # ids ivn-go, ivn-status, ivn-error, ...
    html.Div([*panel.controls(), *panel.feedback()])
    panel.register(app, jobs, states=[State("view", "data")],
                   prepare=lambda view: lambda job: work(view, job),    # ValueError -> shown in ivn-error
                   outputs=[Output("ivn-summary", "children")], render=lambda result: [summary(result)])

`prepare` runs in the request, so a bad input is answered at once; the work it returns runs in
the thread and may call `job.report(fraction, message)` and check `job.cancel`. With `started`
outputs, prepare returns (work, values for them) and those are set as the job starts. While a
job runs its button is disabled; a job started another way (Enter in a text box) cancels the
panel's running one, so one panel runs one job at a time.
"""

from __future__ import annotations

import time

from dash import Input, Output, State, dcc, html, no_update

from ..paths import PathError

POLL_MS = 200


class JobPanel:
    def __init__(self, prefix: str, label: str, cancel: bool = False, progress: bool = False):
        self.prefix, self.label, self.cancellable, self.progress = prefix, label, cancel, progress

    def id(self, part: str) -> str:
        return f"{self.prefix}-{part}"

    def controls(self) -> list:
        """The start button, then Cancel and a progress bar if the panel has them."""
        out = [html.Button(self.label, id=self.id("go"), className="btn primary")]
        if self.cancellable:
            out.append(html.Button("Cancel", id=self.id("cancel"), className="btn", disabled=True))
        if self.progress:
            out.append(html.Progress(id=self.id("progress"), max="1", value="0", className="progress"))
        return out

    def feedback(self) -> list:
        """The status line, the error line, the poll timer and the job's id."""
        return [html.Span(id=self.id("status"), className="status"), html.Div(id=self.id("error"), className="error"),
                dcc.Interval(id=self.id("poll"), interval=POLL_MS, disabled=True), dcc.Store(id=self.id("job"))]

    def _controls(self, duplicate: bool) -> list[Output]:
        parts = [("poll", "disabled"), ("status", "children"), ("error", "children"), ("go", "disabled")]
        parts += [("cancel", "disabled")] * self.cancellable + [("progress", "value")] * self.progress
        return [Output(self.id(part), prop, allow_duplicate=duplicate) for part, prop in parts]

    def _state(self, running: bool, status: str = "", error: str = "", progress: float = 0.0) -> list:
        """Values for _controls: the poll runs and the button is off while a job runs."""
        out = [not running, status, error, running]
        out += [not running] * self.cancellable + [f"{progress:.3f}"] * self.progress
        return out

    def register(self, app, jobs, *, prepare, render, outputs: list[Output], states: list[State] = (),
                 triggers: list[Input] = (), started: list[Output] = (), failed: list | None = None, done=None) -> None:
        """The panel's callbacks. prepare(*states) -> work(job) (or (work, values) with `started`);
        render(result) -> a value per output; failed: values per output when a job fails or is
        cancelled (default: left as they are); done(result, seconds) -> the status line at the end.
        `triggers` are further inputs that start a job (a text box's n_submit)."""
        triggers, started = list(triggers), list(started)
        kept = [no_update] * len(outputs)

        @app.callback(Output(self.id("job"), "data"), *self._controls(False), *started,
                      Input(self.id("go"), "n_clicks"), *triggers, State(self.id("job"), "data"), *states,
                      prevent_initial_call=True)
        def start(*args):
            jobs.cancel(args[1 + len(triggers)])  # the panel's previous job, if it still runs
            try:
                prepared = prepare(*args[2 + len(triggers):])
                work, values = prepared if started else (prepared, [])
                job_id = jobs.start(work)
            except PathError:
                raise  # refused by the app's error handler, like every other callback
            except ValueError as err:  # a bad input, or too many jobs running (jobs.Busy)
                return no_update, *self._state(False, error=str(err)), *[no_update] * len(started)
            return job_id, *self._state(True, status="starting"), *values

        @app.callback(*self._controls(True), *outputs, Input(self.id("poll"), "n_intervals"),
                      State(self.id("job"), "data"), prevent_initial_call=True)
        def poll(_n, job_id):
            job = jobs.get(job_id)
            if job is None:
                return *self._state(False), *kept
            if not job.done:
                return *self._state(True, running_text(job, self.progress), progress=job.progress), *kept
            if job.error or job.result is None:
                return *self._state(False, error=job.error or "cancelled"), *(kept if failed is None else failed)
            status = done(job.result, job.seconds) if done else f"done in {job.seconds:.1f} s"
            return *self._state(False, status, progress=1.0), *render(job.result)

        if self.cancellable:
            @app.callback(Input(self.id("cancel"), "n_clicks"), State(self.id("job"), "data"), prevent_initial_call=True)
            def cancel(_clicks, job_id):
                jobs.cancel(job_id)


def running_text(job, progress: bool) -> str:
    """'scoring every unit · 45% · 3 s': what the job reports, and for how long it has run."""
    parts = [job.message] + ([f"{100 * job.progress:.0f}%"] if progress else [])
    return " · ".join(parts + [f"{time.perf_counter() - job.started:.0f} s"])
