"""`charnn memory REC [--kinds c]`: how far back every unit remembers, from its forget (LSTM) or
update (GRU) gates: median and 90th-percentile half-life, and a class (see charnn.attribution.memory).

    charnn memory runs/austen/recordings/val --format json
"""

from __future__ import annotations

from ..attribution.memory import memory_spans
from ..recording import open_recording
from .args import kinds


def add_parser(sub) -> None:
    p = sub.add_parser("memory", help="memory span (half-life) and class of every unit, from its forget/update gates")
    p.add_argument("recording", help="recording folder")
    p.add_argument("--kinds", type=kinds, default=None, help="kinds to scan: c for an LSTM (default), h for a GRU")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=main)


def main(args) -> int:
    df = memory_spans(open_recording(args.recording), kinds=args.kinds)
    if args.format == "json":
        print(df.to_json(orient="records"))
        return 0
    counts = df["class"].value_counts()
    print(f"{len(df):,} units: " + ", ".join(f"{counts.get(c, 0)} {c}" for c in ("short", "medium", "long", "integrator")))
    print(df.sort_values(["half_life", "half_life_p90"], ascending=False)
          .to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0
