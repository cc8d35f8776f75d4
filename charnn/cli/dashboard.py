"""`charnn dashboard [RUNS_DIR]`: browse, search and compare neurons in the browser (see dashboards/)."""

from __future__ import annotations

from pathlib import Path

from . import CLIError
from .args import at_least


def add_parser(sub) -> None:
    p = sub.add_parser("dashboard", help="serve the neuron browser (Dash) on the runs in RUNS_DIR")
    p.add_argument("runs_dir", nargs="?", default="runs", help="folder holding run folders (default: runs)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1, this machine only; 0.0.0.0 exposes it to the network)")
    p.add_argument("--port", type=at_least(0), default=8050)
    p.add_argument("--threads", type=at_least(1), default=1, help="torch threads for the server (default 1: it runs beside training)")
    p.add_argument("--debug", action="store_true", help="Dash dev tools and reloading (never on a shared host)")
    p.set_defaults(func=main)


def main(args) -> int:
    runs = Path(args.runs_dir)
    if not runs.is_dir():
        raise CLIError(f"{runs} is not a folder: train a run first (`charnn train austen --out {runs}/austen`)")
    try:
        from dashboards.app import create_app  # imports Dash and plotly: a broken install fails here
    except ImportError as err:
        raise CLIError(f"the dashboard cannot start, its packages are missing or broken ({err}): "
                       "reinstall charnn (pip install -e .)") from None
    import torch

    torch.set_num_threads(max(1, args.threads))
    app = create_app(runs)
    print(f"charnn dashboard on {runs.resolve()}: http://{args.host}:{args.port}/  (Ctrl-C stops it)", flush=True)
    app.run(host=args.host, port=args.port, debug=args.debug)
    return 0
