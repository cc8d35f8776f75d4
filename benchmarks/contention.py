"""Training throughput when other work shares the cores: training alone, beside a busy
single-thread process, and beside a second training, in one run; printed as ratios to alone.

    .venv/bin/python benchmarks/contention.py                       # about 2 minutes: 20 s per condition
    .venv/bin/python benchmarks/contention.py --seconds 10 --policy active   # OpenMP's spinning default
    .venv/bin/python benchmarks/contention.py --seconds 10 --policy all      # charnn's, passive and active

Each training is its own process started the way `charnn train` starts (charnn.threads sets torch's
threads and the OpenMP wait policy), a 1x256 LSTM with the demo's batch (32 x 128 characters), timed
over the same window as the work beside it: every process warms up, says it is ready, and starts its
clock on one signal. "--policy active" overrides charnn's setting with OMP_WAIT_POLICY=ACTIVE (and
CHARNN_THREADS=all cores), the behaviour without charnn.threads, to show what the setting buys;
"--policy passive" with OMP_WAIT_POLICY=PASSIVE (no spinning at all).
Target: beside a second training each keeps >= 0.4x its solo throughput (0.5x is a fair share).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def worker(out: str, seconds: float) -> None:
    """One training: warm up, print "ready", wait for a line on stdin, train `seconds`, print steps/s."""
    import charnn.cli  # noqa: F401 - what `charnn train` imports first: sets the threads up
    from charnn.corpus_store import corpora_dir
    from charnn.train import TrainConfig, Trainer

    corpus = Path(out) / "corpus.txt"
    corpus.parent.mkdir(parents=True, exist_ok=True)
    corpus.write_text((corpora_dir() / "austen" / "02-pride-and-prejudice.txt").read_text()[:300_000])
    cfg = TrainConfig(corpus=str(corpus), out=str(Path(out) / "run"), seq_len=128, batch_size=32, max_steps=10 ** 9,
                      eval_every=10 ** 9, device="cpu")
    trainer = Trainer(cfg, dict(layers=1, hidden=256))
    trainer.model.train()
    for _ in range(3):
        trainer.train_step(cfg.lr)
    print("ready", flush=True)
    sys.stdin.readline()
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        trainer.train_step(cfg.lr)
        steps += 1
    print(json.dumps({"steps_per_s": steps / (time.perf_counter() - t0)}), flush=True)


def trainings(root: Path, n: int, seconds: float, env: dict, busy: bool = False) -> list[float]:
    """Steps/s of `n` trainings run at once (with a busy single-thread process beside them if asked)."""
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", str(root / f"t{time.monotonic_ns()}-{i}"),
                               "--seconds", str(seconds)], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True) for i in range(n)]
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        for p in procs:
            if p.stdout.readline().strip() != "ready":
                raise SystemExit("a training worker failed to start")
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        return [json.loads(p.stdout.readline())["steps_per_s"] for p in procs]
    finally:
        for p in procs + ([spinner] if spinner else []):
            p.kill()
            p.wait()


def measure(seconds: float, env: dict) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix="charnn-contention-") as tmp:
        root = Path(tmp)
        return {"alone": trainings(root, 1, seconds, env),
                "beside a busy process": trainings(root, 1, seconds, env, busy=True),
                "beside a second training": trainings(root, 2, seconds, env)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="training window per condition (default 20)")
    parser.add_argument("--policy", choices=["charnn", "active", "passive", "both", "all"], default="charnn",
                        help="charnn's thread settings, OpenMP's spinning default, or both (default: charnn)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.seconds)
    print(f"cores this process may use: {len(os.sched_getaffinity(0))}; load average {os.getloadavg()[0]:.1f}")
    chosen = {"both": ["charnn", "active"], "all": ["charnn", "passive", "active"]}.get(args.policy, [args.policy])
    for policy in chosen:
        env = {k: v for k, v in os.environ.items()
               if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "CHARNN_THREADS")}
        if policy == "active":
            env.update(OMP_WAIT_POLICY="ACTIVE", CHARNN_THREADS=str(len(os.sched_getaffinity(0))))
        if policy == "passive":
            env.update(OMP_WAIT_POLICY="PASSIVE")
        t0 = time.perf_counter()
        result = measure(args.seconds, env)
        solo = result["alone"][0]
        print(f"\n{policy} ({time.perf_counter() - t0:.0f} s):")
        print(f"  {'condition':<26} {'steps/s':>14} {'x alone':>12}")
        for name, rates in result.items():
            print(f"  {name:<26} {' / '.join(f'{r:.2f}' for r in rates):>14} "
                  f"{' / '.join(f'{r / solo:.2f}' for r in rates):>12}")


if __name__ == "__main__":
    main()
