"""`charnn sample RUN`: generate text from a trained run (see charnn.sample)."""

from __future__ import annotations

from ..run import load_run
from ..sample import generate


def add_parser(sub) -> None:
    p = sub.add_parser("sample", help="generate text from a trained run")
    p.add_argument("run", help="run folder")
    p.add_argument("--prime", default="\n", help="text to start from")
    p.add_argument("--length", type=int, default=500, help="characters to generate")
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.set_defaults(func=main)


def main(args) -> int:
    run = load_run(args.run)
    text = generate(run.model, run.vocab, args.prime, args.length, args.temperature, args.top_k, args.seed)
    print(args.prime + text)
    return 0
