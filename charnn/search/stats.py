"""Mergeable streaming statistics of U units against K per-character targets.

    s = StreamStats(lo, hi, binary=[True, False])   # per-unit ranges (U,), one flag per target
    for X, T in chunks:                             # X (U, n) or (G, U, L) unit-major, T (n, K) float32
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
float32 rounding inside each tile's products (~1e-7). Merging adds counts, so histograms merge
exactly whatever the chunking.

Chunks are unit-major, as a recording's Parquet pages hold them (each unit's rows contiguous):
(U, n), or (G, U, L) for G row groups of L rows (row r is row r % L of group r // L). A row-major
(n, U) array is passed as its transpose. The passes over a chunk are `tiles`' (the C kernel where
it was built, else torch ops), their threads `threads`'.

Target-independent part (`UnitSummary`): the count, per-unit sums and sums of squares and the
histogram of all characters do not depend on the query. `summary()` takes them from a pass
made without one; `StreamStats(..., base=summary)` then computes only what depends on the
targets, over only the rows that matter: with at most two binary targets one pass over the
rows where either is set (gathered) gives their cross products and positive histograms;
otherwise one pass over every row for the cross products and, per binary target, one gathered
pass for its histogram. `flip` marks targets that are mostly 1: their histogram and sum are
taken over the zeros instead (the smaller side) and subtracted from the totals. The engine
caches the summary per recording.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import threads
from .tiles import Binning, Chunk, Pass, run_pass

JOINT_MAX = 2  # up to this many binary targets share one histogram pass (2**k index groups)


class ChunkTargets:
    """A chunk's targets T (n, K) float32, and what updates derive from them (which rows each
    target counts, their grouping, sums) computed once and shared by every StreamStats updated
    with this chunk (the engine's (layer, kind) blocks)."""

    def __init__(self, T: np.ndarray):
        self.T = np.ascontiguousarray(T, np.float32).reshape(len(T), -1)  # (n, K)
        self._memo: dict = {}

    def memo(self, key, compute):
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]


def _gather_plan(counted: np.ndarray, B: int) -> Pass:
    """The rows where some target is counted (ascending), each with its group (bits - 1) * B,
    and the counted bits (Kb, m) as the targets of their cross products."""
    code = counted @ (1 << np.arange(counted.shape[1]))  # (n,)
    rows = np.flatnonzero(code)
    return Pass(rows=torch.from_numpy(rows), codes=torch.from_numpy(((code[rows] - 1) * B).astype(np.int32)),
                T=torch.from_numpy(np.ascontiguousarray(counted[rows].T, np.float32)),
                counter=("gathered", (1 << counted.shape[1]) - 1), groups=(1 << counted.shape[1]) - 1)


@dataclass
class UnitSummary:
    """The target-independent statistics of U units over a whole recording (see module docstring).

    sx, sxx are sums of (x - shift) and its square, shift the midpoint of [lo, hi] in float32.
    """
    n: int
    lo: np.ndarray  # (U,) float64, the histogram range (after StreamStats' constant-unit fix)
    hi: np.ndarray  # (U,)
    bins: int
    sx: np.ndarray  # (U,) float64
    sxx: np.ndarray  # (U,) float64
    hist_all: np.ndarray  # (U, bins) int64

    def head(self, k: int) -> "UnitSummary":
        """The summary of the first k units."""
        return UnitSummary(self.n, self.lo[:k], self.hi[:k], self.bins, self.sx[:k], self.sxx[:k], self.hist_all[:k])

    def matches(self, lo, hi, bins: int) -> bool:
        """Whether this summary is for units with ranges lo, hi (as the recording gives them) and bins."""
        lo, hi = _ranges(lo, hi)
        return self.bins == bins and np.array_equal(self.lo, lo) and np.array_equal(self.hi, hi)


def _same_base(a: UnitSummary | None, b: UnitSummary | None) -> bool:
    """Whether two summaries are of the same data (the same object, or a copy: a cluster task's)."""
    if a is None or b is None:
        return a is b
    return a is b or (a.n == b.n and a.matches(b.lo, b.hi, b.bins) and np.array_equal(a.sx, b.sx))


def _ranges(lo, hi) -> tuple[np.ndarray, np.ndarray]:
    lo = np.asarray(lo, np.float64)
    hi = np.asarray(hi, np.float64)
    bad = ~(np.isfinite(lo) & np.isfinite(hi) & (hi > lo))
    return (np.where(bad, np.nan_to_num(lo) - 0.5, lo),  # (U,) a constant unit gets a unit-wide range
            np.where(bad, np.nan_to_num(lo) + 0.5, hi))


class StreamStats:
    def __init__(self, lo, hi, binary, bins: int = 256, *, base: UnitSummary | None = None, flip=None,
                 keep_hist: bool = False):
        """lo, hi (U,) unit ranges; binary (K,) flags. base: the target-independent statistics of
        the whole data (then every update must together cover exactly that data); flip (Kb,) per
        binary target: count its zeros instead of its ones (for a target that is mostly 1);
        keep_hist: histogram every character even with no binary target (to build a summary)."""
        self.lo, self.hi = _ranges(lo, hi)
        self.binary = np.asarray(binary, bool).reshape(-1)  # (K,)
        self.bins = int(bins)
        U, K, Kb = self.lo.size, self.binary.size, int(self.binary.sum())
        self.flip = np.zeros(Kb, bool) if flip is None else np.asarray(flip, bool).reshape(-1)
        assert self.flip.size == Kb, f"flip needs one flag per binary target ({Kb}), got {self.flip.size}"
        if base is not None:
            assert base.matches(self.lo, self.hi, self.bins), "base summary is for other unit ranges or bins"
        self.base = base
        self.n = 0
        shift32 = torch.from_numpy(((self.lo + self.hi) / 2).astype(np.float32))  # (U,)
        self.shift = shift32.double().numpy()  # sums are about the range midpoint (accuracy)
        scale = self.bins / (self.hi - self.lo)  # (U,) bins per activation unit
        self._binning = Binning(shift32, torch.from_numpy(scale.astype(np.float32)),
                                torch.from_numpy(((self.shift - self.lo) * scale).astype(np.float32)), self.bins)
        # With a base and only binary targets (at most JOINT_MAX), the cross products come from
        # the gathered rows: sums over the counted side, turned into sums over ones in finalize.
        self._joint_gather = base is not None and Kb == K and 0 < K <= JOINT_MAX
        self.sx = np.zeros(U)  # sum of (x - shift) over the rows seen (unused with a base: its sums are)
        self.sxx = np.zeros(U)  # sum of (x - shift)^2 (ditto)
        self.sxt = np.zeros((U, K))  # sum of (x - shift) * t (counted side in joint-gather mode)
        self.st = np.zeros(K)
        self.stt = np.zeros(K)
        self.nnz = np.zeros(K, np.int64)  # characters where the target is non-zero
        hist = Kb > 0 or keep_hist
        self._hist_all = np.zeros((U, self.bins), np.int64) if hist and base is None else None
        self._hist_cnt = np.zeros((Kb, U, self.bins), np.int64) if Kb else None  # counted side of each target
        self._pending: dict[tuple, torch.Tensor] = {}  # tile counters not yet added to the histograms
        self._pending_rows = 0

    # ---------------------------------------------------------------- views
    @property
    def hist_all(self) -> np.ndarray | None:
        """(U, bins) histogram of every character (the base's when there is one)."""
        if self.base is not None:
            return self.base.hist_all
        self._fold()
        return self._hist_all

    @property
    def hist_pos(self) -> np.ndarray | None:
        """(Kb, U, bins) histograms of each binary target's positive characters."""
        if self._hist_cnt is None:
            return None
        self._fold()
        if not self.flip.any():
            return self._hist_cnt
        return np.where(self.flip[:, None, None], self.hist_all[None] - self._hist_cnt, self._hist_cnt)

    def summary(self) -> UnitSummary:
        """The target-independent statistics of the rows seen so far (needs no base, a histogram)."""
        assert self.base is None and self._hist_all is not None, "summary needs histograms and no base"
        return UnitSummary(self.n, self.lo.copy(), self.hi.copy(), self.bins, self.sx.copy(), self.sxx.copy(),
                           self.hist_all.copy())

    def _counters(self, key: tuple, groups: int):
        """thread id -> a persistent (U * groups * bins,) int32 counter tensor per (pass kind, thread):
        passes add into it, _fold empties it (update folds before 2**31 rows could overflow one)."""
        def get(me: int) -> torch.Tensor:
            if (key, me) not in self._pending:
                self._pending[(key, me)] = torch.zeros(self.lo.size * groups * self.bins, dtype=torch.int32)
            return self._pending[(key, me)]
        return get

    def _fold(self) -> None:
        """Move the pending tile counters into the (U, bins) histograms."""
        U, B = self.lo.size, self.bins
        for (key, _), counts in self._pending.items():
            c = counts.numpy().astype(np.int64)
            if key[0] == "all":  # every row, groups = bits of the counted sides (no base)
                G = key[1]
                c = c.reshape(U, G, B)
                self._hist_all += c.sum(1)
                for j in range(int(G).bit_length() - 1):
                    self._hist_cnt[j] += c[:, ((np.arange(G) >> j) & 1).astype(bool)].sum(1)
            elif key[0] == "gathered":  # rows with some counted side, group = bits - 1
                G = key[1]
                c = c.reshape(U, G, B)
                for j in range(int(G + 1).bit_length() - 1):
                    self._hist_cnt[j] += c[:, (((np.arange(G) + 1) >> j) & 1).astype(bool)].sum(1)
            else:  # ("target", j): the counted rows of binary target j
                self._hist_cnt[key[1]] += c.reshape(U, B)
            counts.zero_()
        self._pending_rows = 0

    # ---------------------------------------------------------------- update
    def update(self, X, T) -> None:
        """Add a chunk: X unit-major, (U, n) or (G, U, L) (float32, or float16 as stored: converted
        as it is read), or a tiles.Chunk; T (n, K) or (n,) targets (binary ones 0/1), or a
        ChunkTargets shared by several StreamStats."""
        chunk = X if isinstance(X, Chunk) else Chunk(X)
        n, U = chunk.n, chunk.U
        tg = T if isinstance(T, ChunkTargets) else ChunkTargets(np.asarray(T).reshape(n, -1))
        T = tg.T
        assert U == self.lo.size and T.shape == (n, self.binary.size), \
            f"chunk has {U} units x {T.shape} targets, stats expect {self.lo.size} x {self.binary.size}"
        if n == 0:
            return
        if self._pending_rows + n >= 2 ** 31:
            self._fold()
        self._pending_rows += n
        B, config = self.bins, (self.binary.tobytes(), self.flip.tobytes(), self.bins)
        counted = tg.memo(("counted",) + config, lambda: (T[:, self.binary] > 0.5) != self.flip)  # (n, Kb)
        Kb = counted.shape[1]  # ... the side of each binary target that is counted
        with threads.per_tile(1) as workers:
            if self.base is None:
                # every row: sums (ones row), squares, the histogram of all characters and, for at
                # most JOINT_MAX binary targets, their counted sides in the same index (groups = bits)
                joint = 0 < Kb <= JOINT_MAX
                G = (1 << Kb) if joint else 1
                codes = tg.memo(("codes",) + config, lambda: torch.from_numpy(
                    ((counted @ (1 << np.arange(Kb))) * B).astype(np.int32))) if joint else None  # (n,) group*B
                ones = tg.memo(("ones",), lambda: torch.from_numpy(
                    np.ascontiguousarray(np.concatenate([np.ones((1, n), np.float32), T.T]))))
                p = Pass(T=ones, codes=codes, counter=("all", G) if self._hist_all is not None else None, groups=G,
                         squares=True)  # ones (1 + K, n)
                mom, sq = self._run(chunk, p, workers)
                self.sx += mom[:, 0]
                self.sxt += mom[:, 1:]
                self.sxx += sq
                if Kb and not joint:
                    self._gathered_hists(chunk, workers, tg, config, counted)
            elif self._joint_gather:
                # only the rows where some target is counted: their sums and histograms (groups = bits - 1)
                p = tg.memo(("gather",) + config, lambda: _gather_plan(counted, B))
                if p.rows.numel():
                    mom, _ = self._run(chunk, p, workers)
                    self.sxt += mom
            else:
                mom, _ = self._run(chunk, Pass(T=tg.memo(("T",), lambda: torch.from_numpy(np.ascontiguousarray(T.T)))),
                                   workers)
                self.sxt += mom
                self._gathered_hists(chunk, workers, tg, config, counted)
        st, stt, nnz = tg.memo(("sums",), lambda: (T.sum(0, dtype=np.float64),
                                                  np.einsum("nk,nk->k", T, T, dtype=np.float64),
                                                  np.count_nonzero(T, axis=0)))
        self.n += n
        self.st += st
        self.stt += stt
        self.nnz += nnz

    def _run(self, chunk: Chunk, p: Pass, workers: int):
        counters = self._counters(p.counter, p.groups) if p.counter is not None else None
        return run_pass(chunk, p, self._binning, workers, counters)

    def _gathered_hists(self, chunk: Chunk, workers: int, tg, config, counted: np.ndarray) -> None:
        """Per binary target, the histogram of its counted rows (gathered, one pass each)."""
        for j in range(counted.shape[1]):
            rows = tg.memo(("rows", j) + config, lambda: torch.from_numpy(np.flatnonzero(counted[:, j])))
            if rows.numel():
                self._run(chunk, Pass(rows=rows, counter=("target", j)), workers)

    # ---------------------------------------------------------------- merge
    def __getstate__(self) -> dict:
        """Pickled (a cluster task's result) with the tile counters folded into the histograms."""
        self._fold()
        return {**self.__dict__, "_pending": {}}

    def merge(self, other: "StreamStats") -> "StreamStats":
        """Add other's statistics into self (exact); returns self."""
        assert self.bins == other.bins and np.array_equal(self.binary, other.binary) \
            and np.array_equal(self.lo, other.lo) and np.array_equal(self.hi, other.hi), \
            "can only merge statistics with the same units, targets and histogram bins"
        assert np.array_equal(self.flip, other.flip) and _same_base(self.base, other.base), \
            "can only merge statistics with the same flip and base summary"
        if other.n == 0:
            return self
        self.sxx += other.sxx
        self.sx += other.sx
        self.sxt += other.sxt
        self.n += other.n
        self.st += other.st
        self.stt += other.stt
        self.nnz += other.nnz
        self._fold()
        other._fold()
        if self._hist_all is not None and other._hist_all is not None:
            self._hist_all += other._hist_all
        if self._hist_cnt is not None:
            self._hist_cnt += other._hist_cnt
        return self

    # ---------------------------------------------------------------- finalize
    def finalize(self) -> dict[str, np.ndarray]:
        """Statistics per (unit, target): r, auroc, d, f1, threshold, sign as (U, K); support (K,).

        NaN-free for binary targets: a constant unit gets r = 0, d = 0, auroc = 0.5. auroc, d,
        f1 and threshold are NaN for continuous targets (not defined there).
        """
        sx, sxx, sxt = self.sx, self.sxx, self.sxt
        if self.base is not None:
            assert self.n == self.base.n, f"a base summary of {self.base.n} rows, but {self.n} rows were added"
            sx, sxx = self.base.sx, self.base.sxx
            if self._joint_gather and self.flip.any():  # sums over the zeros -> sums over the ones
                sxt = np.where(self.flip[None, :], sx[:, None] - sxt, sxt)
        n = max(self.n, 1)
        U, K = sxt.shape
        var_x = np.maximum(sxx - sx ** 2 / n, 0.0)[:, None]  # (U, 1) n * variance
        var_t = np.maximum(self.stt - self.st ** 2 / n, 0.0)[None, :]  # (1, K)
        cov = sxt - sx[:, None] * self.st[None, :] / n  # (U, K)
        ok = (var_x > 0) & (var_t > 0)
        r = np.clip(np.where(ok, cov / np.sqrt(np.where(ok, var_x * var_t, 1.0)), 0.0), -1.0, 1.0)
        out = {k: np.full((U, K), np.nan) for k in ("auroc", "d", "f1", "threshold")}
        out["r"] = r
        out["sign"] = np.where(r >= 0, 1, -1)
        out["support"] = self.nnz.copy()
        if self._hist_cnt is not None:
            kb = np.flatnonzero(self.binary)
            hist_all, hist_pos = self.hist_all, self.hist_pos
            out["d"][:, kb] = self._cohen_d(kb, var_x[:, 0], sx, sxt)
            auroc = self._auroc(hist_all, hist_pos)  # (U, Kb)
            out["auroc"][:, kb] = auroc
            out["sign"][:, kb] = np.where(auroc >= 0.5, 1, -1)
            out["f1"][:, kb], out["threshold"][:, kb] = self._best_f1(out["sign"][:, kb], hist_all, hist_pos)
        return out

    def _cohen_d(self, kb: np.ndarray, ss_total: np.ndarray, sx: np.ndarray, sxt: np.ndarray) -> np.ndarray:
        n1 = self.st[kb][None, :]  # (1, Kb) positives
        n0 = self.n - n1
        m1 = sxt[:, kb] / np.maximum(n1, 1)  # (U, Kb) mean over positives
        m0 = (sx[:, None] - sxt[:, kb]) / np.maximum(n0, 1)
        m = sx[:, None] / max(self.n, 1)
        ss_between = n1 * (m1 - m) ** 2 + n0 * (m0 - m) ** 2
        pooled = np.maximum(ss_total[:, None] - ss_between, 0.0) / max(self.n - 2, 1)
        tiny = 1e-12 * np.maximum(ss_total[:, None] / max(self.n, 1), 1e-30)
        return (m1 - m0) / np.sqrt(np.maximum(pooled, tiny))

    @staticmethod
    def _auroc(hist_all: np.ndarray, hist_pos: np.ndarray) -> np.ndarray:
        pos = hist_pos.astype(np.float64)  # (Kb, U, B)
        neg = hist_all[None].astype(np.float64) - pos
        below = np.cumsum(neg, -1) - neg  # negatives in lower bins
        n1, n0 = pos.sum(-1), neg.sum(-1)  # (Kb, U)
        auc = (pos * (below + 0.5 * neg)).sum(-1) / np.maximum(n1 * n0, 1)
        return np.where(n1 * n0 > 0, auc, 0.5).T  # (U, Kb)

    def _best_f1(self, sign: np.ndarray, hist_all: np.ndarray, hist_pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Best F1 over bin edges, predicting positive above (sign +1) or below (-1) the threshold."""
        pos = hist_pos.astype(np.float64)  # (Kb, U, B)
        neg = hist_all[None] - pos
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
