"""`charnn dashboard [RUNS_DIR]`: browse, search and compare neurons in the browser (see dashboards/).

Served by waitress (dashboards/server.py); `--debug` runs Dash's development server with its dev
tools instead, on the loopback address only (its debugger runs code that the page sends).
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import CLIError
from .args import at_least


def add_parser(sub) -> None:
    p = sub.add_parser("dashboard", help="serve the neuron browser (Dash) on the runs in RUNS_DIR")
    p.add_argument("runs_dir", nargs="?", default="runs", help="folder holding run folders (default: runs)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1, this machine only; 0.0.0.0 exposes it to the network, "
                        "with no authentication)")
    p.add_argument("--port", type=at_least(0), default=8050, help="port (default 8050; 0 picks a free one)")
    p.add_argument("--threads", type=at_least(1), default=1,
                   help="torch threads for the server (default 1: it runs beside training)")
    p.add_argument("--debug", action="store_true", help="Dash's development server with dev tools and reloading (loopback only)")
    p.set_defaults(func=main)


def main(args) -> int:
    runs = Path(args.runs_dir)
    if not runs.is_dir():
        raise CLIError(f"{runs} is not a folder: train a run first (`charnn train austen --out {runs}/austen`)")
    try:
        from dashboards import server  # imports waitress
        from dashboards.app import create_app  # imports Dash and plotly: a broken install fails here
    except ImportError as err:
        raise CLIError(f"the dashboard cannot start, its packages are missing or broken ({err}): "
                       "reinstall charnn (pip install -e .)") from None
    warning = server.exposure_warning(args.host)
    if args.debug and warning:
        raise CLIError(f"--debug serves Flask's debugger, which runs code the page sends: it binds only a loopback "
                       f"address, not {args.host}")
    app = create_app(runs)
    if args.debug:
        app.run(host=args.host, port=args.port, debug=True)
        return 0
    try:
        httpd = server.create_server(app, args.host, args.port)
    except OSError as err:
        raise CLIError(f"cannot serve on {args.host}:{args.port} ({err.strerror or err}): "
                       "pass another --port (0 picks a free one)") from None
    if warning:
        print(warning, file=sys.stderr, flush=True)
    print(f"charnn dashboard on {runs.resolve()}: {server.url(httpd)}  (Ctrl-C stops it)", flush=True)
    server.serve(app, httpd)
    print("charnn dashboard stopped", flush=True)
    return 0
