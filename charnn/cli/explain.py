"""`charnn explain REC`: explain every unit, write explanations.parquet beside the recording, print a summary.

    charnn explain runs/austen/recordings/val --kinds c,h
    charnn explain runs/austen/recordings/val --format json > explanations.json
    charnn explain runs/austen/recordings/val --heldout runs/austen/recordings/test
    charnn explain runs/austen/recordings/val --swap --min-r 0.7    # units replaced by their explanations

The table: per layer and kind, the share of units whose best explanation reaches held-out r
0.5, 0.7 and 0.8; the same for 1, 2, 3, 5 and 10 greedy least-squares terms (the trade-off
between length and fit); the best-explained units with their chance level; then the two-part
explanations (`charnn.explanations.report`). json and csv print every row of explanations.parquet
(every unit, every rank; not the lookup tables). --swap scores the saved explanations in the model
instead (`charnn.explanations.swap`).
"""

from __future__ import annotations

import json
import sys

import pandas as pd

from .. import cluster
from .args import at_least, cluster_arguments, kinds

FORMATS = ("table", "json", "csv")
OPENAI = ("OpenAI's automated interpretability (Bills et al. 2023) found 0.3% of GPT-2 XL's neurons at r >= 0.8, "
          "with another model and scorer (LLM-simulated activations)")


def add_parser(sub) -> None:
    p = sub.add_parser("explain", help="explain every unit with a short program of text features, scored held out")
    p.add_argument("recording", help="recording folder (runs/<run>/recordings/<name>)")
    p.add_argument("--kinds", type=kinds, default=None, help="comma-separated kinds to explain, e.g. c,h (default: all)")
    p.add_argument("--max-terms", type=at_least(1), default=3, help="terms per explanation, 1..10 (default: 3)")
    p.add_argument("--top", type=at_least(1), default=None,
                   help="explanations kept per unit (default: 3); with --swap: swap the N best-explained units of "
                        "each layer and kind")
    p.add_argument("--max-set", type=at_least(0), default=3,
                   help="characters a character set such as [aeiou] lists at most; 0: no sets (default: 3)")
    p.add_argument("--heldout", default=None,
                   help="another recording of the same run to score on (default: fit the first half, score the second)")
    p.add_argument("--units", type=at_least(0), default=20, help="best-explained units to print (default: 20)")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--seed", type=at_least(0), default=0, help="seed of the samples and the chance shift")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--swap", action="store_true",
                   help="replace units by their saved explanations in the forward pass and report bits per character")
    p.add_argument("--min-r", type=float, action="append", default=None,
                   help="with --swap: units whose whole explanation reaches this held-out r (repeatable; "
                        "default: 0.5, 0.7 and 0.8)")
    p.add_argument("--max-chars", type=at_least(1000), default=20_000,
                   help="with --swap: held-out characters scored (default: 20,000)")
    cluster_arguments(p)
    p.set_defaults(func=main)


def summary_lines(df: pd.DataFrame, n_units: int = 20) -> list[str]:
    """The table format: shares per layer and kind, the term-count curve, the best-explained units."""
    from ..explanations.table import CURVE, THRESHOLDS, shares
    attrs = df.attrs
    heldout = attrs.get("settings", {}).get("heldout", "second half")
    where = ("the second half" if heldout == "second half" else heldout)
    lines = [f"explained {df[['layer', 'kind', 'unit']].drop_duplicates().shape[0]:,} units: fitted on "
             f"{attrs.get('n_fit', 0):,} characters, scored on {attrs.get('n_heldout', 0):,} held-out characters "
             f"({where}); units on their stored values", "",
             "share of units whose best explanation reaches held-out r:"]
    table = shares(df)
    cols = [f">={t}" for t in THRESHOLDS]
    lines.append(f"  {'layer':>5} {'kind':>4} {'units':>6}  " + "  ".join(f"{c:>7}" for c in cols))
    for row in table.itertuples(index=False):
        lines.append(f"  {row.layer:>5} {row.kind:>4} {row.units:>6}  " +
                     "  ".join(f"{getattr(row, f'_{3 + i}'):>7.1%}" for i in range(len(cols))))
    lines.append(f"  ({OPENAI})")
    lines += ["", "held-out r against the number of terms (greedy least squares), share of units at r >= "
              + " / ".join(str(t) for t in THRESHOLDS) + ":"]
    lines.append(f"  {'layer':>5} {'kind':>4}  " + "  ".join(f"{f'{k} terms':>17}" for k in CURVE))
    for (layer, kind), g in df[df["rank"] == 1].groupby(["layer", "kind"], sort=True):
        cells = ["/".join(f"{(g[f'curve_{k}'] >= t).mean():.0%}" for t in THRESHOLDS) for k in CURVE]
        lines.append(f"  {layer:>5} {kind:>4}  " + "  ".join(f"{c:>17}" for c in cells))
    constant = df[(df["rank"] == 1) & (df["status"] == "constant")]
    if len(constant):
        lines.append(f"  {len(constant):,} of them constant on the fitting or the held-out part (dead): "
                     f"unexplainable, counted as r 0")
    lines += ["", "best-explained units (held-out r, negative where the unit is low; chance = |r| of the "
                  "explanation shifted along the held-out text):"]
    best = df[(df["rank"] == 1) & (df["status"] == "ok")].sort_values("score", ascending=False).head(n_units)
    for row in best.itertuples(index=False):
        extra = "" if pd.isna(row.auroc) else f", AUROC {row.auroc:.3f} (chance {row.auroc_chance:.3f})"
        lines.append(f"  {row.layer}:{row.kind}:{row.unit:<5} r {row.r_heldout:+.3f} (chance {abs(row.r_chance):.3f}"
                     f"{extra})  {row.explanation}")
    return lines


def main(args) -> int:
    import charnn  # lazily: the reader pulls in pyarrow

    from ..explanations.report import swap_lines, two_part_lines
    from ..explanations.table import PRINTED
    rec = charnn.open_recording(args.recording)
    if args.swap:
        from ..explanations.swap import THRESHOLDS, swap
        if args.min_r and args.top:
            raise ValueError("--swap takes --min-r or --top, not both")
        rows = swap(rec, min_r=args.min_r or THRESHOLDS, top=args.top, kinds=args.kinds, max_chars=args.max_chars)
        print(rows.to_json(orient="records") if args.format == "json" else
              rows.to_csv(index=False) if args.format == "csv" else "\n".join(swap_lines(rows)))
        return 0
    heldout = charnn.open_recording(args.heldout) if args.heldout else None
    with cluster.connect(args.cluster, args.workers) as client:
        df = charnn.explain(rec, kinds=args.kinds, max_terms=args.max_terms, top=args.top or 3, heldout=heldout,
                            progress=not args.quiet, max_set=args.max_set, seed=args.seed, client=client)
    if args.format == "json":
        print(json.dumps(json.loads(df[PRINTED].to_json(orient="records"))))
    elif args.format == "csv":
        df[PRINTED].to_csv(sys.stdout, index=False)
    else:
        print("\n".join(summary_lines(df, args.units) + two_part_lines(df)))
    return 0
