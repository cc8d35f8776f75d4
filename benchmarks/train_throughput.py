"""Training throughput of charnn's real training step against a minimal PyTorch reference loop.

What it measures, all in one process (the machine is small and shared: only numbers from the same
run are compared, the two contenders alternate A B | B A | ... in short blocks, and the per-round
ratio of neighbouring blocks is the comparison that survives other jobs' load):

1. A float32 matmul ceiling: best-of-several GFLOP/s of `torch.mm` at the LSTM's shapes (the
   batched input projection (B*T x H) @ (H x 4H), the stacked (B*T x 2H) @ (2H x 4H) and the
   square 2H x 2H of the largest size), torch's default threads; measured at the start and again
   at the end, the ceiling is the best of all.
2. For each size LxH (layers x hidden; embedding 64, seq_len 128 as the trainer defaults, batch 64),
   the chars/s of `charnn.train.Trainer(...).train_step(lr)` and of a reference loop written here
   (nn.Embedding + nn.LSTM + nn.Linear, AdamW, cross entropy, clip_grad_norm_, hidden state
   carried and detached, the same batches in the same order), warmup steps excluded; the median
   per-round ratio charnn/reference, and the achieved GFLOP/s (forward 2*4H*(in+H) per layer per
   char + 2*H*V for the head, training ~3x forward) against the ceiling. The fraction of the
   ceiling uses the best block, as the ceiling is a best-of (the median block is printed beside it).
   Optionally (default on) the largest size again at bigger batches.
3. Quality: the same seed (hence identical initial weights), hyper-parameters, lr schedule
   (warmup + cosine, `charnn.train.lr_at`) and batches for both, N steps at 1x128 interleaved
   step by step, then validation bits per char of each (charnn's `evaluate_bpc` for charnn, an
   independent loop with the same protocol for the reference) and their difference.
4. A summary table and PASS/FAIL per target: ratio >= 0.95 at every size; the largest size
   (2x512) >= 70% of the matmul ceiling; |val bpc difference| <= 0.02. Exit status 1 on a FAIL.

The corpus is ~1.5 MB of the local Python standard library's sources (ASCII files), written to a
temporary folder (nothing is downloaded, nothing is left behind).

    python benchmarks/train_throughput.py                # defaults: ~5 min on a quiet machine;
                                                         # per-size time budgets cap the timing loops
    python benchmarks/train_throughput.py --sizes 1x128 --repeats 10 --quality-steps 100 --sweep-batches ''
    python benchmarks/train_throughput.py --sweep-batches 32,128,256   # GFLOP/s vs batch at 2x512
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import MatmulProbe, alternate, lstm_flops_per_char, matmul_ceiling, median, stdlib_corpus  # noqa: E402

from charnn.train import TrainConfig, Trainer, evaluate_bpc, lr_at  # noqa: E402

LN2 = math.log(2)
EMBED = 64


# --------------------------------------------------------------------------- reference loop
class Reference:
    """The minimal loop charnn's trainer should match: same modules, optimizer and batch layout."""

    def __init__(self, train_ids: np.ndarray, vocab_size: int, layers: int, hidden: int, cfg: TrainConfig):
        torch.manual_seed(cfg.seed)  # same creation order as CharRNN -> same initial weights
        self.embedding = nn.Embedding(vocab_size, EMBED)
        self.lstm = nn.LSTM(EMBED, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab_size)
        self.params = [*self.embedding.parameters(), *self.lstm.parameters(), *self.head.parameters()]
        self.opt = torch.optim.AdamW(self.params, lr=cfg.lr, betas=(0.9, 0.99), weight_decay=cfg.weight_decay)
        self.B, self.T, self.clip, self.V = cfg.batch_size, cfg.seq_len, cfg.clip, vocab_size
        n = (len(train_ids) - 1) // self.B  # stream b reads ids[b*n : (b+1)*n + 1]
        flat = torch.from_numpy(train_ids[: self.B * n + 1].astype(np.int64))
        self.data = flat.as_strided((self.B, n + 1), (n, 1)).contiguous()
        self.n, self.pos, self.state = n, 0, None

    def forward(self, x, state):
        out, state = self.lstm(self.embedding(x), state)
        return self.head(out), state

    def step(self, lr: float) -> None:
        p, T = self.pos, self.T
        x, y = self.data[:, p : p + T], self.data[:, p + 1 : p + T + 1]
        for group in self.opt.param_groups:
            group["lr"] = lr
        logits, state = self.forward(x, self.state)
        loss = F.cross_entropy(logits.reshape(-1, self.V), y.reshape(-1))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.params, self.clip)
        self.opt.step()
        self.pos += T
        if self.pos + T > self.n:  # wrap: new epoch, fresh state
            self.pos, self.state = 0, None
        else:
            self.state = tuple(s.detach() for s in state)

    @torch.no_grad()
    def val_bpc(self, ids: np.ndarray, batch: int = 64, seq_len: int = 256) -> float:
        """Bits per char of `ids` read as `batch` streams with the state carried (charnn's protocol)."""
        batch = min(batch, max(1, (len(ids) - 1) // seq_len))
        n = (len(ids) - 1) // batch
        flat = torch.from_numpy(ids[: batch * n + 1].astype(np.int64))
        data = flat.as_strided((batch, n + 1), (n, 1))
        state, total, count = None, 0.0, 0
        for p in range(0, n, seq_len):
            t = min(seq_len, n - p)
            logits, state = self.forward(data[:, p : p + t], state)
            y = data[:, p + 1 : p + t + 1].reshape(-1)
            total += F.cross_entropy(logits.reshape(-1, self.V), y, reduction="sum").item()
            count += y.numel()
        return total / count / LN2


# --------------------------------------------------------------------------- helpers
def parse_size(text: str) -> tuple[int, int]:
    layers, hidden = text.lower().split("x")
    return int(layers), int(hidden)


def make_pair(corpus: Path, workdir: Path, layers: int, hidden: int, batch: int, seq_len: int,
              max_steps: int, seed: int, tag: str):
    cfg = TrainConfig(corpus=str(corpus), out=str(workdir / f"run-{tag}"), seq_len=seq_len,
                      batch_size=batch, max_steps=max_steps, seed=seed)
    trainer = Trainer(cfg, {"cell": "lstm", "layers": layers, "hidden": hidden, "embed": EMBED})
    trainer.model.train()
    ref = Reference(trainer.splits["train"], len(trainer.vocab), layers, hidden, cfg)
    return cfg, trainer, ref


def throughput(corpus, workdir, layers, hidden, batch, seq_len, block, warmup, rounds, budget_s, seed, tag,
               probe: MatmulProbe | None = None):
    """chars/s of charnn's train_step and the reference step, alternated in blocks of `block` steps;
    with `probe`, a short torch.mm burst is a third contender in every round (GFLOP/s per round)."""
    cfg, trainer, ref = make_pair(corpus, workdir, layers, hidden, batch, seq_len, 10_000, seed, tag)
    lr = lr_at(cfg, cfg.warmup_steps, 0.0)  # peak lr; the value does not change the cost
    for _ in range(warmup):  # excluded from the timing: allocator, oneDNN primitive caches, Adam state
        trainer.train_step(lr)
        ref.step(lr)

    def repeat(step_fn):
        def run():
            for _ in range(block):
                step_fn(lr)
        return run

    contenders = {"charnn": repeat(trainer.train_step), "reference": repeat(ref.step)}
    if probe is not None:
        contenders["matmul"] = probe
    secs = alternate(contenders, rounds, budget_s)
    chars = block * batch * seq_len
    res = {name: [chars / s for s in secs[name]] for name in ("charnn", "reference")}
    ratios = [a / b for a, b in zip(res["charnn"], res["reference"])]
    flops = lstm_flops_per_char(EMBED, hidden, layers, len(trainer.vocab))
    out = {"charnn": median(res["charnn"]), "reference": median(res["reference"]),
           "charnn_best": max(res["charnn"]), "reference_best": max(res["reference"]),
           "ratio": median(ratios), "ratios": ratios, "flops_per_char": flops, "vocab": len(trainer.vocab),
           "raw": res, "block": block, "probe": None}
    if probe is not None:
        probe_gflops = [probe.flop / s / 1e9 for s in secs["matmul"]]
        out["probe"] = probe_gflops
        # fraction of the ceiling paired per round: training and matmul under the same load
        out["paired_frac"] = median([c * flops / 1e9 / g for c, g in zip(res["charnn"], probe_gflops)])
        out["paired_frac_ref"] = median([c * flops / 1e9 / g for c, g in zip(res["reference"], probe_gflops)])
    return out


def quality(corpus, workdir, layers, hidden, batch, seq_len, steps, seed):
    """Train both for `steps` steps, interleaved step by step, then validation bpc of each."""
    cfg, trainer, ref = make_pair(corpus, workdir, layers, hidden, batch, seq_len, steps, seed, "quality")
    same_init = all(torch.equal(a, b) for a, b in zip(trainer.model.parameters(), ref.params))
    seconds = {"charnn": 0.0, "reference": 0.0}

    def charnn_step(lr):
        trainer.train_step(lr)
        trainer.step += 1

    for step in range(steps):
        lr = lr_at(cfg, step, 0.0)
        pair = [("charnn", charnn_step), ("reference", ref.step)]
        for name, fn in (pair if step % 2 == 0 else pair[::-1]):  # A B | B A: neither always goes first
            t0 = time.perf_counter()
            fn(lr)
            seconds[name] += time.perf_counter() - t0
    val = trainer.splits["val"][: cfg.eval_chars]
    bpc_charnn = evaluate_bpc(trainer.model, val)
    bpc_ref = ref.val_bpc(val)
    chars = steps * batch * seq_len
    return {"charnn": bpc_charnn, "reference": bpc_ref, "diff": bpc_charnn - bpc_ref, "same_init": same_init,
            "val_chars": len(val), "cps_charnn": chars / seconds["charnn"], "cps_ref": chars / seconds["reference"]}


# --------------------------------------------------------------------------- main
def quantiles(values) -> list[float]:
    return [float(v) for v in np.quantile(np.asarray(values), [0, 0.25, 0.5, 0.75, 1])]


def gflops(chars_per_s: float, r: dict) -> float:
    return chars_per_s * r["flops_per_char"] / 1e9


def ceiling_shapes(batch: int, seq_len: int, hidden: int) -> list[tuple[int, int, int]]:
    """torch.mm shapes like the LSTM's: the batched input projection (B*T x H) @ (H x 4H), the
    stacked [x; h] product (B*T x 2H) @ (2H x 4H), and the square 2H x 2H."""
    return [(batch * seq_len, hidden, 4 * hidden), (batch * seq_len, 2 * hidden, 4 * hidden),
            (2 * hidden, 2 * hidden, 2 * hidden)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1x128,2x512", help="comma-separated LAYERSxHIDDEN (default 1x128,2x512)")
    ap.add_argument("--batch", type=int, default=64, help="parallel streams (default 64)")
    ap.add_argument("--seq-len", type=int, default=128, help="BPTT window (default 128, the trainer's)")
    ap.add_argument("--steps", default="1", help="training steps per timed block, one value or one per size "
                    "(default 1: neighbouring steps see the same machine load)")
    ap.add_argument("--repeats", default="60,16", help="alternating blocks per contender, one value or one per "
                    "size (default 60,16)")
    ap.add_argument("--budget", default="25,60", help="seconds per size after which no new round starts "
                    "(at least 3 rounds; default 25,60)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps per contender before timing (default 2)")
    ap.add_argument("--quality-steps", type=int, default=300, help="steps of the bpc comparison (0: skip)")
    ap.add_argument("--quality-size", default="1x128", help="size of the bpc comparison (default 1x128)")
    ap.add_argument("--sweep-batches", default="128,256",
                    help="also time the largest size at these batch sizes ('' to skip; default 128,256)")
    ap.add_argument("--sweep-budget", type=float, default=30, help="seconds per sweep batch size (default 30)")
    ap.add_argument("--corpus-bytes", type=int, default=1_500_000)
    ap.add_argument("--seed", type=int, default=1337)
    args = ap.parse_args(argv)

    sizes = [parse_size(s) for s in args.sizes.split(",") if s]
    def per_size(text, kind=int):
        values = [kind(v) for v in text.split(",")]
        return (values + [values[-1]] * len(sizes))[: len(sizes)]

    steps, repeats, budgets = per_size(args.steps), per_size(args.repeats), per_size(args.budget, float)
    sweep_batches = [int(b) for b in args.sweep_batches.split(",") if b]
    start = time.perf_counter()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads (default), oneDNN "
          f"{'on' if torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled else 'off'}, float32")
    print(f"batch {args.batch}, seq_len {args.seq_len}, embed {EMBED}; contenders alternate A B | B A | ... "
          f"in blocks, {args.warmup} untimed warmup steps each first")

    # 1. matmul ceiling, measured at the start and again at the end; the ceiling is the best of all.
    big_h = max(h for _, h in sizes)
    shapes = ceiling_shapes(args.batch, args.seq_len, big_h)
    ceil_start, per_start = matmul_ceiling(shapes)
    print(f"\n[1] matmul ceiling at start: {ceil_start:.1f} GFLOP/s (torch.mm float32, best of 5 x >= 0.25 s; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    # The same square product, timed as a third contender between the steps of the largest size
    # (and of the sweep): samples the ceiling under the load the steps see.
    probe = MatmulProbe(*shapes[-1])

    rows, sweep, q = [], [], None
    with tempfile.TemporaryDirectory(prefix="charnn-bench-") as tmp:
        tmp = Path(tmp)
        corpus = stdlib_corpus(tmp / "stdlib.py.txt", args.corpus_bytes)
        print(f"corpus: {corpus.stat().st_size / 1e6:.2f} MB of Python stdlib sources (temporary file)")

        # 2. throughput
        print("\n[2] training step throughput, chars/s per block (charnn Trainer.train_step vs reference loop)")
        for i, ((layers, hidden), n_steps, n_rounds, budget) in enumerate(zip(sizes, steps, repeats, budgets)):
            last = i == len(sizes) - 1
            r = throughput(corpus, tmp, layers, hidden, args.batch, args.seq_len, n_steps, args.warmup,
                           n_rounds, budget, args.seed, f"{layers}x{hidden}", probe if last else None)
            rows.append(((layers, hidden), r))
            print(f"    {layers}x{hidden} batch {args.batch} (vocab {r['vocab']}, "
                  f"{r['flops_per_char'] / 1e6:.2f} MFLOP/char trained): {len(r['ratios'])} rounds of "
                  f"{n_steps} step(s) per contender{' + a matmul probe' if last else ''}")
            print("      quantiles       min      25%   median      75%      max")
            for name in ("charnn", "reference"):
                print(f"      {name:<9} " + " ".join(f"{v:8.0f}" for v in quantiles(r["raw"][name])) + "  chars/s")
            print("      ratio     " + " ".join(f"{v:8.3f}" for v in quantiles(r["ratios"])))
            if r["probe"]:
                print("      matmul    " + " ".join(f"{v:8.1f}" for v in quantiles(r["probe"])) + "  GFLOP/s")
            print(f"      median: charnn {r['charnn']:.0f} ({gflops(r['charnn'], r):.1f} GFLOP/s), reference "
                  f"{r['reference']:.0f} ({gflops(r['reference'], r):.1f} GFLOP/s); median ratio {r['ratio']:.3f}")
            print(f"      best:   charnn {r['charnn_best']:.0f} ({gflops(r['charnn_best'], r):.1f} GFLOP/s), "
                  f"reference {r['reference_best']:.0f} ({gflops(r['reference_best'], r):.1f} GFLOP/s); "
                  f"ratio of bests {r['charnn_best'] / r['reference_best']:.3f}")

        if sweep_batches:
            layers, hidden = sizes[-1]
            print(f"\n    batch sweep at {layers}x{hidden}, 1 step per block + matmul probe "
                  f"(GFLOP/s best block / median block)")
            for b in sweep_batches:
                r = throughput(corpus, tmp, layers, hidden, b, args.seq_len, 1, 1, 8, args.sweep_budget,
                               args.seed, f"sweep{b}", probe)
                sweep.append((b, r))
                print(f"      batch {b:4d}: charnn {gflops(r['charnn_best'], r):6.1f} / {gflops(r['charnn'], r):6.1f}, "
                      f"reference {gflops(r['reference_best'], r):6.1f} / {gflops(r['reference'], r):6.1f}, "
                      f"matmul best {max(r['probe']):6.1f}; ratio {r['ratio']:.3f} ({len(r['ratios'])} rounds)")

        # 3. quality
        if args.quality_steps:
            ql, qh = parse_size(args.quality_size)
            print(f"\n[3] validation bpc after {args.quality_steps} steps at {ql}x{qh} "
                  f"(seed {args.seed}, batch {args.batch}, warmup + cosine lr, the two interleaved step by step)")
            q = quality(corpus, tmp, ql, qh, args.batch, args.seq_len, args.quality_steps, args.seed)
            print(f"    identical initial weights: {q['same_init']}; {q['val_chars']} validation chars")
            print(f"    charnn {q['charnn']:.4f} bpc, reference {q['reference']:.4f} bpc, diff {q['diff']:+.4f}")
            print(f"    (throughput over this run: charnn {q['cps_charnn']:.0f}, reference {q['cps_ref']:.0f} chars/s)")

    ceil_end, per_end = matmul_ceiling(shapes)
    probes = [g for _, r in rows if r["probe"] for g in r["probe"]] + [g for _, r in sweep for g in r["probe"]]
    ceiling = max([ceil_start, ceil_end] + probes)
    print("\n[1'] matmul ceiling, GFLOP/s at start / end of the run")
    for shape in shapes:
        m, k, n = shape
        print(f"    ({m:5d} x {k:4d}) @ ({k:4d} x {n:4d}): {per_start[shape]:6.1f} / {per_end[shape]:6.1f}")
    if probes:
        print(f"    probe between steps, {shapes[-1][0]}^3: best {max(probes):.1f} of {len(probes)}")
    print(f"    ceiling = best of all: {ceiling:.1f} GFLOP/s (load average now {os.getloadavg()[0]:.1f})")

    # 4. summary
    print(f"\n[4] summary: batch {args.batch}, seq_len {args.seq_len}, matmul ceiling {ceiling:.1f} GFLOP/s")
    print("    c/s = median block; ratio = median over rounds of charnn/reference; GF/s and %ceil = best block "
          "(least disturbed, like the best-of ceiling)\n    against the ceiling; 'paired' = median over rounds of "
          "GF/s / the matmul probe of the same round")
    print(f"    {'size':>6} {'batch':>5} {'rounds':>6} {'charnn c/s':>11} {'ref c/s':>9} {'ratio':>6} "
          f"{'charnn GF/s':>12} {'%ceil':>6} {'paired':>6} {'ref GF/s':>9} {'%ceil':>6} {'paired':>6}")

    def line(size, b, r):
        gc, gr = gflops(r["charnn_best"], r), gflops(r["reference_best"], r)
        pc = f"{r['paired_frac']:6.0%}" if r["probe"] else f"{'':6}"
        pr = f"{r['paired_frac_ref']:6.0%}" if r["probe"] else f"{'':6}"
        print(f"    {size:>6} {b:5d} {len(r['ratios']):6d} {r['charnn']:11.0f} {r['reference']:9.0f} "
              f"{r['ratio']:6.3f} {gc:12.1f} {gc / ceiling:6.0%} {pc} {gr:9.1f} {gr / ceiling:6.0%} {pr}")

    for (layers, hidden), r in rows:
        line(f"{layers}x{hidden}", args.batch, r)
    for b, r in sweep:
        line(f"{sizes[-1][0]}x{sizes[-1][1]}", b, r)
    if q:
        print(f"    val bpc after {args.quality_steps} steps at {args.quality_size}: charnn {q['charnn']:.4f}, "
              f"reference {q['reference']:.4f}, diff {q['diff']:+.4f}")

    ok_all = True

    def verdict(ok: bool, text: str) -> None:
        nonlocal ok_all
        ok_all &= ok
        print(f"{'PASS' if ok else 'FAIL'}  {text}")

    print()
    for (layers, hidden), r in rows:
        verdict(r["ratio"] >= 0.95, f"{layers}x{hidden} batch {args.batch}: charnn/reference throughput "
                                    f"{r['ratio']:.3f} >= 0.95")
    (layers, hidden), r = rows[-1]
    frac = gflops(r["charnn_best"], r) / ceiling
    if frac > 1.0:  # the ceiling was never measured undisturbed: no verdict can be trusted
        verdict(False, f"{layers}x{hidden}: training beat the matmul ceiling ({frac:.0%}): the machine was too "
                       f"busy for an honest ceiling, rerun when it is quieter")
    else:
        verdict(frac >= 0.70, f"{layers}x{hidden} batch {args.batch}: charnn {gflops(r['charnn_best'], r):.1f} "
                              f"GFLOP/s = {frac:.0%} of the {ceiling:.1f} GFLOP/s matmul ceiling >= 70%")
    if sweep:
        reached = [b for b, rs in sweep if gflops(rs["charnn_best"], rs) / ceiling >= 0.70]
        best_b, best_r = max(sweep + [(args.batch, r)], key=lambda br: gflops(br[1]["charnn_best"], br[1]))
        print(f"      batch sweep: charnn reaches 70% at batch {reached[0]}" if reached else
              f"      batch sweep: charnn stays below 70% at batches {', '.join(map(str, sweep_batches))}; best: "
              f"batch {best_b}, {gflops(best_r['charnn_best'], best_r) / ceiling:.0%}")
    if q:
        verdict(abs(q["diff"]) <= 0.02, f"{args.quality_size}: |val bpc diff| {abs(q['diff']):.4f} <= 0.02")
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
