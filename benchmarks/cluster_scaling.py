"""Record and search on a Dask LocalCluster of 1 and 2 workers against one process without Dask.

    .venv/bin/python benchmarks/cluster_scaling.py                    # 10^7 characters (~25 min on 2 cores, 21 GB of disk)
    .venv/bin/python benchmarks/cluster_scaling.py --chars 2000000    # a quicker look
    .venv/bin/python benchmarks/cluster_scaling.py --work /tmp/cs --keep

A 1x256 LSTM (or --layers x --hidden; random weights: speed does not depend on them) records --chars characters of the
bundled Austen novels (repeated) as c,h float16 with the default parts (10^6 characters each),
then a regex search scores every unit of the recording; each once in this process (no Dask:
the baseline), and on a LocalCluster of 1 and of 2 workers (started as the CLI's --workers
starts one; its start-up is printed apart). Prints seconds, characters per second per worker,
and each ratio against the baseline in the same run, plus the speed-up of 2 workers over 1. On a 2-core
machine expect little speed-up: the point is that per-worker throughput is known.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from record_throughput import bench_text, make_run

from charnn.cluster import connect
from charnn.recording import open_recording, record
from charnn.search import search

QUERY = r'"[^"]*"'


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(run: Path, text: Path, rec: Path, scratch: Path, workers: int | None) -> tuple[float, float, float]:
    """(cluster start-up, record, search) seconds with `workers` (None: one process, no Dask)."""
    start = time.perf_counter()
    with connect(workers=workers) as client:
        started = time.perf_counter() - start
        shutil.rmtree(scratch, ignore_errors=True)
        recording = timed(lambda: record(run, str(text), out=scratch, progress=False, client=client))
        searching = timed(lambda: search(open_recording(rec), regex=QUERY, progress=False, client=client))
    shutil.rmtree(scratch)
    return started, recording, searching


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chars", type=int, default=10_000_000)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="charnn-cluster-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        model = f"{args.layers}x{args.hidden}"
        run, text = make_run(work / f"run-{model}", args.layers, args.hidden), bench_text(args.chars, work)
        rec, scratch = work / f"rec-{model}", work / "rec-timed"
        if not rec.exists():  # the recording every search reads; its first search builds the summary cache
            record(run, str(text), out=rec, progress=False)
        search(open_recording(rec), regex=QUERY, progress=False)
        rows = [(label, workers, *measure(run, text, rec, scratch, workers))
                for label, workers in (("one process, no Dask", None), ("1 worker", 1), ("2 workers", 2))]
        n = args.chars
        print(f"{n:,} characters, {model} LSTM, c,h float16, {len(open_recording(rec).parts)} parts; "
              f"search: regex {QUERY!r} over every unit; cluster start-up not included")
        base_rec, base_search = rows[0][3], rows[0][4]
        for label, workers, started, rec_s, search_s in rows:
            per = n / rec_s / (workers or 1)
            print(f"  {label:22s} start {started:4.1f} s   record {rec_s:7.1f} s ({per / 1e3:6.1f}k chars/s per worker, "
                  f"{base_rec / rec_s:4.2f}x)   search {search_s:6.1f} s ({base_search / search_s:4.2f}x)")
        print(f"  2 workers over 1: record {rows[1][3] / rows[2][3]:.2f}x, search {rows[1][4] / rows[2][4]:.2f}x")
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
