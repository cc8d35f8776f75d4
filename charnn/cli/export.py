"""`charnn export REC --unit L:K:U [--unit ...] --out FIG.html|FIG.png`: the text colored by units,
one panel per unit, as a static figure (see charnn.export).

    charnn export runs/austen/recordings/val --unit 0:c:155 --start 5000 --chars 1500 --out quote.png
    charnn export runs/austen/recordings/val --concept inside_quotes --top 3 --out quotes.html
"""

from __future__ import annotations

from ..colors import SCALES
from ..export import MAX_CHARS
from . import CLIError
from .args import at_least, kinds, unit


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="the text colored by units, one panel each, as a static HTML or PNG figure")
    p.add_argument("recording", help="recording folder (runs/<run>/recordings/<name>)")
    # which units
    p.add_argument("--unit", action="append", default=[], type=unit, help="LAYER:KIND:UNIT, e.g. 0:c:155; repeat for more panels")
    q = p.add_mutually_exclusive_group()
    q.add_argument("--concept", help="also the best --top units for a built-in concept (see `charnn atlas --help`)")
    q.add_argument("--regex", help="also the best --top units for the characters inside a regex's matches")
    p.add_argument("--top", type=at_least(1), default=None, help="units taken from --concept or --regex (default: 3)")
    p.add_argument("--kinds", type=kinds, default=None, help="kinds searched for --concept or --regex, e.g. c,h (default: all)")
    # the window
    p.add_argument("--start", type=at_least(0), default=0, help="position of the first character shown (default: 0)")
    p.add_argument("--chars", type=at_least(1), default=2000, help=f"characters per panel, 1 to {MAX_CHARS:,} (default: 2000)")
    p.add_argument("--scale", choices=SCALES, default="tanh",
                   help="cell states colored by tanh(c), or by c over the unit's largest |c| (default: tanh)")
    # the file
    p.add_argument("--out", default="export.html", help="FILE.html, or FILE.png with a headless Chromium "
                                                        "(default: export.html)")
    p.add_argument("--quiet", action="store_true", help="no progress bar for --concept or --regex")
    p.set_defaults(func=main)


def main(args) -> int:
    from ..export import check, export, top_units
    from ..recording import open_recording
    query = args.concept or args.regex
    if not args.unit and not query:
        raise CLIError("no units: give --unit LAYER:KIND:UNIT (repeatable), or --concept NAME / --regex P")
    if args.top is not None and not query:
        raise CLIError("--top picks units for --concept or --regex: give one of them")
    units = list(args.unit)
    rec = open_recording(args.recording)
    start, stop = check(rec, units, args.out, args.start, args.chars, args.scale)  # before a search
    notes = {}
    if query:
        found, notes = top_units(rec, args.concept, args.regex, args.top or 3, args.kinds, progress=not args.quiet)
        units += [u for u in found if u not in units]
    out = export(rec, units, args.out, start, stop - start, args.scale, notes)
    print(f"wrote {out}: {len(units)} panels, characters {start:,}-{stop:,} of {rec.n_chars:,}")
    for u in units:
        print(f"  {u}  {notes.get(u, '')}".rstrip())
    return 0
