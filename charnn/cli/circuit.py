"""`charnn circuit REC --unit L:K:U [--at POS]`: the units, characters and earlier states that drive a
unit's value, with the gates frozen at their recorded values, pruned to what carries most of the
influence (see charnn.attribution.circuit). Without --at: averaged over the unit's 20 largest values.

    charnn circuit runs/austen/recordings/val --unit 0:c:37 --at 5000 --format json
"""

from __future__ import annotations

import json

from ..attribution.circuit import circuit
from .args import at_least, unit


def add_parser(sub) -> None:
    p = sub.add_parser("circuit", help="the pruned graph of units and characters that drive a unit's value")
    p.add_argument("recording", help="recording folder")
    p.add_argument("--unit", required=True, type=unit, help="LAYER:KIND:UNIT, e.g. 0:c:37")
    p.add_argument("--at", type=at_least(0), default=None,
                   help="text position (default: averaged over the unit's 20 largest values)")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=main)


def main(args) -> int:
    g = circuit(args.recording, args.unit, args.at)
    if args.format == "json":
        print(json.dumps(g.to_dict()))
        return 0
    where = f"at {g.at}" if g.at is not None else f"averaged over {len(g.positions)} positions"
    print(f"circuit of {g.unit} {where}: {len(g.nodes)} nodes, {len(g.edges)} edges")
    print(g.nodes.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(g.edges.head(40).to_string(index=False, float_format=lambda v: f"{v:+.4g}"))
    return 0
