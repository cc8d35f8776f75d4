"""Search speed: `charnn.search.search` over a 1M-character recording of a 2x512 LSTM (kinds c, h:
2,048 units) against a plain read of the same bytes and against `pandas.DataFrame.corrwith`.

    .venv/bin/python benchmarks/search_speed.py                                  # 1M chars (records first: minutes)
    .venv/bin/python benchmarks/search_speed.py --recording runs/bench-search    # record there once, then reuse it
    .venv/bin/python benchmarks/search_speed.py --chars 200000 --repeats 1       # quick smoke run
    .venv/bin/python benchmarks/search_speed.py --recording REC --no-corrwith    # e.g. record_throughput.py's 10^7 one
    .venv/bin/python benchmarks/search_speed.py --recording REC --no-corrwith --cold   # and both from disk

The recording is made with a randomly initialised `CharRNN` (2 layers x 512, created with
`charnn.run.create_run`) over the bundled Austen novels (repeated if --chars asks for more),
`record(..., kinds="c,h")`, float16. With --recording PATH an existing recording there is reused
(its size wins over --chars); otherwise it is recorded into PATH (or a temporary folder that is
deleted afterwards).

In one process, alternating rounds of (a), (b), (c) (--repeats rounds; medians reported, wall
and CPU seconds of the process, since the machine is shared and wall times are noisy):
  (a) search: `search(rec, concept=...)` (default inside_quotes) or `--regex PATTERN`, the whole
      call (target, every unit's r/AUROC/d/F1/threshold, the chance baseline), text preloaded;
  (b) plain read: every state file the search scans, read once from start to end into one
      16 MB buffer (os.readv: the bytes only, nothing decoded), in the same page-cache state as
      the search (the rounds alternate, after a first search has read every file);
  (c) `pandas.DataFrame.corrwith` of float32 unit columns against the target Series, the frame
      already in memory (only corrwith is timed). All 2,048 columns take minutes (and 8 GB), so
      by default it is timed on --corrwith-columns 256 units spread over every (layer, kind) and
      extrapolated linearly to all units (the output says so); --corrwith-columns 2048 times all.
  With --cold, two more per round, both from disk: (d) the search and (e) the plain read, each
      after the state files are dropped from the page cache (the recording's mapped pages released,
      `Recording.release`, then posix_fadvise(POSIX_FADV_DONTNEED) on every file; `fincore FILE`
      shows what stays cached).
Targets: corrwith / search >= 20, search / plain read <= 3 (warm against warm, and with --cold, cold
against cold).

Allocator: corrwith makes several 8-16 MB temporaries per column. Under glibc's adaptive mmap
threshold they are either reused from the heap or mapped and page-faulted afresh, depending on
what the process allocated before, so corrwith's time per column swung 2-5x between rounds and
with whatever ran before it (here: ~12 ms per column reused, ~30 ms when every temporary is
mapped afresh, 40-60 ms on a loaded machine). By default the threshold is fixed at 32 MB
before anything runs (`--allocator steady`), which keeps corrwith in its fast state in every
round; `--allocator default` leaves glibc alone.

The first search of a recording also builds its summary cache (`cache/histograms-<bins>.npz`:
per-unit sums and the histogram of every character); the cache is deleted first, so this
"first search" is timed on every run, apart from the (warm) searches that are compared.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from charnn.corpus import load_corpus
from charnn.model import CharRNN, ModelConfig
from charnn.recording import open_recording, record
from charnn.run import create_run
from charnn.search import native, search
from charnn.search.engine import make_target


def make_recording(out: Path, n_chars: int, layers: int, hidden: int, work: Path) -> Path:
    corpus = load_corpus("austen")
    vocab = corpus.build_vocab()
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=len(vocab), layers=layers, hidden=hidden)).eval()
    run = create_run(work / "run", model, vocab)
    text = "".join(d.text for d in corpus.documents)
    path = work / f"austen-{n_chars}.txt"
    path.write_text((text * (n_chars // len(text) + 1))[:n_chars])
    t0 = time.perf_counter()
    record(run, str(path), kinds="c,h", out=out, progress=True)
    print(f"recorded {n_chars:,} chars in {time.perf_counter() - t0:.0f} s -> {out}")
    return out


def steady_allocator() -> str:
    """Fix glibc's mmap threshold (32 MB, its maximum) and trim threshold, so that temporaries up to
    32 MB are reused from the heap instead of mapped and page-faulted afresh each time."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(-3, 32 << 20) and libc.mallopt(-1, 256 << 20)  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        ok = False
    return "steady (mmap threshold 32 MB, trim 256 MB)" if ok else "glibc default (mallopt unavailable)"


def state_files(rec) -> list[Path]:
    """The state files a search of the stored kinds reads."""
    from charnn.recording.layout import states_file
    return [states_file(rec.path, layer, kind, p.index) for layer in range(rec.layers) for kind in rec.stored_kinds
            for p in rec.parts]


def plain_read(files: list[Path], block: bytearray) -> int:
    """Read every file once, start to end, into `block`; returns the bytes read."""
    total = 0
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            while (got := os.readv(fd, [block])) > 0:
                total += got
        finally:
            os.close(fd)
    return total


def evict(files: list[Path]) -> None:
    """Drop the files' pages from the page cache (pages that a process maps stay: release them first)."""
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def timed(fn):
    """(wall seconds, CPU seconds of this process, result)."""
    gc.collect()
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, out


def corrwith_frame(rec, columns: int) -> pd.DataFrame:
    """`columns` units spread evenly over every (layer, kind), each a float32 column (all units: 4 x 2 GB...)."""
    blocks = [(layer, kind) for layer in range(rec.layers) for kind in rec.stored_kinds]
    per_block = max(1, min(rec.hidden, columns // len(blocks)))
    units = np.linspace(0, rec.hidden - 1, per_block).round().astype(int)
    cols = {}
    for layer, kind in blocks:
        a = rec.activations(layer, kind)[:, units] if per_block > 32 else rec.activations(layer, kind, units=units)
        for j, u in enumerate(units):
            cols[f"{layer}{kind}{u}"] = np.ascontiguousarray(a[:, j], dtype=np.float32)
    return pd.DataFrame(cols)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chars", type=int, default=1_000_000, help="text length to record (default 1M)")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--recording", type=Path, default=None,
                        help="recording folder to reuse, or to record into if it does not exist")
    parser.add_argument("--concept", default="inside_quotes", help="concept to search (default inside_quotes)")
    parser.add_argument("--regex", default=None, help="search this regex instead of the concept")
    parser.add_argument("--repeats", type=int, default=5, help="alternating search / plain read / corrwith rounds (5)")
    parser.add_argument("--corrwith-columns", type=int, default=256,
                        help="columns corrwith is timed on, spread over every (layer, kind); fewer than all "
                             "units: extrapolated linearly (all 2,048 take minutes and 8 GB). Default 256")
    parser.add_argument("--no-corrwith", action="store_true")
    parser.add_argument("--cold", action="store_true",
                        help="also time the search and the plain read from disk (the files evicted from the page "
                             "cache before each)")
    parser.add_argument("--allocator", choices=("steady", "default"), default="steady",
                        help="steady (default): fix glibc malloc's mmap threshold at 32 MB before anything "
                             "runs; default: leave glibc's adaptive threshold (see the module docstring)")
    args = parser.parse_args()
    allocator = steady_allocator() if args.allocator == "steady" else "glibc default (adaptive mmap threshold)"

    work = Path(tempfile.mkdtemp(prefix="charnn-search-bench-"))
    try:
        path = args.recording or work / "rec"
        if not (path / "meta.json").is_file():
            make_recording(path, args.chars, args.layers, args.hidden, work)
        rec = open_recording(path)
        query = {"regex": args.regex} if args.regex else {"concept": args.concept}
        n_units = rec.layers * len(rec.stored_kinds) * rec.hidden
        kernel = "the C kernel" if native.available() else "torch ops (no C kernel: CHARNN_NATIVE=0 or not built)"
        print(f"{rec!r}; {n_units} units; statistics by {kernel}; torch threads {torch.get_num_threads()}; load average "
              f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs; malloc: {allocator}")
        rec.string  # the text is loaded once, outside the timings
        frame = target = None
        if not args.no_corrwith:
            y, _, _ = make_target(rec.string, **query)
            target = pd.Series(y.astype(np.float32))
            frame = corrwith_frame(rec, args.corrwith_columns)
        scale = n_units / frame.shape[1] if frame is not None else 0.0
        for stale in (rec.path / "cache").glob("histograms-*"):
            stale.unlink()
        t_first, c_first, df = timed(lambda: search(rec, progress=False, **query))
        top = df.iloc[0]
        print(f"query {df.attrs['query']}: support {top.support:,} chars; top unit layer {top.layer} {top.kind} "
              f"{top.unit}, AUROC {top.auroc:.3f}, r {top.r:.3f}; chance {df.attrs['baseline']}")
        rows = {"search": [], "plain read": [], "corrwith": [], "search, cold": [], "plain read, cold": []}
        files, block = state_files(rec), bytearray(16 << 20)

        def cold(fn):  # fn from disk: the recording's mapped pages released and the files evicted first
            rec.release()
            evict(files)
            return timed(fn)[:2]
        for _ in range(args.repeats):
            rows["search"].append(timed(lambda: search(rec, progress=False, **query))[:2])
            rows["plain read"].append(timed(lambda: plain_read(files, block))[:2])
            if args.cold:
                rows["search, cold"].append(cold(lambda: search(rec, progress=False, **query)))
                rows["plain read, cold"].append(cold(lambda: plain_read(files, block)))
            if frame is not None:
                wall, cpu, _ = timed(lambda: frame.corrwith(target))
                rows["corrwith"].append((wall * scale, cpu * scale))
        med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
               for k, v in rows.items() if v}
        gb = sum(f.stat().st_size for f in files) / 1e9
        print(f"{'':28s} {'wall s':>8s} {'CPU s':>8s}   (medians of {args.repeats}; every wall time)")
        print(f"{'first search (builds cache)':28s} {t_first:8.2f} {c_first:8.2f}")
        for name, label in (("search", "search"), ("plain read", f"plain read of {gb:.2f} GB"),
                            ("search, cold", "search, from disk"), ("plain read, cold", "plain read, from disk"),
                            ("corrwith", "corrwith (extrapolated)" if scale > 1 else "corrwith")):
            if name in med:
                print(f"{label:28s} {med[name][0]:8.2f} {med[name][1]:8.2f}   {[round(w, 2) for w, _ in rows[name]]}")
        if scale > 1:
            print(f"corrwith timed on {frame.shape[1]} of {n_units} columns each round, times x{scale:.0f} (linear)")
        ratio_read = med["search"][0] / med["plain read"][0]
        print(f"search / plain read   : {ratio_read:6.2f} wall, {med['search'][1] / med['plain read'][1]:6.2f} CPU"
              f"   (target <= 3)  {'PASS' if ratio_read <= 3 else 'FAIL'}")
        if "search, cold" in med:
            ratio_cold = med["search, cold"][0] / med["plain read, cold"][0]
            print(f"from disk: search / plain read: {ratio_cold:6.2f} wall (target <= 3)  "
                  f"{'PASS' if ratio_cold <= 3 else 'FAIL'}")
        if "corrwith" in med:
            ratio_corr = med["corrwith"][0] / med["search"][0]
            print(f"corrwith / search     : {ratio_corr:6.1f} wall, {med['corrwith'][1] / med['search'][1]:6.1f} CPU"
                  f"   (target >= 20) {'PASS' if ratio_corr >= 20 else 'FAIL'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
