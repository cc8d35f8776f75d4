"""`charnn search`, `charnn atlas` and `charnn probe`: thin commands over charnn.search.

    charnn search runs/austen/recordings/test --regex '"[^"]*"' --top 10
    charnn search runs/austen/recordings/test --concept line_position --format json
    charnn search runs/austen/recordings/test --explanation 'inside `"`...`"` AND NOT after newline'
    charnn atlas runs/austen/recordings/test
    charnn probe runs/austen/recordings/test --regex '"[^"]*"'

`add_parser(sub)` registers the three subcommands; each sets `func` to its `main_*(args) -> int`.
Tables go to stdout, the progress bar to stderr.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd

from .. import cluster
from ..limits import MAX_BINS, MAX_TIMEOUT
from ..scan import direction, separation
from .args import at_least, cluster_arguments, finite, kinds

FORMATS = ("table", "csv", "json")


def _common(p, query: bool = True, explanation: bool = False, on_cluster: bool = True) -> None:
    p.add_argument("recording", help="recording folder (runs/<run>/recordings/<name>)")
    if query:
        q = p.add_mutually_exclusive_group(required=True)
        q.add_argument("--regex", help="pattern (Python re syntax) whose matches are the target")
        q.add_argument("--concept", help="built-in concept name (see `charnn atlas --help`)")
        if explanation:
            q.add_argument("--explanation", help="an explanation as `charnn explain` prints it, e.g. "
                                                 "'inside `\"`...`\"` AND NOT after newline'")
        p.add_argument("--target", default="inside", help="inside | start | end | group:N (default: inside)")
        p.add_argument("--timeout", type=finite(0, low_open=True, high=MAX_TIMEOUT), default=None,
                       help=f"seconds allowed for matching, at most {MAX_TIMEOUT:g} (default: 1 s + 2 s per million characters)")
    p.add_argument("--kinds", type=kinds, default=None, help="comma-separated kinds to score, e.g. c,h (default: all)")
    p.add_argument("--seed", type=at_least(0), default=0, help="seed of the chance baseline / row sample")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    if on_cluster:
        cluster_arguments(p)


def add_parser(sub) -> None:
    from ..text import CONCEPTS
    p = sub.add_parser("search", help="rank every neuron by how well it tracks a regex, a concept or an explanation")
    _common(p, explanation=True)
    p.add_argument("--top", type=at_least(0), default=20, help="rows to print; 0 = every unit (default: 20)")
    p.add_argument("--format", choices=FORMATS, default="table",
                   help="table (binary targets show the separation max(AUROC, 1 - AUROC) and its direction), "
                        "csv or json (the raw AUROC)")
    p.add_argument("--bins", type=at_least(2, MAX_BINS), default=256,
                   help=f"histogram bins per unit for AUROC and F1, 2 to {MAX_BINS} (default 256)")
    p.set_defaults(func=main_search)

    names = "; ".join(f"{c.name}: {c.description}" for c in CONCEPTS.values())
    p = sub.add_parser("atlas", help="score every neuron against every built-in concept",
                       description=f"Built-in concepts: {names}.")
    _common(p, query=False)
    p.add_argument("--concepts", type=kinds, default=None, help="comma-separated concept names (default: all)")
    p.add_argument("--top", type=at_least(1), default=3, help="units listed per concept (default: 3)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=main_atlas)

    p = sub.add_parser("probe", help="sparse (L1) logistic probe: accuracy against number of units")
    _common(p, on_cluster=False)
    p.add_argument("--max-rows", type=at_least(100), default=20_000, help="characters sampled for the probe (default: 20000)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=main_probe)


def _open(args):
    import charnn  # lazily: the reader pulls in pyarrow
    return charnn.open_recording(args.recording)


def _fmt(df: pd.DataFrame) -> str:
    return df.to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep="-")


def table(df: pd.DataFrame, binary: bool) -> pd.DataFrame:
    """The rows as the table prints them: for a binary target, the separation max(AUROC, 1 - AUROC)
    and whether the unit is high or low inside, in place of the raw AUROC."""
    if not binary:
        return df.drop(columns=["auroc", "d", "f1", "threshold"], errors="ignore")
    sep = separation(df["auroc"])
    inside = np.where(df["auroc"] >= 0.5, "high", "low")
    out = df.drop(columns=["auroc", "sign"])
    out.insert(3, "separation", sep)
    out.insert(4, "inside", inside)
    return out


def main_search(args) -> int:
    from ..search import search
    from ..search.snippet import snippet
    from ..text import make_target
    rec = _open(args)
    y, binary, _ = make_target(rec.string, args.regex, args.concept, args.target, args.timeout, args.explanation)
    with cluster.connect(args.cluster, args.workers) as client:
        df = search(rec, regex=args.regex, concept=args.concept, target=args.target, kinds=args.kinds,
                    progress=not args.quiet, seed=args.seed, timeout=args.timeout, bins=args.bins,
                    explanation=args.explanation, client=client)
    base = df.attrs["baseline"]
    top = df if args.top == 0 else df.head(args.top)
    if args.format == "json":
        rows = top.assign(baseline_r_p99=base["r_p99"], baseline_auroc_p99=base["auroc_p99"])
        print(rows.to_json(orient="records"))
    elif args.format == "csv":
        top.to_csv(sys.stdout, index=False)
    else:
        best = df.iloc[0]
        picture = snippet(rec, int(best["layer"]), best["kind"], int(best["unit"]), y)  # read before printing
        support = int(df["support"].iloc[0])
        chance = f"|r| {base['r_p99']:.3f}" + (f", separation {base['auroc_p99']:.3f}" if base["auroc_p99"] else "")
        print(f"{df.attrs['query']}: {rec.n_chars:,} characters, {support:,} non-zero")
        print(f"chance (target shifted by {base['offset']:,} characters), 99th percentile over {base['units']:,} "
              f"sampled units: {chance}")
        print(_fmt(table(top, binary)))
        print()
        print(picture)
    return 0


def atlas_lines(per_concept: pd.DataFrame, per_unit: pd.DataFrame, n_units: int = 10) -> list[str]:
    """Readable summary: the best units of each concept, then the units that are best explained."""
    from ..search.engine import score_text
    from ..search.versus import versus_lines
    lines = ["best units per concept (chance = 99th percentile over sampled units against a shifted target):"]
    for name, group in per_concept.groupby("concept", sort=False):
        for _, row in group.iterrows():
            score = score_text(row.binary, row.auroc, row.r, row.baseline_auroc_p99, row.baseline_r_p99)
            lines.append(f"  {name:15s} layer {row.layer} {row.kind} unit {row.unit:<5d} {score}")
    lines.append(f"best concept per unit (top {n_units} by |r|):")
    for row in per_unit.head(n_units).itertuples():
        sep = "" if pd.isna(row.auroc) else f", separation {separation(row.auroc):.3f}, {direction(row.auroc)}"
        named = getattr(row, "explanation", None)
        named = f"; explained: {named} (held-out r {row.explanation_r:+.3f})" if isinstance(named, str) else ""
        half = getattr(row, "half_life", np.nan)
        span = "" if pd.isna(half) else f"; half-life {half:.0f} ({row.memory_class})"
        lines.append(f"  layer {row.layer}, unit {row.unit}, {row.kind}: {row.concept}, r {row.r:+.3f}{sep}{span}{named}")
    lines += versus_lines(per_concept.attrs.get("units_vs_latents", []))
    skipped = per_concept.attrs.get("skipped", {})
    if skipped:
        lines.append(f"not scored (constant on this text): {', '.join(skipped)}")
    return lines


def main_atlas(args) -> int:
    from ..search import atlas
    rec = _open(args)
    with cluster.connect(args.cluster, args.workers) as client:
        per_concept, per_unit = atlas(rec, concepts=args.concepts, kinds=args.kinds, top=args.top,
                                      progress=not args.quiet, seed=args.seed, client=client)
    if args.format == "json":
        print(json.dumps({"concepts": json.loads(per_concept.to_json(orient="records")),
                          "units": json.loads(per_unit.to_json(orient="records")),
                          "skipped": per_concept.attrs.get("skipped", {}),
                          "units_vs_latents": per_concept.attrs.get("units_vs_latents", [])}))
    else:
        print("\n".join(atlas_lines(per_concept, per_unit)))
    return 0


def main_probe(args) -> int:
    from ..search import probe
    rec = _open(args)
    res = probe(rec, regex=args.regex, concept=args.concept, target=args.target, kinds=args.kinds,
                max_rows=args.max_rows, seed=args.seed, timeout=args.timeout)
    if args.format == "json":
        print(json.dumps({"path": json.loads(res.path.to_json(orient="records")),
                          "units": json.loads(res.units.to_json(orient="records")),
                          "chosen_C": res.chosen_C, "majority": res.majority,
                          "n_train": res.n_train, "n_test": res.n_test}))
        return 0
    print(f"{res.n_train:,} training and {res.n_test:,} test characters (contiguous split); "
          f"always-majority test accuracy {res.majority:.3f}")
    print(_fmt(res.path))
    print(f"sparsest probe within 95% of the best balanced accuracy: C={res.chosen_C:.4g}, {len(res.units)} units")
    print(_fmt(res.units.head(20)))
    return 0
