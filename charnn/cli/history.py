"""`charnn history RUN` and `charnn match REC_A REC_B`: neurons across training steps and runs
(see charnn.history)."""

from __future__ import annotations

from ..history import concept_history, match_units, unit_history
from ..recording import open_recording
from .args import at_least, kinds, unit


def add_parser(sub) -> None:
    p = sub.add_parser("history", help="follow a concept's best unit, or one unit, across the run's probe recordings")
    p.add_argument("run", help="run folder trained with --record-every N --probe-text FILE")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--concept", help="built-in concept (see charnn atlas)")
    what.add_argument("--regex", help="regular expression target")
    what.add_argument("--unit", type=unit, help="LAYER:KIND:UNIT of the last probe step, matched back through training")
    p.add_argument("--target", default="inside", help="with --regex: inside | start | end | group:N")
    p.add_argument("--kinds", type=kinds, default=None, help="kinds to search, e.g. c,h (default: all recorded)")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=main)

    m = sub.add_parser("match", help="match every unit of one recording to its most correlated unit in another (same text)")
    m.add_argument("a", help="recording folder")
    m.add_argument("b", help="recording folder of the same text (another checkpoint or another seed)")
    m.add_argument("--kinds", type=kinds, default=None)
    m.add_argument("--top", type=at_least(0), default=20, help="rows to show, the best matched first (0: all)")
    m.add_argument("--format", choices=["table", "csv", "json"], default="table")
    m.set_defaults(func=main_match)


def emit(df, fmt: str) -> None:
    if fmt == "json":
        print(df.to_json(orient="records"))
    elif fmt == "csv":
        print(df.to_csv(index=False), end="")
    else:
        print(df.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def main(args) -> int:
    if args.unit:
        df = unit_history(args.run, args.unit)
    else:
        df = concept_history(args.run, concept=args.concept, regex=args.regex, target=args.target, kinds=args.kinds)
    emit(df, args.format)
    return 0


def main_match(args) -> int:
    df = match_units(open_recording(args.a), open_recording(args.b), args.kinds)
    emit(df if args.top == 0 else df.head(args.top), args.format)
    return 0
