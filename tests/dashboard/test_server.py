"""`charnn dashboard` as a user starts it: waitress serves the app (not Flask's development server),
an address other machines can reach gets a warning, a busy port a one-line error, and Ctrl-C
stops it cleanly.
Run: .venv/bin/pytest tests/dashboard/test_server.py -q    (add -m slow for the Ctrl-C test)
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from types import SimpleNamespace

import pytest

from charnn.cli import main
from dashboards import create_app, server


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True),
                                            ("localhost", True), ("0.0.0.0", False), ("::", False),
                                            ("192.168.1.5", False), ("example.org", False)])
def test_which_addresses_are_loopback(host, loopback):
    assert server.is_loopback(host) is loopback
    assert (server.exposure_warning(host) is None) is loopback


def fake_server(monkeypatch) -> list:
    """Replace the waitress server by one that records what would be served and returns at once."""
    served = []
    monkeypatch.setattr(server, "create_server",
                        lambda app, host, port: SimpleNamespace(effective_host=host, effective_port=port or 50123))
    monkeypatch.setattr(server, "serve", lambda app, httpd: served.append(httpd))
    return served


def test_an_exposed_host_gets_a_warning(dash_runs, monkeypatch, capsys):
    served = fake_server(monkeypatch)
    assert main(["dashboard", str(dash_runs), "--host", "0.0.0.0", "--port", "0"]) == 0
    out, err = capsys.readouterr()
    assert "no authentication" in err and "start CPU-heavy jobs" in err and "http://0.0.0.0:50123/" in out
    assert main(["dashboard", str(dash_runs)]) == 0
    out, err = capsys.readouterr()
    assert err == "" and "http://127.0.0.1:8050/" in out and len(served) == 2


def test_debug_is_refused_on_an_exposed_host(dash_runs, monkeypatch, capsys):
    fake_server(monkeypatch)
    assert main(["dashboard", str(dash_runs), "--host", "0.0.0.0", "--debug"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--debug" in err and "loopback" in err


def test_a_busy_port_is_one_line(dash_runs, capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["dashboard", str(dash_runs), "--port", str(taken.getsockname()[1])]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pass another --port" in err


def test_waitress_serves_the_app_and_stops(dash_runs):
    app = create_app(dash_runs)
    running = server.start(app)
    try:
        with urllib.request.urlopen(running.url, timeout=30) as page:
            # waitress, ident charnn
            assert page.status == 200 and page.headers["Server"] == "charnn" and b"charnn" in page.read()
        with urllib.request.urlopen(running.url + "_dash-layout", timeout=30) as layout:
            assert "search-table" in json.dumps(json.load(layout))
        jobs = app.server.extensions["charnn"].jobs
        job_id = jobs.start(lambda job: job.cancel.wait(60))
    finally:
        t0 = time.perf_counter()
        running.stop()
    assert time.perf_counter() - t0 < 10 and jobs.get(job_id).cancelled  # stopping closes the app's jobs


@pytest.mark.slow
def test_ctrl_c_stops_the_dashboard_cleanly(dash_runs):
    # -X faulthandler: if it does not stop, SIGABRT makes it print where each thread is
    proc = subprocess.Popen([sys.executable, "-X", "faulthandler", "-m", "charnn", "dashboard", str(dash_runs),
                             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        url = re.search(r"http://\S+", first).group(0)
        with urllib.request.urlopen(url, timeout=30) as page:
            assert page.status == 200
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            pytest.fail("the dashboard did not stop within 60 s of Ctrl-C; its threads:\n"
                        + proc.communicate(timeout=30)[1][-6000:])
    finally:
        proc.kill()
    assert proc.returncode == 0 and "stopped" in out
    assert "development server" not in err and "Traceback" not in err
