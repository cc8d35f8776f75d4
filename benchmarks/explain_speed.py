"""Explain speed: every c and h unit of a 2x512 LSTM recording (2,048 units) at 1e5 and 1e6 characters.

    .venv/bin/python benchmarks/explain_speed.py                                   # records both first (minutes)
    .venv/bin/python benchmarks/explain_speed.py --recording /tmp/ex1m --small /tmp/ex100k   # record once, reuse

The recordings are made as benchmarks/search_speed.py makes its own: a randomly initialised
`CharRNN` (2 x 512, seed 0) over the bundled Austen novels, kinds c,h, float16 (its units are
not a trained model's, which changes what they are explained by, not how long it takes). In one
process: a plain read of each recording (`iter_chunks`, summing every value: the floor any
pass over the states pays), then `charnn.explain` on it (feature cache built beforehand, not
timed: it is built once per text). Printed: wall and CPU seconds, the ratio to the plain read,
milliseconds per unit, each phase, and the machine's load average (the cores are shared).
Issue 12's target: the 1M-character recording in at most 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from charnn.explanations import explain, featcache
from charnn.recording import open_recording

sys.path.insert(0, str(Path(__file__).parent))
from search_speed import make_recording  # noqa: E402 - the same recording as the search benchmark


def plain_read(rec) -> float:
    total = 0.0
    for _, _, block in rec.iter_chunks(kinds=["c", "h"]):
        for a in block.values():
            total += float(a.sum(dtype=np.float32))
    return total


def timed(fn):
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, out


def bench(path: Path) -> dict:
    rec = open_recording(path)
    featcache.features(rec)  # built once per text and cached beside the recording
    load = os.getloadavg()[0]
    read_wall, read_cpu, _ = timed(lambda: plain_read(rec))
    wall, cpu, df = timed(lambda: explain(rec, progress=False, save=False))
    units = df[["layer", "kind", "unit"]].drop_duplicates().shape[0]
    print(f"{rec.n_chars:>9,} chars, {units:,} units: explain {wall:6.1f} s wall ({cpu:6.1f} s CPU), "
          f"{1000 * wall / units:6.1f} ms/unit; plain read {read_wall:.1f} s ({read_cpu:.1f} s CPU): "
          f"{wall / read_wall:.0f}x; load average {load:.1f} -> {os.getloadavg()[0]:.1f}")
    print(f"           phases (wall): {df.attrs['seconds']}")
    print(f"           phases (CPU):  {df.attrs['cpu_seconds']}")
    return {"chars": rec.n_chars, "wall": wall, "cpu": cpu, "units": units}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recording", type=Path, default=None, help="the 1M-character recording (reused, or recorded here)")
    parser.add_argument("--small", type=Path, default=None, help="the 100k-character recording (reused, or recorded here)")
    parser.add_argument("--chars", type=int, default=1_000_000)
    parser.add_argument("--small-chars", type=int, default=100_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="charnn-explain-bench-"))
    try:
        paths = []
        for path, n in ((args.small, args.small_chars), (args.recording, args.chars)):
            path = path or work / f"rec-{n}"
            if not (path / "meta.json").is_file():
                make_recording(path, n, 2, 512, work / f"model-{n}")
            paths.append(path)
        print(f"{os.cpu_count()} cores, torch ops single-threaded, blocks on 2 worker threads")
        small, large = (bench(p) for p in paths)
        print(f"time per unit grows {large['wall'] / large['units'] / (small['wall'] / small['units']):.1f}x for "
              f"{large['chars'] / small['chars']:.0f}x the characters")
        print(f"target: all units of the {large['chars']:,}-character recording in at most 10 minutes: "
              f"{large['wall'] / 60:.1f} min -> {'PASS' if large['wall'] <= 600 else 'FAIL'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
