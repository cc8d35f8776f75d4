"""Faithfulness of attributions and circuits, measured by changing the input and rerunning the model.

    .venv/bin/python benchmarks/attribution_faithfulness.py RECORDING --unit 0:c:229
    .venv/bin/python benchmarks/attribution_faithfulness.py RECORDING --unit 0:c:229 --positions 20 --pairs 50   # quicker
    .venv/bin/python benchmarks/attribution_faithfulness.py RECORDING --unit 0:c:229 --methods write,gradxinput --parts a
    .venv/bin/python benchmarks/attribution_faithfulness.py RECORDING --unit 0:c:229 --parts b --methods ig \
        --workers 4 --cases 0:250 --save ig.jsonl          # a long part shared out; then --load ig.jsonl prints it

Deletion test (for each method and random, k = 1, 3, 5): over a 120-character window ending at a
position, replace the k earlier characters with the largest |contribution| by a space (among the
characters that are not spaces already: replacing a space by a space changes nothing), rerun the
window through the stepped model from the recorder's state before it (every layer stepped) and take
|change| of the unit's value there; random: k random earlier characters of the same window (the
median of 5 draws). Every variant of one window, the methods' and the random draws', runs at once as
parallel streams of one stepped run (charnn.attribution.ablation.reruns). On (a) the unit's
`--positions` strongest positions (largest |value - median|), at least `--spacing` characters apart
(default: the window, so that every position brings a passage of its own; the strongest positions of
a cell that holds a state through a passage are otherwise mostly neighbours in one passage), and (b)
`--pairs` random (unit, position) pairs of the same layer and kind. Printed per method and k: the
median |change|, and the median over positions of the ratio to random.

Circuit test: at the positions of (a), the graph's 10 largest state nodes (not the target) set to 0
at their positions against 10 random active units (|value| above the layer's median there) of the
same layers, kinds and positions, over a window starting DEPTH + 1 steps back; printed: the median
|change| of each and the median ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np

from charnn.attribution import attribute, circuit
from charnn.attribution.ablation import reruns
from charnn.attribution.circuit import DEPTH
from charnn.recording import open_recording
from charnn.units import Unit

WINDOW, KS, METHODS, DRAWS = 120, (1, 3, 5), ("write", "gradxinput", "ig"), 5


def usable(rec, positions, back: int) -> np.ndarray:
    """The positions whose window of `back` earlier characters lies inside their stream."""
    return np.array([p for p in positions if p - back >= rec.stream_start(int(p))], np.int64)


def strongest(rec, unit: Unit, n: int, back: int, spacing: int = 1) -> list[int]:
    """The unit's n strongest positions (largest |value - median|) whose window of `back` characters
    lies in their stream, each at least `spacing` characters from a stronger one."""
    values = rec.activations(unit.layer, unit.kind, [unit.index])[:, 0]
    order = np.argsort(-np.abs(values - np.median(values)), kind="stable")
    chosen: list[int] = []
    for p in usable(rec, order[:max(20 * n * spacing, 1000)], back):
        if all(abs(int(p) - q) >= spacing for q in chosen):
            chosen.append(int(p))
            if len(chosen) == n:
                break
    return chosen


def deletion(rec, unit: Unit, at: int, space: int, rng, methods) -> dict:
    """{(method or "random", k): |change of the unit's value at `at`|}: every deleted variant of the
    window rerun at once, as parallel streams from the recorder's state (`ablation.reruns`)."""
    start = at - WINDOW + 1
    ids = rec.ids(start, at + 1)
    keys, deleted, out = [("base", 0)], [[]], {}
    for method in methods:
        t0 = time.perf_counter()
        try:
            c = attribute(rec, unit, at, window=WINDOW, method=method).contributions.iloc[:-1]  # earlier characters
        except ValueError:  # integrated gradients that do not add up within their budget
            out[("incomplete", method)] = 1
            continue
        finally:
            out[("seconds", method)] = time.perf_counter() - t0
        c = c[c["char"] != " "]
        order = c["pos"].to_numpy()[np.argsort(-c["contribution"].abs().to_numpy(), kind="stable")]
        keys += [(method, k) for k in KS]
        deleted += [order[:k] for k in KS]
    candidates = np.arange(start, at)[ids[:-1] != space]
    for k in KS:
        keys += [("random", k)] * DRAWS
        deleted += [rng.choice(candidates, k, replace=False) for _ in range(DRAWS)]
    variants = np.repeat(ids[None], len(deleted), axis=0)  # (B, T)
    for row, positions in zip(variants, deleted):
        row[np.asarray(positions, np.int64) - start] = space
    values = reruns(rec, unit, at, start, ids=variants)  # (B,)
    moved: dict = {}
    for key, value in zip(keys[1:], values[1:]):
        moved.setdefault(key, []).append(abs(value - values[0]))
    out.update({key: statistics.median(changes) for key, changes in moved.items()})  # random: the median of DRAWS
    return out


def table(results: list[dict], title: str, methods) -> None:
    print(f"\n{title} ({len(results)} positions)\n")
    print("| method | k | median abs change | median ratio to random |")
    print("|---|---|---|---|")
    for method in (*methods, "random"):
        for k in KS:
            changes = [r[(method, k)] for r in results if (method, k) in r]
            if k == KS[0] and any(("incomplete", method) in r for r in results):
                print(f"| {method} | - | incomplete at {sum(('incomplete', method) in r for r in results)} of "
                      f"{len(results)} positions: left out | |")
            if not changes:
                continue
            if k == KS[0] and method != "random":
                seconds = statistics.median(r[("seconds", method)] for r in results if ("seconds", method) in r)
                print(f"| {method} | - | one attribution: {seconds * 1000:.0f} ms (median) | |")
            ratios = [r[(method, k)] / max(r[("random", k)], 1e-9) for r in results if (method, k) in r]
            print(f"| {method} | {k} | {statistics.median(changes):.4g} | {statistics.median(ratios):.2f}x |")


def circuit_test(rec, unit: Unit, positions: list[int], rng) -> None:
    moved, random_moved, ratios = [], [], []
    for at in positions:
        g = circuit(rec, unit, at)
        nodes = g.nodes[g.nodes["kind"].isin(["c", "h"]) & (g.nodes["id"] != f"{unit}@t")].head(10)
        top = [(int(n.layer), n.kind, int(n.unit), at - int(n.offset)) for n in nodes.itertuples()]
        if not top:
            continue
        rand = []
        for layer, kind, _, pos in top:
            values = np.abs(rec.activations(layer, kind, None, pos, pos + 1)[0])
            rand.append((layer, kind, int(rng.choice(np.nonzero(values > np.median(values))[0])), pos))
        base, a, b = reruns(rec, unit, at, at - DEPTH - 1, ablate=[[], top, rand])
        a, b = abs(a - base), abs(b - base)
        moved.append(a), random_moved.append(b), ratios.append(a / max(b, 1e-9))
    print(f"\ncircuit ablation ({len(moved)} positions): the graph's 10 largest nodes moved the unit by "
          f"{statistics.median(moved):.4g} (median), 10 random active units by {statistics.median(random_moved):.4g}; "
          f"median ratio {statistics.median(ratios):.2f}x")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("recording")
    p.add_argument("--unit", required=True, help="the unit of (a) and the circuit test, e.g. 0:c:115")
    p.add_argument("--positions", type=int, default=100)
    p.add_argument("--pairs", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", default=",".join(METHODS), help="attribution methods to test (default: all)")
    p.add_argument("--spacing", type=int, default=WINDOW,
                   help="(a) and the circuit test: characters at least between two positions (default the window, "
                        "so that no two share a character; 1: the strongest positions as they come)")
    p.add_argument("--parts", default="a,b,circuit", help="which tests to run: a, b, circuit (default: all)")
    p.add_argument("--workers", type=int, default=1, help="processes for the deletion tests (default 1)")
    p.add_argument("--save", help="append each case's result to this file as it comes (JSON lines)")
    p.add_argument("--cases", default=":", help="run only these cases of each part, START:STOP (to share a long "
                                                   "run out; the cases and their random draws stay those of the whole)")
    p.add_argument("--load", help="print the tables from a file that --save wrote, without running anything")
    args = p.parse_args()
    methods, parts = tuple(args.methods.split(",")), set(args.parts.split(","))
    if args.load:
        for part in ("a", "b"):
            table(saved(args.load, part), f"({part}) from {args.load}", methods)
        return
    rec, unit = open_recording(args.recording), Unit.parse(args.unit)
    strong = strongest(rec, unit, args.positions, WINDOW, args.spacing)
    run = Deletions(args.recording, methods, args.seed, args.workers, args.save,
                   slice(*(int(v) if v else None for v in args.cases.split(":"))))
    if "a" in parts:
        timed(lambda: table(run([(str(unit), at) for at in strong], "a"), f"(a) {unit} at its strongest positions", methods))
    if "b" in parts:
        rng = np.random.default_rng([args.seed, 1])
        pairs = usable(rec, rng.integers(WINDOW, rec.n_chars, 4 * args.pairs), WINDOW)[:args.pairs]
        units = rng.integers(rec.width(unit.layer, unit.kind), size=len(pairs))
        timed(lambda: table(run([(str(Unit(unit.layer, unit.kind, int(u))), int(at)) for u, at in zip(units, pairs)], "b"),
                            f"(b) random units of layer {unit.layer}, kind {unit.kind}, at random positions", methods))
    if "circuit" in parts:
        timed(lambda: circuit_test(rec, unit, strong, np.random.default_rng([args.seed, 2])))


class Deletions:
    """The deletion test at many (unit, position) cases, in `workers` processes; case i draws its random
    characters from the seed and i alone, so the results do not depend on the number of workers."""

    def __init__(self, recording: str, methods, seed: int, workers: int, save: str | None = None,
                 cases: slice = slice(None)):
        self.args, self.workers, self.save, self.cases = (recording, methods, seed), workers, save, cases

    def __call__(self, cases: list[tuple[str, int]], name: str) -> list[dict]:
        jobs = [(unit, at, i) for i, (unit, at) in enumerate(cases)][self.cases]
        if self.workers <= 1:
            _open(*self.args)
            return self._kept(jobs, progress(map(_case, jobs), name, len(jobs)), name)
        with ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"), initializer=_open,
                                 initargs=self.args) as pool:
            return self._kept(jobs, progress(pool.map(_case, jobs), name, len(jobs)), name)

    def _kept(self, jobs, results, name: str) -> list[dict]:
        """The results, each also appended to --save as it comes (a long run can be read part way)."""
        out = []
        for (unit, at, i), r in zip(jobs, results):
            out.append(r)
            if self.save:
                with open(self.save, "a") as f:
                    f.write(json.dumps({"part": name, "case": i, "unit": unit, "at": at,
                                        "result": [[*key, value] for key, value in r.items()]}) + "\n")
        return out


def saved(path: str, part: str) -> list[dict]:
    """The results of one part that a run with --save has written so far."""
    with open(path) as f:
        rows = [json.loads(line) for line in f]
    return [{tuple(item[:-1]): item[-1] for item in row["result"]} for row in rows if row["part"] == part]


_worker: dict = {}  # the recording and the settings, once per process


def _open(recording: str, methods, seed: int) -> None:
    rec = open_recording(recording)
    space = int(rec.ids(rec.string.index(" "), rec.string.index(" ") + 1)[0])  # the text, read before any timing
    _worker.update(rec=rec, methods=methods, seed=seed, space=space)


def _case(job: tuple[str, int, int]) -> dict:
    unit, at, i = job
    w = _worker
    return deletion(w["rec"], Unit.parse(unit), at, w["space"], np.random.default_rng([w["seed"], 3, i]), w["methods"])


def progress(items, name: str, n: int | None = None):
    """The items, with a line on stderr every tenth of the way (a full run takes a while)."""
    n = len(items) if n is None else n
    t0 = time.perf_counter()
    for i, item in enumerate(items):
        if i and i % max(n // 10, 1) == 0:
            print(f"({name}) {i} of {n} in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        yield item


def timed(run) -> None:
    t0 = time.perf_counter()
    run()
    print(f"\n{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
