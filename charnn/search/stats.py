"""Mergeable streaming statistics of U units against K per-character targets.

    s = StreamStats(lo, hi, binary=[True, False])   # per-unit ranges (U,), one flag per target
    for X, T in chunks:                             # X (n, U) float32, T (n, K) float32
        s.update(X, T)
    total = s.merge(other)                          # exact: counts and sums just add
    out = s.finalize()                              # dict of (U, K) arrays: r, auroc, d, f1, ...

Sufficient statistics: count, per-unit sum and sum of squares, per-target sums, cross
products X^T T, and for binary targets per-unit histograms (all characters, and positives of
each target) over `bins` equal bins of [lo, hi]. Everything the search reports follows:
Pearson r (point-biserial for 0/1 targets), Cohen's d (pooled within-group variance from the
total/between decomposition), AUROC (Mann-Whitney from the histograms, ties within a bin count
one half) and the best F1 over the bin edges. Histogram-derived numbers are exact up to the bin
width (AUROC within ~1e-3 of scikit-learn on real float16 recordings); r and d are exact up to
float32 rounding inside each chunk's products (~1e-7). Merging adds counts, so histograms merge
exactly whatever the chunking.

Speed (2 cores, measured on a busy machine, so read the ratios): one update works through
tiles of 8192 rows x 16 units, so each tile is read from memory once and every pass after that
(centring, float32 matmul against [1, T] summed in float64 across tiles, sum of squares, bin
index, one torch.bincount over `unit*G*bins + group*bins + bin`) runs on a cached copy; the positives of
up to two binary targets (a search and its baseline) are counted in that same bincount by
offsetting the index by the target bits (G = 4 groups). For a (65536, 1024) chunk the histogram
took 306 ms in 16-unit blocks against 617 ms as one bincount over the whole chunk (np.bincount
786, scatter_add_ 794, index_add_ 1022, a torch.histc loop over units ~1230), all single-threaded.
torch runs single-threaded inside an update and the blocks are shared by two Python threads.
"""

from __future__ import annotations

import contextlib
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

ROW_BLOCK = 8192  # rows per tile: a (8192, 16) float32 tile (512 KB) stays in cache for every pass
UNIT_BLOCK = 16  # units per tile: 64 bytes, one cache line, per row of the chunk
MAX_WORKERS = 2  # threads for the histogram blocks (at most torch's own thread count)
JOINT_MAX = 2  # up to this many binary targets share one bincount pass (2**k index groups)


@contextlib.contextmanager
def _threads_per_op(k: int):
    """Run torch ops single-threaded and parallelise over unit blocks instead; yields the worker count.

    An update is hundreds of small ops; with torch's own threads each one waits at a barrier,
    and when another process held a core that made a chunk 5x slower here (0.5 s -> 2.7 s).
    torch's thread count is process-wide, so other threads' torch work is single-threaded
    meanwhile; it is restored on exit.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(k)
    try:
        yield max(1, min(before, MAX_WORKERS))
    finally:
        torch.set_num_threads(before)


class StreamStats:
    def __init__(self, lo, hi, binary, bins: int = 256):
        lo = np.asarray(lo, np.float64)
        hi = np.asarray(hi, np.float64)
        bad = ~(np.isfinite(lo) & np.isfinite(hi) & (hi > lo))
        self.lo = np.where(bad, np.nan_to_num(lo) - 0.5, lo)  # (U,) a constant unit gets a unit-wide range
        self.hi = np.where(bad, np.nan_to_num(lo) + 0.5, hi)  # (U,)
        self.binary = np.asarray(binary, bool)  # (K,)
        self.bins = int(bins)
        U, K, Kb = self.lo.size, self.binary.size, int(self.binary.sum())
        self.n = 0
        self._shift32 = torch.from_numpy(((self.lo + self.hi) / 2).astype(np.float32))  # (U,)
        self.shift = self._shift32.double().numpy()  # sums are about the range midpoint (accuracy)
        self.sx = np.zeros(U)  # sum of (x - shift)
        self.sxx = np.zeros(U)  # sum of (x - shift)^2
        self.sxt = np.zeros((U, K))  # sum of (x - shift) * t
        self.st = np.zeros(K)
        self.stt = np.zeros(K)
        self.nnz = np.zeros(K, np.int64)  # characters where the target is non-zero
        self.hist_all = np.zeros((U, self.bins), np.int64) if Kb else None
        self.hist_pos = np.zeros((Kb, U, self.bins), np.int64) if Kb else None

    # ---------------------------------------------------------------- update
    def update(self, X: np.ndarray, T: np.ndarray) -> None:
        """Add a chunk: X (n, U) activations, T (n, K) or (n,) targets (binary ones 0/1)."""
        X = np.ascontiguousarray(X, np.float32)
        T = np.ascontiguousarray(T, np.float32).reshape(len(X), -1)
        n, U = X.shape
        assert U == self.lo.size and T.shape[1] == self.binary.size, \
            f"chunk has {U} units x {T.shape[1]} targets, stats expect {self.lo.size} x {self.binary.size}"
        if n == 0:
            return
        with warnings.catch_warnings():  # read-only arrays (Arrow buffers, memory maps) are only read
            warnings.simplefilter("ignore", UserWarning)
            x = torch.from_numpy(X)  # (n, U)
        T1 = torch.ones(n, T.shape[1] + 1)  # (n, 1 + K): the ones column gives the plain sums
        T1[:, 1:] = torch.from_numpy(T)
        m = torch.zeros(U, T1.shape[1], dtype=torch.float64)  # (U, 1 + K) sums of x and of x * t
        sq = torch.zeros(U, dtype=torch.float64)  # (U,) sums of x^2
        plan = self._hist_plan(T[:, self.binary]) if self.hist_all is not None else None

        def block(u: int) -> None:  # units u..u+w, tile by tile: each tile is read once, then cached
            us, counts = slice(u, u + UNIT_BLOCK), None
            for b in range(0, n, ROW_BLOCK):
                xc = x[b:b + ROW_BLOCK, us] - self._shift32[us]  # (nb, w) centred copy
                m[us] += (xc.T @ T1[b:b + ROW_BLOCK]).double()  # float32 per tile, float64 across
                sq_tile = (xc * xc).sum(0)
                if not torch.isfinite(sq_tile).all():
                    bad = (u + torch.nonzero(~torch.isfinite(sq_tile))[:, 0]).tolist()
                    raise ValueError(f"units {bad} have NaN or infinite activations: the recording is not usable")
                sq[us] += sq_tile.double()
                if plan is not None:
                    counts = self._count_tile(xc, u, b, plan, counts)
            if plan is not None:
                self._store_counts(counts, u, plan)

        with _threads_per_op(1) as workers, ThreadPoolExecutor(workers) as pool:
            list(pool.map(block, range(0, U, UNIT_BLOCK)))  # blocks own disjoint units: no races
        self.sx += m[:, 0].numpy()
        self.sxt += m[:, 1:].numpy()
        self.sxx += sq.numpy()
        self.n += n
        self.st += T.sum(0, dtype=np.float64)
        self.stt += np.einsum("nk,nk->k", T, T, dtype=np.float64)
        self.nnz += np.count_nonzero(T, axis=0)

    def _hist_plan(self, Tb: np.ndarray) -> dict:
        """Per-chunk histogram settings: bin scale, and how positives are counted."""
        scale = self.bins / (self.hi - self.lo)  # (U,) bins per activation unit
        plan = {"scale": torch.from_numpy(scale.astype(np.float32)),
                "beta": torch.from_numpy(((self.shift - self.lo) * scale).astype(np.float32))}
        pos = Tb > 0.5  # (n, Kb)
        if pos.shape[1] <= JOINT_MAX:  # one pass: bin index offset by the target bits
            code = pos @ (1 << np.arange(pos.shape[1]))  # (n,)
            plan["groups"] = 1 << pos.shape[1]
            plan["row_off"] = torch.from_numpy((code * self.bins).astype(np.int32))[:, None]  # (n, 1)
        else:  # all characters, then the rarer side of each target (the other is all minus it)
            plan["groups"] = 1
            plan["flip"] = pos.mean(0) > 0.5  # (Kb,)
            plan["rows"] = torch.from_numpy(pos != plan["flip"])  # (n, Kb) the rows to count
        return plan

    def _count_tile(self, xc: torch.Tensor, u: int, b: int, plan: dict, counts):
        """Add the bin counts of one tile (xc (nb, w) centred, rows b.., units u..) to counts."""
        (nb, w), B, G = xc.shape, self.bins, plan["groups"]
        f = torch.addcmul(plan["beta"][u:u + w], xc, plan["scale"][u:u + w])  # (nb, w) (x - lo) * scale
        f.clamp_(0, B - 1)
        idx = f.to(torch.int32)  # (nb, w) bin; offsets are added as integers so both paths bin alike
        idx.add_(torch.arange(w, dtype=torch.int32) * (G * B))  # unit j owns counters j*G*B ...
        if "row_off" in plan:
            idx.add_(plan["row_off"][b:b + nb])  # ... and group g (the target bits) of unit j: + g*B
            c = [torch.bincount(idx.view(-1), minlength=w * G * B)]
        else:
            rows = plan["rows"][b:b + nb]  # (nb, Kb)
            c = [torch.bincount(idx.view(-1), minlength=w * B)]
            c += [torch.bincount(idx[rows[:, j]].view(-1), minlength=w * B) for j in range(rows.shape[1])]
        return c if counts is None else [a.add_(d) for a, d in zip(counts, c)]

    def _store_counts(self, counts: list, u: int, plan: dict) -> None:
        w, B, G = counts[0].numel() // (plan["groups"] * self.bins), self.bins, plan["groups"]
        if "row_off" in plan:
            joint = counts[0].view(w, G, B).numpy()  # (w, groups, B)
            self.hist_all[u:u + w] += joint.sum(1)
            for j in range(self.hist_pos.shape[0]):
                self.hist_pos[j, u:u + w] += joint[:, ((np.arange(G) >> j) & 1).astype(bool)].sum(1)
            return
        h_all = counts[0].view(w, B).numpy()
        self.hist_all[u:u + w] += h_all
        for j, (h, flip) in enumerate(zip(counts[1:], plan["flip"])):
            h = h.view(w, B).numpy()
            self.hist_pos[j, u:u + w] += h_all - h if flip else h

    # ---------------------------------------------------------------- merge
    def merge(self, other: "StreamStats") -> "StreamStats":
        """Add other's statistics into self (exact); returns self."""
        assert self.bins == other.bins and np.array_equal(self.binary, other.binary) \
            and np.array_equal(self.lo, other.lo) and np.array_equal(self.hi, other.hi), \
            "can only merge statistics with the same units, targets and histogram bins"
        if other.n == 0:
            return self
        self.sxx += other.sxx
        self.sx += other.sx
        self.sxt += other.sxt
        self.n += other.n
        self.st += other.st
        self.stt += other.stt
        self.nnz += other.nnz
        if self.hist_all is not None:
            self.hist_all += other.hist_all
            self.hist_pos += other.hist_pos
        return self

    # ---------------------------------------------------------------- finalize
    def finalize(self) -> dict[str, np.ndarray]:
        """Statistics per (unit, target): r, auroc, d, f1, threshold, sign as (U, K); support (K,).

        NaN-free for binary targets: a constant unit gets r = 0, d = 0, auroc = 0.5. auroc, d,
        f1 and threshold are NaN for continuous targets (not defined there).
        """
        n = max(self.n, 1)
        U, K = self.sxt.shape
        var_x = np.maximum(self.sxx - self.sx ** 2 / n, 0.0)[:, None]  # (U, 1) n * variance
        var_t = np.maximum(self.stt - self.st ** 2 / n, 0.0)[None, :]  # (1, K)
        cov = self.sxt - self.sx[:, None] * self.st[None, :] / n  # (U, K)
        ok = (var_x > 0) & (var_t > 0)
        r = np.clip(np.where(ok, cov / np.sqrt(np.where(ok, var_x * var_t, 1.0)), 0.0), -1.0, 1.0)
        out = {k: np.full((U, K), np.nan) for k in ("auroc", "d", "f1", "threshold")}
        out["r"] = r
        out["sign"] = np.where(r >= 0, 1, -1)
        out["support"] = self.nnz.copy()
        if self.hist_all is not None:
            kb = np.flatnonzero(self.binary)
            out["d"][:, kb] = self._cohen_d(kb, var_x[:, 0])
            auroc = self._auroc()  # (U, Kb)
            out["auroc"][:, kb] = auroc
            out["sign"][:, kb] = np.where(auroc >= 0.5, 1, -1)
            out["f1"][:, kb], out["threshold"][:, kb] = self._best_f1(out["sign"][:, kb])
        return out

    def _cohen_d(self, kb: np.ndarray, ss_total: np.ndarray) -> np.ndarray:
        n1 = self.st[kb][None, :]  # (1, Kb) positives
        n0 = self.n - n1
        m1 = self.sxt[:, kb] / np.maximum(n1, 1)  # (U, Kb) mean over positives
        m0 = (self.sx[:, None] - self.sxt[:, kb]) / np.maximum(n0, 1)
        m = self.sx[:, None] / max(self.n, 1)
        ss_between = n1 * (m1 - m) ** 2 + n0 * (m0 - m) ** 2
        pooled = np.maximum(ss_total[:, None] - ss_between, 0.0) / max(self.n - 2, 1)
        tiny = 1e-12 * np.maximum(ss_total[:, None] / max(self.n, 1), 1e-30)
        return (m1 - m0) / np.sqrt(np.maximum(pooled, tiny))

    def _auroc(self) -> np.ndarray:
        pos = self.hist_pos.astype(np.float64)  # (Kb, U, B)
        neg = self.hist_all[None].astype(np.float64) - pos
        below = np.cumsum(neg, -1) - neg  # negatives in lower bins
        n1, n0 = pos.sum(-1), neg.sum(-1)  # (Kb, U)
        auc = (pos * (below + 0.5 * neg)).sum(-1) / np.maximum(n1 * n0, 1)
        return np.where(n1 * n0 > 0, auc, 0.5).T  # (U, Kb)

    def _best_f1(self, sign: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Best F1 over bin edges, predicting positive above (sign +1) or below (-1) the threshold."""
        pos = self.hist_pos.astype(np.float64)  # (Kb, U, B)
        neg = self.hist_all[None] - pos
        n1 = pos.sum(-1, keepdims=True)
        up_tp, up_fp = np.cumsum(pos[..., ::-1], -1)[..., ::-1], np.cumsum(neg[..., ::-1], -1)[..., ::-1]
        dn_tp, dn_fp = np.cumsum(pos, -1), np.cumsum(neg, -1)
        up = 2 * up_tp / np.maximum(up_tp + up_fp + n1, 1)  # (Kb, U, B) predict x >= lower edge of bin b
        dn = 2 * dn_tp / np.maximum(dn_tp + dn_fp + n1, 1)  # predict x < upper edge of bin b
        f1 = np.where(sign.T[..., None] > 0, up, dn)
        b = f1.argmax(-1)  # (Kb, U)
        width = (self.hi - self.lo) / self.bins  # (U,)
        edge = self.lo[None, :] + (b + (sign.T < 0)) * width[None, :]
        return np.take_along_axis(f1, b[..., None], -1)[..., 0].T, edge.T
