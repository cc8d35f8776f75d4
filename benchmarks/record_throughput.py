"""Recording speed against plain inference, disk use, peak memory against text length, and window reads.

    .venv/bin/python benchmarks/record_throughput.py                      # everything (10^7 chars: ~15 min, 11 GB of disk)
    .venv/bin/python benchmarks/record_throughput.py --quick              # 200k chars, 10^6 for the memory test
    .venv/bin/python benchmarks/record_throughput.py --work /tmp/rt --keep   # keep the recordings
                                                                             # (search_speed.py reuses the big one)

The models are `--work`'s run-2x256 and run-1x256 where they are run folders (links to trained runs,
as docs/recording.md's figures used), else LSTMs with random weights made there.

1. Speed, a 2x256 LSTM over --chars characters of the bundled Austen novels
   (repeated), 256 streams, float16, alternating rounds in one process (medians):
   - plain inference: `nn.LSTM` plus the output layer and log-softmax over the same text as the
     same number of parallel streams, run two ways: with torch's own threads, and as two threads
     that each run torch single-threaded on half of the streams (as the recorder runs); the faster
     of the two is the baseline;
   - record c,h (the default), which serves every kind (the gates are derived on read): target >= 0.7x plain;
   - record with --kinds i,f,g,o,c,h, every kind materialised as Parquet (three times the bytes).
   Serving all kinds is the c,h recording itself (ratio 1 by construction); the materialised one
   is printed against it.
2. Disk use of the c,h float16 recording: its state files and the whole folder against the raw
   size of its states (characters x layers x 2 kinds x units x 2 bytes): target <= 1.1x.
3. Peak RSS of a c,h recording of a 1x256 model of --chars-small and of --big characters, each in a
   fresh subprocess (its VmHWM from /proc/self/status at the end): target big / small <= 1.2.
4. On the --big recording: median time to read one unit over a 5,000-character window (target
   <= 50 ms) and a derived gate (f) of all 256 units over 5,000 characters (target <= 100 ms),
   at 50 random positions, the reader opened once.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from charnn.corpus import load_corpus
from charnn.model import CharRNN, ModelConfig
from charnn.recording import open_recording, record
from charnn.run import create_run, load_run


def bench_text(n_chars: int, folder: Path) -> Path:
    """The bundled Austen novels repeated up to n_chars, as one file."""
    path = folder / f"text-{n_chars}.txt"
    if not path.exists():
        text = "".join(d.text for d in load_corpus("austen").documents)
        path.write_text((text * (n_chars // len(text) + 1))[:n_chars])
    return path


def make_run(folder: Path, layers: int, hidden: int) -> Path:
    if (folder / "config.json").exists():
        return folder
    vocab = load_corpus("austen").build_vocab()
    torch.manual_seed(0)
    return create_run(folder, CharRNN(ModelConfig(vocab_size=len(vocab), layers=layers, hidden=hidden)).eval(), vocab)


@torch.no_grad()
def plain_inference(run: Path, text: Path, streams: int, threads: int = 1, window: int = 128) -> float:
    """Seconds of nn.LSTM over the text as `streams` contiguous streams, logits and log-softmax
    included: with torch's own threads (threads=1), or split over `threads` threads that each run
    torch single-threaded on their share of the streams (as the recorder does)."""
    r = load_run(run)
    ids = torch.from_numpy(r.vocab.encode(text.read_text())).long()
    n = len(ids) // streams
    data = ids[: n * streams].view(streams, n)  # (B, n)

    @torch.no_grad()
    def streams_of(rows: slice) -> None:
        if threads > 1:
            torch.set_num_threads(1)
        state = None
        for s in range(0, n, window):
            logits, state = r.model(data[rows, s : s + window], state)
            torch.log_softmax(logits, -1)
    t0 = time.perf_counter()
    if threads == 1:
        streams_of(slice(None))
    else:
        bounds = [streams * i // threads for i in range(threads + 1)]
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(streams_of, [slice(a, b) for a, b in zip(bounds, bounds[1:])]))
    return (time.perf_counter() - t0) * len(ids) / (n * streams)


def recording_seconds(run: Path, text: Path, out: Path, kinds: str, streams: int) -> float:
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    record(run, str(text), kinds=kinds, streams=streams, out=out, progress=False)
    return time.perf_counter() - t0


def folder_bytes(path: Path, pattern: str = "**/*") -> int:
    return sum(f.stat().st_size for f in path.glob(pattern) if f.is_file())


RSS_CHILD = """
import re, sys
from charnn.recording import record
record(sys.argv[1], sys.argv[2], out=sys.argv[3], progress=False)
print(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
"""


def peak_rss_mb(run: Path, text: Path, out: Path) -> float:
    """Peak RSS of one recording in a fresh subprocess, as it reports it (VmHWM: a child's
    ru_maxrss would start from its parent's RSS at the fork)."""
    shutil.rmtree(out, ignore_errors=True)
    done = subprocess.run([sys.executable, "-c", RSS_CHILD, str(run), str(text), str(out)], check=True,
                          capture_output=True, text=True)
    return int(done.stdout.split()[-1]) / 1024


def window_reads(path: Path, repeats: int = 50) -> tuple[float, float]:
    """Median seconds: one stored unit over 5,000 characters; all units of a derived gate over 5,000."""
    rec = open_recording(path)
    rng = random.Random(0)
    one, gate = [], []
    for _ in range(repeats):
        start = rng.randrange(0, rec.n_chars - 5000)
        t0 = time.perf_counter()
        rec.activations(0, "c", units=[rng.randrange(rec.hidden)], start=start, stop=start + 5000)
        one.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        rec.activations(0, "f", start=start, stop=start + 5000)
        gate.append(time.perf_counter() - t0)
    return statistics.median(one), statistics.median(gate)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chars", type=int, default=1_000_000, help="text length for the speed test (2x256)")
    parser.add_argument("--streams", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2, help="alternating speed rounds")
    parser.add_argument("--chars-small", type=int, default=1_000_000, help="the smaller memory test (1x256)")
    parser.add_argument("--big", type=int, default=10_000_000, help="the bigger memory test and window reads")
    parser.add_argument("--quick", action="store_true", help="200k chars for speed, 10^6 for the big recording")
    parser.add_argument("--work", type=Path, default=None, help="folder for runs and recordings (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the recordings made (and a temporary --work)")
    parser.add_argument("--skip-speed", action="store_true", help="only the memory test and window reads")
    parser.add_argument("--skip-scale", action="store_true", help="only the speed test and disk use")
    args = parser.parse_args()
    if args.quick:
        args.chars, args.repeats, args.chars_small, args.big = 200_000, 1, 200_000, 1_000_000
    work = args.work or Path(tempfile.mkdtemp(prefix="charnn-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results = {"machine": f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
                          f"load average {os.getloadavg()[0]:.1f}"}
    try:
        if not args.skip_speed:
            run, text = make_run(work / "run-2x256", 2, 256), bench_text(args.chars, work)
            times = {"plain torch threads": [], "plain 2 threads": [], "c,h": [], "i,f,g,o,c,h": []}
            for _ in range(args.repeats):
                times["plain torch threads"].append(plain_inference(run, text, args.streams))
                times["plain 2 threads"].append(plain_inference(run, text, args.streams, threads=2))
                for kinds in ("c,h", "i,f,g,o,c,h"):
                    times[kinds].append(recording_seconds(run, text, work / f"rec-{kinds}", kinds, args.streams))
            med = {k: statistics.median(v) for k, v in times.items()}
            med["plain"] = min(med["plain torch threads"], med["plain 2 threads"])
            raw = args.chars * 2 * 2 * 256 * 2
            states, folder = folder_bytes(work / "rec-c,h", "states/**/*.parquet"), folder_bytes(work / "rec-c,h")
            print(f"2x256 LSTM, {args.chars:,} chars, {args.streams} streams, {results['machine']}")
            for name, label in (("plain torch threads", "plain nn.LSTM, torch's threads"),
                                ("plain 2 threads", "plain nn.LSTM, 2 x 1-thread"), ("c,h", "record c,h (serves all kinds)"),
                                ("i,f,g,o,c,h", "record, all kinds as Parquet")):
                print(f"{label:32s} {args.chars / med[name]:>9,.0f} chars/s  {[round(t, 1) for t in times[name]]} s")
            ratio, ratio_all = med["plain"] / med["c,h"], med["c,h"] / med["i,f,g,o,c,h"]
            rounds = [round(min(a, b) / c, 2)
                      for a, b, c in zip(times["plain torch threads"], times["plain 2 threads"], times["c,h"])]
            print(f"c,h / the faster plain inference: {ratio:.2f} (target >= 0.70) {verdict(ratio >= 0.7)}; "
                  f"per round {rounds}")
            print("all kinds served / c,h: 1.00 (the same recording: gates are derived on read)")
            print(f"all kinds materialised / c,h: {ratio_all:.2f} (writes 3x the bytes)")
            print(f"disk: c,h state files {states / raw:.3f}x their raw size, whole folder {folder / raw:.3f}x "
                  f"(target <= 1.10) {verdict(folder / raw <= 1.1)}")
            results.update(ratio_c_h=ratio, ratio_all_materialised=ratio_all, disk_states=states / raw,
                           disk_folder=folder / raw)
            if not args.keep:
                for kinds in ("c,h", "i,f,g,o,c,h"):
                    shutil.rmtree(work / f"rec-{kinds}")
        if args.skip_scale:
            print(json.dumps(results))
            return
        run = make_run(work / "run-1x256", 1, 256)
        small = peak_rss_mb(run, bench_text(args.chars_small, work), work / "rss-small")
        shutil.rmtree(work / "rss-small")
        big_path = work / f"rec-1x256-{args.big}"
        big = peak_rss_mb(run, bench_text(args.big, work), big_path)
        print(f"peak RSS, 1x256 c,h: {args.chars_small:,} chars {small:,.0f} MB, {args.big:,} chars {big:,.0f} MB, "
              f"ratio {big / small:.2f} (target <= 1.2) {verdict(big / small <= 1.2)}")
        one, gate = window_reads(big_path)
        print(f"{args.big:,}-char recording: one unit over 5,000 chars {one * 1000:.1f} ms (target <= 50) "
              f"{verdict(one <= 0.05)}; a derived gate, 256 units x 5,000 chars {gate * 1000:.1f} ms "
              f"(target <= 100) {verdict(gate <= 0.1)}")
        results.update(rss_small_mb=small, rss_big_mb=big, rss_ratio=big / small, window_ms=one * 1000,
                       gate_window_ms=gate * 1000, big_recording=str(big_path))
        print(json.dumps(results))
    finally:
        if args.work is None and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        elif not args.keep:  # a folder of the user's: only the recordings made here go
            for made in [*work.glob("rec-*"), *work.glob("rss-*")]:
                shutil.rmtree(made, ignore_errors=True)


if __name__ == "__main__":
    main()
