"""Training throughput with torchrun (DistributedDataParallel, gloo) on 1 and 2 processes.

    .venv/bin/python benchmarks/ddp_throughput.py                  # 1x256 LSTM, 60 steps each (~3 min on 2 cores)
    .venv/bin/python benchmarks/ddp_throughput.py --steps 200 --layers 2

The same run (Austen, --batch-size 32 streams of 128 characters, one torch thread per process)
trained for --steps steps by one process and by `torch.distributed.run --nproc_per_node 2`
(each rank 16 of the 32 streams): characters per second of the global batch, the median of the
steps after the first 10 (metrics.csv), and the ratio of 2 processes to 1. Both runs are
launched from this process one after the other.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def train(out: Path, processes: int, steps: int, layers: int, hidden: int) -> float:
    """Median chars/s (global batch) over steps 10.. of a fresh run."""
    shutil.rmtree(out, ignore_errors=True)
    launcher = [sys.executable, "-m", "charnn"] if processes == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes), "-m", "charnn"]
    flags = ["train", "austen", "--out", str(out), "--layers", str(layers), "--hidden", str(hidden),
             "--batch-size", "32", "--seq-len", "128", "--max-steps", str(steps), "--eval-every", str(steps),
             "--threads", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([*launcher, *flags], check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with open(out / "metrics.csv") as f:
        speeds = [float(row["chars_per_s"]) for row in csv.DictReader(f) if row.get("chars_per_s")]
    return statistics.median(speeds[10:] or speeds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--hidden", type=int, default=256)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="charnn-ddp-"))
    try:
        one = train(work / "one", 1, args.steps, args.layers, args.hidden)
        two = train(work / "two", 2, args.steps, args.layers, args.hidden)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{args.layers}x{args.hidden} LSTM, global batch 32 x 128 characters, {args.steps} steps, 1 thread per process")
    print(f"  1 process    {one / 1e3:7.1f}k chars/s")
    print(f"  2 processes  {two / 1e3:7.1f}k chars/s  ({two / one:.2f}x; {two / 2 / 1e3:.1f}k chars/s per process)")


if __name__ == "__main__":
    main()
