"""`charnn ablate RUN TEXT --unit L:K:U[,L:K:U...]`: the loss change when units are ablated or clamped,
against random units of the same layer and kind (see charnn.causal). A unit of kind sae-NAME is
an autoencoder's latent, set through its decoder direction (charnn.sae.causal); several units of
one layer and kind are changed together, and the baseline draws as many.

    charnn ablate runs/austen val --unit 0:c:37 --where '"' --random 20
    charnn ablate runs/austen val --unit 0:sae-c0-2048-k32:3,0:sae-c0-2048-k32:40 --mode remove
"""

from __future__ import annotations

import argparse
import json
import math

import torch

from ..causal import Mode, ablate
from ..units import is_latent
from .args import at_least, device, units


def add_parser(sub) -> None:
    p = sub.add_parser("ablate", help="ablate or clamp a unit and measure the per-character loss change")
    p.add_argument("run", help="run folder")
    p.add_argument("text", help="a file, a folder, a bundled corpus name, or val/test for the run's own split")
    p.add_argument("--unit", required=True, type=units,
                   help="LAYER:KIND:UNIT, e.g. 0:c:37, or a latent 0:sae-NAME:17; several of one layer and kind, "
                        "separated by commas, are changed together")
    p.add_argument("--sae", default=None, help="a latent's autoencoder folder REC/sae/NAME (default: found under RUN/recordings)")
    p.add_argument("--mode", default="zero", type=mode, help="zero | mean | clamp=V; remove is zero (default zero)")
    p.add_argument("--where", default=None, help="regex: report the loss change on the characters of its matches vs all others")
    p.add_argument("--apply-inside", default=None,
                   help="regex: intervene only on the characters of its matches (default: everywhere)")
    p.add_argument("--random", type=at_least(0), default=20, help="random units of the same layer and kind as a baseline")
    p.add_argument("--seed", type=at_least(0), default=0)
    p.add_argument("--max-chars", type=at_least(1), default=None)
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument("--device", type=device, default="cuda" if torch.cuda.is_available() else "cpu", help="where the passes run")
    p.set_defaults(func=main)


def mode(text: str) -> Mode:
    try:
        return Mode.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def main(args) -> int:
    result = ablate(args.run, args.text, args.unit, args.mode, args.where, args.apply_inside, args.random,
                    args.seed, args.max_chars, progress=args.format == "table", device=args.device, sae=args.sae)
    return show(result, args.unit, args.where, args.format)


def show(result, units, where: str | None, format: str) -> int:
    """Print an ablation's result as `charnn ablate` and `charnn sae ablate` do: json, or the table."""
    if format == "json":
        print(json.dumps(result.to_dict(), allow_nan=True))
    else:
        print_result(result, where, baseline(units))
    return 0


def baseline(units) -> str:
    """What the random baseline is made of: 'random units', or 'random sets of 2 latents'."""
    noun = "latents" if is_latent(units[0].kind) else "units"
    return f"random {noun}" if len(units) == 1 else f"random sets of {len(units)} {noun}"


def print_result(result, where: str | None, baseline: str) -> None:
    """The table that `charnn ablate` and `charnn sae ablate` print."""
    sel = f"characters matching {where!r}" if where else "all characters"
    print(f"unit {result.unit}, {result.mode}: {result.n_chars:,} characters, {result.n_selected:,} selected ({sel})")
    print(f"  loss on selected   : {result.base_bpc_selected:.4f} -> {result.base_bpc_selected + result.delta_selected:.4f} bits "
          f"({result.delta_selected:+.4f})")
    if not math.isnan(result.delta_other):
        print(f"  loss on the others : {result.base_bpc_other:.4f} -> {result.base_bpc_other + result.delta_other:.4f} bits "
              f"({result.delta_other:+.4f})")
    print(f"  {len(result.random_units)} {baseline}, median |change| on selected: {result.random_median_selected:.5f} bits")
    print(f"  effect ratio: {result.effect_ratio:.1f}x")
    print("  largest increases:")
    for pos, delta, context in result.top_positions:
        print(f"    pos {pos:>8}  {delta:+.3f} bits  {context!r}")
