"""`charnn explain` against a plain baseline (a greedy least-squares fit of at most 3 simple features),
on the same split of the same recording.

    .venv/bin/python benchmarks/explain_baseline.py runs/austen/recordings/val          # an existing recording
    .venv/bin/python benchmarks/explain_baseline.py --run runs/austen --out /tmp/val    # record the run's val split first
    .venv/bin/python benchmarks/explain_baseline.py runs/austen/recordings/val --swap   # and the program swap (minutes)

The baseline: 71 features or so (each character above 0.2% of the text, the previous character
for those above 1%, letter / upper / space / punctuation, log distance since the last newline,
space, period and quote, and the built-in concepts that vary on the text), the best
least-squares fit of at most 3 of them chosen greedily on the first half, scored (Pearson r)
on the second; units on their stored values. charnn explain: its best explanation per unit
(at most 3 terms, sets of at most 3 characters), the same halves and values. Both run here, in
one process, on the same moments; printed side by side: the share of units at held-out r >= 0.5,
0.7, 0.8, the ratios (the targets: readable terms alone at least 3x the baseline at 0.7), the
shares without character sets and with longer ones (the readability trade-off), the term-count
curve, and two checks: the units that the `inside_quotes` and `line_position` concepts rank first
get a quote and a line-position explanation, held-out r no more than 0.02 below the concept's.

Then the two-part explanations (a lookup on the last K characters, readable terms for what it
leaves): the classes, the shares of the whole explanation, the share of units whose whole
explanation comes within 0.02 of the (previous, current) pair lookup's held-out R^2 (the target:
90%), the quote unit's class and memory part (the target: memory, with inside "..."), the
whole-state reconstruction, and with --swap the program swap (the target: units at r >= 0.7
recover at least 50% of what mean-ablating them costs).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from charnn.explanations import explain, passes, select, shares
from charnn.explanations.library import Library
from charnn.explanations.moments import chunk_moments, fit_r
from charnn.explanations.report import swap_lines, two_part_shares
from charnn.explanations.swap import swap as program_swap
from charnn.explanations.swap import whole_r
from charnn.recording import open_recording, record
from charnn.search import CONCEPTS, search
from charnn.text.atoms import CharAtom, CharPred, Concept, Distance, Event, TextIndex

THRESHOLDS = (0.5, 0.7, 0.8)


def baseline_atoms(text: str) -> list:
    ix = TextIndex(text)
    counts = np.bincount(ix.cps)
    share = counts / len(text)
    atoms = [CharAtom("char", CharPred.of([c])) for c in np.flatnonzero(share > 0.002)]
    atoms += [CharAtom("after", CharPred.of([c])) for c in np.flatnonzero(share > 0.01)]
    atoms += [CharAtom("char", CharPred.named(n)) for n in ("letter", "upper", "space", "punct")]
    atoms += [Distance(Event(pred=CharPred.of(ch)), log=True) for ch in "\n .\""]
    atoms += [Concept(name) for name in CONCEPTS]
    out, seen = [], set()
    for a in atoms:  # as the library does: no constant column, no duplicate
        v = a.values(ix)
        if v.min() < v.max() and v.tobytes() not in seen:
            seen.add(v.tobytes())
            out.append((a, v))
    return out


def baseline(rec, kinds) -> tuple[np.ndarray, int]:
    """(held-out r per unit (blocks in layer, kind order), feature count) of the greedy 3-term fit."""
    atoms = baseline_atoms(rec.string)
    F = np.stack([v for _, v in atoms]).astype(np.float32)  # (p, n)
    F -= F.mean(1, keepdims=True)
    half = rec.n_chars // 2
    blocks = [(layer, kind) for layer in range(rec.layers) for kind in rec.kinds if kind in kinds]
    X = np.concatenate([passes.transform(k, rec.activations(layer, k)) for layer, k in blocks], 1)  # (n, U)
    X -= X.mean(0)
    fit = chunk_moments(F[:, :half], X[:half]).covariances()
    held = chunk_moments(F[:, half:], X[half:]).covariances()
    lib = Library([a for a, _ in atoms])
    path = select.greedy(*fit, lib, np.zeros(len(atoms)), steps=3, max_set=0)
    w = select.fit_weights(fit[0], fit[1], path.A, rounded=False)
    return fit_r(*held, path.A, w), len(atoms)


def share_row(r: np.ndarray) -> list[float]:
    return [float((r >= t).mean()) for t in THRESHOLDS]


def concept_check(rec, df: pd.DataFrame, concept: str, words: tuple[str, ...]) -> str:
    """The unit the concept ranks first: its best explanation, and both held-out r's."""
    top = search(rec, concept=concept, progress=False).iloc[0]
    layer, kind, unit = int(top.layer), top.kind, int(top.unit)
    x = passes.transform(kind, rec.activations(layer, kind, units=[unit])[:, 0])
    y = CONCEPTS[concept].fn(rec.string)
    half = rec.n_chars // 2
    r_concept = abs(np.corrcoef(x[half:], y[half:])[0, 1])
    row = df[(df.layer == layer) & (df.kind == kind) & (df.unit == unit) & (df["rank"] == 1)].iloc[0]
    named = any(w in row.explanation for w in words)
    ok = named and row.score >= r_concept - 0.02
    return (f"{concept}: the search ranks {layer}:{kind}:{unit} first (search r {top.r:+.3f} over all characters); "
            f"its best explanation: {row.explanation!r}, held-out r {row.score:.3f} against the concept's "
            f"{r_concept:.3f} -> {'PASS' if ok else 'FAIL'} (a {'/'.join(words)} explanation, at most 0.02 lower)")


def two_part(rec, df: pd.DataFrame, swap: bool, swap_chars: int) -> None:
    """The two-part explanations' figures and targets (see the module docstring)."""
    best = df[df["rank"] == 1]
    ok = best[best["status"] != "constant"]
    whole = ok["r2_local"] + ok["r2_memory"]
    print("\ntwo-part explanations (held out):")
    print(two_part_shares(df).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for name, r in (("whole explanation", whole_r(best)), ("readable terms alone", best["score_readable"])):
        print(f"  {name:22s} " + "  ".join(f"r >= {t}: {s:.1%}" for t, s in zip(THRESHOLDS, share_row(r.to_numpy()))))
    near = float((whole >= ok["r2_pairs"] - 0.02).mean())
    print(f"  whole explanation within 0.02 of the pair lookup's R^2: {near:.1%} of {len(ok)} units "
          f"(median R^2: lookup {ok['r2_local'].median():.3f}, whole {whole.median():.3f}, pairs "
          f"{ok['r2_pairs'].median():.3f}) -> {'PASS' if near >= 0.9 else 'FAIL'} (target 90%)")
    top = search(rec, concept="inside_quotes", progress=False).iloc[0]
    quote = best[(best.layer == top.layer) & (best.kind == top.kind) & (best.unit == top.unit)].iloc[0]
    ok_quote = quote["class"] == "memory" and 'inside `"`...`"`' in quote.readable
    print(f"  the quote unit {top.layer}:{top.kind}:{top.unit}: {quote['class']}, lookup R^2 {quote.r2_local:.3f}, "
          f"+{quote.r2_memory:.3f} from {quote.readable!r} -> {'PASS' if ok_quote else 'FAIL'}")
    print("  whole-state reconstruction: " + ", ".join(f"{d['layer']}:{d['kind']} {d['reconstruction']:.1%}"
                                                      for d in df.attrs["reconstruction"]))
    if swap:
        t0 = time.perf_counter()
        rows = program_swap(rec, max_chars=swap_chars)
        print("\n" + "\n".join(swap_lines(rows)) + f"\n  ({time.perf_counter() - t0:.0f} s)")
        at = rows[rows.min_r == 0.7]
        print(f"  target: units at r >= 0.7 recover >= 50%: {'PASS' if (at.fraction_recovered >= 0.5).all() else 'FAIL'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recording", nargs="?", type=Path, help="a recording folder (kinds c and h)")
    parser.add_argument("--run", type=Path, help="record this run's val split first (into --out)")
    parser.add_argument("--out", type=Path, help="where to record (default: a temporary folder)")
    parser.add_argument("--kinds", default="c,h")
    parser.add_argument("--swap", action="store_true", help="also the program swap (minutes on 2 cores)")
    parser.add_argument("--swap-chars", type=int, default=50_000, help="held-out characters the swap scores")
    args = parser.parse_args()
    kinds = args.kinds.split(",")
    if args.recording is None:
        if args.run is None:
            parser.error("give a recording folder, or --run RUN to record its val split")
        out = args.out or Path(tempfile.mkdtemp(prefix="charnn-explain-")) / "val"
        args.recording = record(args.run, "val", kinds=args.kinds, out=out, progress=False)
    rec = open_recording(args.recording)
    print(f"{rec}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    t0 = time.perf_counter()
    r_base, p = baseline(rec, kinds)
    t_base = time.perf_counter() - t0
    runs = {}
    for max_set in (3, 0, 6, 12):
        t0 = time.perf_counter()
        runs[max_set] = explain(rec, kinds=kinds, progress=False, max_set=max_set, save=max_set == 3)
        runs[max_set].attrs["wall"] = time.perf_counter() - t0
    df = runs[3]
    ours = df[df["rank"] == 1].score.to_numpy()
    print(f"\nheld-out r (fitted on the first {rec.n_chars // 2:,} characters, scored on the other "
          f"{rec.n_chars - rec.n_chars // 2:,}; stored values), {len(ours):,} units:")
    table = pd.DataFrame({f"baseline ({p} features, 3 terms)": share_row(r_base),
                          "charnn explain (<= 3 terms)": share_row(ours)}, index=[f"r >= {t}" for t in THRESHOLDS])
    table["ratio"] = table.iloc[:, 1] / table.iloc[:, 0].where(table.iloc[:, 0] > 0)
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    need = table["ratio"].iloc[1] >= 3
    print(f"target: readable terms alone (the best explanation, sets of <= 3 characters, no lookup) at r >= 0.7 "
          f"at least 3x the baseline: {'PASS' if need else 'FAIL'}")
    print("\nreadability trade-off: the most characters a set such as [aeiou] may list (--max-set):")
    for max_set in (0, 3, 6, 12):
        best = runs[max_set][runs[max_set]["rank"] == 1].score.to_numpy()
        print(f"  {max_set:>2}: " + "  ".join(f"r >= {t}: {s:.1%}" for t, s in zip(THRESHOLDS, share_row(best)))
              + f"   ({runs[max_set].attrs['wall']:.0f} s)")
    print("\nper layer and kind (charnn explain, --max-set 3):")
    print(shares(df).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print("\nheld-out r against the number of greedy least-squares terms (share of units at r >= 0.5 / 0.7 / 0.8):")
    best = df[df["rank"] == 1]
    for k in (1, 2, 3, 5, 10):
        print(f"  {k:>2} terms: " + " / ".join(f"{(best[f'curve_{k}'] >= t).mean():.1%}" for t in THRESHOLDS))
    print("\n" + concept_check(rec, df, "inside_quotes", ('`"`',)))
    print(concept_check(rec, df, "line_position", ("newline", "line_position")))
    two_part(rec, df, args.swap, args.swap_chars)
    print(f"\nbaseline {t_base:.0f} s; charnn explain {df.attrs['wall']:.0f} s wall "
          f"({sum(df.attrs['cpu_seconds'].values()):.0f} s CPU; phases {df.attrs['seconds']})")


if __name__ == "__main__":
    main()
