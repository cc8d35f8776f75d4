"""Attribution speed on a 2x256 LSTM recording of 10^6 characters: one write attribution with a
2,000-character window, and the memory spans of every unit against a plain read of the gates they
come from.

    .venv/bin/python benchmarks/attribution_speed.py                          # records first (minutes)
    .venv/bin/python benchmarks/attribution_speed.py --recording /tmp/rec1m   # record once, reuse

The recording is made as benchmarks/search_speed.py makes its own (a randomly initialised 2x256
`CharRNN`, seed 0, over the bundled Austen novels, kinds c,h, float16; the gates derived on read).
In one process, alternating: reading f of both layers over the whole text (`iter_chunks`, the floor
the spans pay: each gate is a matmul per character) and `memory_spans` (which derives the same gates
the same way, uncached, then reads the stored c of the integrators it finds); printed: the median of
each and their ratio (target: at most 3). Then the median of 20 write attributions of layer 1's
cells at one position, 2,000-character window (target 100 ms).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import alternate
from search_speed import make_recording

from charnn.attribution import attribute, memory_spans
from charnn.recording import open_recording


def read_gates(rec) -> None:
    for _ in rec.iter_chunks(kinds=["f"]):
        pass


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recording", type=Path, default=None, help="reuse (or make) the recording here")
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="attribution-speed-"))
    path = args.recording or work / "rec"
    if not (path / "meta.json").is_file():
        make_recording(path, 1_000_000, 2, 256, work)
    rec = open_recording(path)
    print(rec)
    times = alternate({"read f": lambda: read_gates(rec), "memory spans": lambda: memory_spans(rec, cache=False)}, args.rounds)
    read, spans = statistics.median(times["read f"]), statistics.median(times["memory spans"])
    print(f"read f of every unit: {read:.1f} s; memory spans of every unit: {spans:.1f} s; ratio {spans / read:.2f}")
    at = int(rec.streams()[1][0]) + 2500
    attribute(rec, "1:c:0", at, window=2000)
    ms = []
    for u in range(20):
        t0 = time.perf_counter()
        attribute(rec, f"1:c:{u}", at, window=2000)
        ms.append((time.perf_counter() - t0) * 1000)
    print(f"one write attribution, 2,000-character window, layer 1: median {statistics.median(ms):.1f} ms, "
          f"max {max(ms):.1f} ms")


if __name__ == "__main__":
    sys.exit(main())
