"""Serve the dashboard on waitress, a production WSGI server (threads answer the requests; the
dashboard's own jobs run in threads of their own), not on Flask's development server.

    serve(create_app("runs"), "127.0.0.1", 8050)        # blocks; Ctrl-C or SIGTERM stops it
    server = start(create_app("runs"))                  # in a background thread, on a free port
    server.url; server.stop()                           # (scripts/screenshots.py, dashboards.benchmark)

Stopping closes the app (`app.server.extensions["charnn"].close()`): running jobs are cancelled
and a search preparation stops at its next chunk, so nothing keeps the process alive.
"""

from __future__ import annotations

import ipaddress
import signal
import threading
from dataclasses import dataclass

import waitress

REQUEST_THREADS = 8  # requests answered at once: a poll must not wait behind a slow figure
MAX_BODY = 8 * 2**20  # bytes of a request body: callback requests are a few kilobytes


def is_loopback(host: str) -> bool:
    """Whether `host` can only be reached from this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str) -> str | None:
    """What a user binding `host` should know, or None for a loopback address."""
    if is_loopback(host):
        return None
    return (f"warning: serving on {host}, which other machines can reach. The dashboard has no authentication: "
            "anyone who can open it can browse every run under RUNS_DIR and start CPU-heavy jobs "
            "(searches, ablations, samples). Bind 127.0.0.1 and use an SSH tunnel to share it safely.")


def create_server(app, host: str, port: int):
    """A waitress server for the app, bound (port 0 picks a free port: see .effective_port)."""
    return waitress.create_server(app.server, host=host, port=port, threads=REQUEST_THREADS, max_request_body_size=MAX_BODY,
                           ident="charnn")


def url(server) -> str:
    host = server.effective_host
    return f"http://{f'[{host}]' if ':' in host else host}:{server.effective_port}/"


def serve(app, server) -> None:
    """Run a server made by create_server until Ctrl-C or SIGTERM, then close the app."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.run()  # returns after a KeyboardInterrupt, with waitress's threads stopped
    finally:
        signal.signal(signal.SIGTERM, previous)
        close(app)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def close(app) -> None:
    services = app.server.extensions.get("charnn")
    if services is not None:
        services.close()


@dataclass
class Server:
    url: str
    stop: callable


def start(app, host: str = "127.0.0.1", port: int = 0) -> Server:
    """Serve the app from a background thread; stop() closes the server and the app."""
    server = create_server(app, host, port)
    thread = threading.Thread(target=server.run, name="dashboard-server", daemon=True)
    thread.start()

    def stop() -> None:
        server.close()
        server.task_dispatcher.shutdown()
        thread.join(10)
        close(app)
    return Server(url(server), stop)
