"""`charnn attribute REC --unit L:K:U --at POS`: each earlier position's contribution to a unit's
value at one position, plus what came from before the window (see charnn.attribution).

    charnn attribute runs/austen/recordings/val --unit 0:c:37 --at 5000 --window 200 --format json
"""

from __future__ import annotations

import json

from ..attribution import METHODS, attribute
from ..attribution.gradients import BASELINES
from .args import at_least, unit

SHOWN = 20  # rows of the table: the window's largest contributions


def add_parser(sub) -> None:
    p = sub.add_parser("attribute", help="why a unit has its value at a position: each earlier character's contribution")
    p.add_argument("recording", help="recording folder")
    p.add_argument("--unit", required=True, type=unit, help="LAYER:KIND:UNIT, e.g. 0:c:37")
    p.add_argument("--at", required=True, type=at_least(0), help="the text position whose value is attributed")
    p.add_argument("--window", type=at_least(0), default=None,
                   help="characters back from --at, within its stream (default 200, or the stream's characters so far)")
    p.add_argument("--method", choices=METHODS, default=None,
                   help="write (exact, an LSTM's c or a GRU's h; their default) | gradxinput | ig (the default otherwise)")
    p.add_argument("--baseline", choices=BASELINES, default=BASELINES[0],
                   help="ig: what every character of the window is replaced by at the path's start (default space)")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=main)


def main(args) -> int:
    a = attribute(args.recording, args.unit, args.at, args.window, args.method, args.baseline)
    if args.format == "json":
        print(json.dumps(a.to_dict()))
        return 0
    total = float(a.contributions["contribution"].sum())
    print(f"unit {a.unit} at {a.at}: value {a.value:.5g} ({a.method}); window {a.start}..{a.at} "
          f"({len(a.contributions)} characters) contributes {total:.5g}, before it {a.remainder:.5g}, "
          f"together {total + a.remainder:.5g}")
    top = a.contributions.reindex(a.contributions["contribution"].abs().sort_values(ascending=False).index)[:SHOWN]
    print(f"the {len(top)} largest contributions, in text order:")
    print(top.sort_values("pos").assign(char=lambda d: d["char"].map(repr))
          .to_string(index=False, float_format=lambda v: f"{v:+.5f}"))
    return 0
