"""`charnn sample RUN`: generate text from a trained run (see charnn.sample)."""

from __future__ import annotations

from ..causal import clamp_step_fn, parse_clamp
from ..limits import MAX_SAMPLE
from ..run import load_run
from ..sample import stream
from .args import at_least, finite


def add_parser(sub) -> None:
    p = sub.add_parser("sample", help="generate text from a trained run")
    p.add_argument("run", help="run folder")
    p.add_argument("--prime", default="\n", help="text to start from")
    p.add_argument("--length", type=at_least(0, MAX_SAMPLE), default=500,
                   help=f"characters to generate, printed as they come (at most {MAX_SAMPLE:,})")
    p.add_argument("--temperature", type=finite(0, low_open=True), default=0.8)
    p.add_argument("--top-k", type=at_least(1), default=None)
    p.add_argument("--seed", type=at_least(0), default=None)
    p.add_argument("--clamp", action="append", default=[], metavar="L:K:U=V",
                   help="hold a unit at a value while generating, e.g. 0:c:37=1.0 (repeatable)")
    p.set_defaults(func=main)


def main(args) -> int:
    run = load_run(args.run)
    clamps = [parse_clamp(spec, run) for spec in args.clamp]
    step_fn = clamp_step_fn(run, clamps) if clamps else None
    print(args.prime, end="", flush=True)
    for piece in stream(run.model, run.vocab, args.prime, args.length, args.temperature, args.top_k, args.seed, step_fn):
        print(piece, end="", flush=True)
    print()
    return 0
