"""Small shared helpers for the benchmarks: a matmul ceiling, alternating timed runs, FLOP counts,
a throw-away corpus built from the local Python standard library.

The machine is small and shared (2 cores, other jobs running), so every comparison here runs in one
process, alternates its contenders (A B A B ...) and reports medians; absolute numbers are only
meaningful next to a ceiling measured in the same run.
"""

from __future__ import annotations

import statistics
import sysconfig
import time
from pathlib import Path

import torch


def median(values) -> float:
    return statistics.median(values)


def matmul_gflops(m: int, k: int, n: int, repeats: int = 5, min_seconds: float = 0.25) -> float:
    """Best-of-`repeats` float32 GFLOP/s of torch.mm (m x k) @ (k x n), torch's default threads.

    Each repeat runs the product back to back for at least `min_seconds`; the best repeat is the
    least disturbed by other processes, which is what a ceiling should be.
    """
    a, b = torch.randn(m, k), torch.randn(k, n)
    out = torch.empty(m, n)
    for _ in range(3):  # warm up caches and the BLAS thread pool
        torch.mm(a, b, out=out)
    flops = 2.0 * m * k * n
    best = 0.0
    for _ in range(repeats):
        count, t0 = 0, time.perf_counter()
        while True:
            torch.mm(a, b, out=out)
            count += 1
            dt = time.perf_counter() - t0
            if dt >= min_seconds:
                break
        best = max(best, flops * count / dt / 1e9)
    return best


class MatmulProbe:
    """A fixed amount of torch.mm work, to time as one more contender between training steps: the
    ceiling is then sampled under the same machine load as the steps it is compared with."""

    def __init__(self, m: int, k: int, n: int, seconds: float = 0.15):
        self.a, self.b, self.out = torch.randn(m, k), torch.randn(k, n), torch.empty(m, n)
        self.flop_per_mm = 2.0 * m * k * n
        for _ in range(3):
            torch.mm(self.a, self.b, out=self.out)
        t0 = time.perf_counter()
        torch.mm(self.a, self.b, out=self.out)
        self.count = max(1, round(seconds / max(time.perf_counter() - t0, 1e-6)))
        self.flop = self.flop_per_mm * self.count

    def __call__(self) -> None:
        for _ in range(self.count):
            torch.mm(self.a, self.b, out=self.out)


def matmul_ceiling(shapes, repeats: int = 5) -> tuple[float, dict]:
    """The best GFLOP/s over `shapes` [(m, k, n), ...] and the per-shape results."""
    results = {shape: matmul_gflops(*shape, repeats=repeats) for shape in shapes}
    return max(results.values()), results


def alternate(contenders: dict, rounds: int, budget_s: float | None = None, min_rounds: int = 3) -> dict:
    """Time each zero-argument callable once per round, A B | B A | A B ...; {name: [seconds]}.

    The order flips every round, so each pair of neighbouring runs sees nearly the same machine
    (the per-round ratio is then the robust comparison on a shared, noisy box), and neither side
    always runs right after the other. Stops after `rounds`, or earlier once `budget_s` seconds
    have passed and at least `min_rounds` rounds are done.
    """
    names = list(contenders)
    results = {name: [] for name in names}
    start = time.perf_counter()
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            t0 = time.perf_counter()
            contenders[name]()
            results[name].append(time.perf_counter() - t0)
        if budget_s is not None and r + 1 >= min_rounds and time.perf_counter() - start > budget_s:
            break
    return results


def lstm_flops_per_char(embed: int, hidden: int, layers: int, vocab: int, training: bool = True) -> float:
    """Matmul FLOPs per character: 2*4H*(in+H) per LSTM layer + 2*H*V for the head; x3 to train."""
    forward = 0.0
    width = embed
    for _ in range(layers):
        forward += 2 * 4 * hidden * (width + hidden)
        width = hidden
    forward += 2 * hidden * vocab
    return 3 * forward if training else forward


def stdlib_corpus(path: Path, target_bytes: int = 1_500_000) -> Path:
    """Write ~`target_bytes` of the local Python standard library's sources (ASCII files only,
    sorted by name, so the same installation always gives the same text) into `path`."""
    root = Path(sysconfig.get_paths()["stdlib"])
    pieces, size = [], 0
    for f in sorted(root.glob("*.py")):
        data = f.read_bytes()
        if not data.isascii() or b"\x00" in data:
            continue
        pieces.append(data)
        size += len(data)
        if size >= target_bytes:
            break
    if size < target_bytes // 2:
        raise RuntimeError(f"only {size} bytes of Python sources found under {root}")
    path.write_bytes(b"\n".join(pieces))
    return path
