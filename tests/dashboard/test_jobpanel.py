"""The one job poller (views/jobpanel.py) on a minimal app, called over HTTP as the page calls it:
a bad input answered at once, progress while the job runs, its result rendered, Cancel, and a
second start that replaces the panel's running job.
Run: .venv/bin/pytest tests/dashboard/test_jobpanel.py -q
"""

from __future__ import annotations

import time

from dash import Dash, Input, Output, State, dcc, html

from dashboards.jobs import Jobs
from dashboards.views.jobpanel import JobPanel


def panel_app():
    app, jobs = Dash(__name__), Jobs()
    panel = JobPanel("t", "Go", cancel=True, progress=True)
    app.layout = html.Div([dcc.Input(id="t-in"), *panel.controls(), *panel.feedback(), html.Div(id="t-out")])

    def prepare(value):
        if value == "bad":
            raise ValueError("bad value: type another")

        def work(job):
            job.report(0.5, "half way")
            if value == "wait":
                job.cancel.wait(30)
            return value
        return work

    panel.register(app, jobs, prepare=prepare, states=[State("t-in", "value")], triggers=[Input("t-in", "n_submit")],
                   outputs=[Output("t-out", "children")], render=lambda result: [f"got {result}"])
    return app, jobs


def poll_until(post, app, job_id, done):
    deadline = time.time() + 20
    while True:
        _, out = post(app, "t-out.children", {"t-poll.n_intervals": 1, "t-job.data": job_id})
        if done(out) or time.time() > deadline:
            return out
        time.sleep(0.05)


def test_a_job_panel_starts_polls_renders_and_cancels(post_callback):
    app, jobs = panel_app()
    _, out = post_callback(app, "t-job.data", {"t-go.n_clicks": 1, "t-in.value": "bad"})
    assert out["t-error"]["children"] == "bad value: type another" and "t-job" not in out and out["t-go"] == {"disabled": False}

    _, out = post_callback(app, "t-job.data", {"t-go.n_clicks": 1, "t-in.value": "wait"})
    first = out["t-job"]["data"]
    assert out["t-go"]["disabled"] and not out["t-cancel"]["disabled"] and not out["t-poll"]["disabled"]
    out = poll_until(post_callback, app, first, lambda o: "half way" in o["t-status"]["children"])
    assert out["t-status"]["children"].startswith("half way · 50% · ") and out["t-progress"]["value"] == "0.500"
    assert "t-out" not in out  # nothing rendered while it runs

    _, out = post_callback(app, "t-job.data", {"t-in.n_submit": 1, "t-in.value": "x", "t-job.data": first})
    second = out["t-job"]["data"]
    assert jobs.get(first).cancelled and second != first  # Enter while it ran: the new job replaces it
    out = poll_until(post_callback, app, second, lambda o: "t-out" in o)
    assert out["t-out"]["children"] == "got x" and out["t-status"]["children"].startswith("done in")
    assert out["t-go"]["disabled"] is False and out["t-poll"]["disabled"] is True

    _, out = post_callback(app, "t-job.data", {"t-go.n_clicks": 2, "t-in.value": "wait"})
    third = out["t-job"]["data"]
    post_callback(app, "t-cancel.n_clicks", {"t-cancel.n_clicks": 1, "t-job.data": third})
    assert jobs.get(third).cancelled
