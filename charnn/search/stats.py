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
float32 rounding inside each tile's products (~1e-7). Merging adds counts, so histograms merge
exactly whatever the chunking.

Target-independent part (`UnitSummary`): the count, per-unit sums and sums of squares and the
histogram of all characters do not depend on the query. `summary()` takes them from a pass
made without one; `StreamStats(..., base=summary)` then computes only what depends on the
targets, over only the rows that matter: with at most two binary targets one pass over the
rows where either is set (gathered tile by tile) gives their cross products and positive
histograms; otherwise one pass over every row for the
cross products and, per binary target, one gathered pass for its histogram. `flip` marks
targets that are mostly 1: their histogram and sum are taken over the zeros instead (the
smaller side) and subtracted from the totals. The engine caches the summary per recording.

Speed (2 cores shared with other jobs, so read ratios; numbers per value = per (row, unit)):
a pass goes through row tiles x every unit, gathered (the rows a pass needs, as stored: float16
from a recording's memory map). Per tile: convert to float32, centre about the range midpoint,
products with the targets and squares (summed in float64), bin index (mul, add, clamp,
truncate: separate, correctly rounded ops, so that every pass bins a value alike and cached and
fresh histograms agree exactly), and one count at `unit*G*bins + group*bins + bin` in that
thread's int32 counters. The tiles are shared by up to MAX_WORKERS Python threads.

Two implementations of a tile, giving the same counts (tests/search/test_native.py):
- `native` (charnn/search/_tilestats.c, built by pip where a C compiler is): one GIL-free call
  per tile (a few per thread and update), about 1 ns per value with its AVX-512 loop (32 rows
  binned before their counts are added, which halved the time of counting row by row), and two
  threads give 1.5-2x. A warm search of 2,048 units x 1M characters against a 43% target:
  0.7 s; 1.6-1.8 s with its AVX2 loop, 2.3 s with its portable loop (CHARNN_NATIVE_LOOP).
- torch ops (the fallback, or CHARNN_NATIVE=0): tiles of TILE_VALUES into per-thread buffers
  allocated once (a fresh 512 KB tensor per op cost a page-faulting mmap: 5-10 ns per value),
  `index_add_` for the counts (torch's fastest scatter here: bincount 2x slower, put_,
  scatter_add_ and np.add.at slower still), torch single-threaded inside (per-op threads waited
  at barriers: 5x slower when another process held a core). About 3 ns per value (gather 0.5,
  products 0.3, binning 0.9, index_add_ 1.35), and two threads give only 1.3-1.4x: the Python
  between ops holds the GIL. The same search: 2.4 s.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from . import native

TILE_VALUES = 512 * 512  # values per tile: a float32 tile (1 MB) stays in cache for every pass. Fewer
# (512 rows x 64 units) made each op too short for the threads sharing the tiles: 2x the time per value
MIN_ROWS = 512  # rows per tile at least
UNIT_BLOCK = 16  # units per counter block: the tile's bin indices are laid out block by block
MAX_WORKERS = 2  # threads for the row tiles (at most torch's own thread count)
JOINT_MAX = 2  # up to this many binary targets share one histogram pass (2**k index groups)

_pool_lock = threading.Lock()
_pools: dict[int, ThreadPoolExecutor] = {}


def _pool(workers: int) -> ThreadPoolExecutor:
    """A process-wide pool per worker count (threads are started once, not per update), whose
    threads run torch single-threaded (a new thread may otherwise start with the default count)."""
    with _pool_lock:
        pool = _pools.get(workers)
        # A worker that died (a test harness or a server shutdown raising SystemExit in every
        # thread) would leave submitted tiles waiting forever: start a fresh pool instead.
        if pool is None or any(not t.is_alive() for t in getattr(pool, "_threads", ())):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
            pool = _pools[workers] = ThreadPoolExecutor(workers, thread_name_prefix="charnn-search",
                                                        initializer=torch.set_num_threads, initargs=(1,))
        return pool


_tls = threading.local()


def _buffers(size: int):
    """This thread's tile buffers (float16, float32 x2, int32, stride-0 int32 ones), reused across passes."""
    if getattr(_tls, "size", 0) < size:
        _tls.size = size
        _tls.bufs = (torch.empty(size, dtype=torch.float16), torch.empty(size), torch.empty(size),
                     torch.empty(size, dtype=torch.int32), torch.ones(1, dtype=torch.int32).expand(size))
    return _tls.bufs


def _not_finite(units: list[int]):
    raise ValueError(f"units {units} have NaN or infinite activations: the recording is not usable")


def _tile_products(TtT: torch.Tensor, xt: torch.Tensor) -> torch.Tensor:
    """TtT (C, nb) @ xt (nb, U) as (C, U) float64: float32 products summed over MIN_ROWS rows at a
    time (one batched matmul), so a tile of many rows is as accurate as one of MIN_ROWS."""
    (C, nb), U = TtT.shape, xt.shape[1]
    if nb <= MIN_ROWS:
        return torch.mm(TtT, xt).double()
    k = nb - nb % MIN_ROWS
    out = torch.mm(TtT[:, k:], xt[k:]).double()  # the rows after the last whole block
    if k:
        out += torch.bmm(TtT[:, :k].reshape(C, k // MIN_ROWS, MIN_ROWS).transpose(0, 1),  # (k/R, C, R)
                         xt[:k].view(k // MIN_ROWS, MIN_ROWS, U)).double().sum(0)  # (k/R, R, U) -> (C, U)
    return out


_threads_lock = threading.Lock()
_thread_users, _threads_before = 0, 1


@contextlib.contextmanager
def _threads_per_op(k: int):
    """Run torch ops single-threaded and parallelise over row tiles instead; yields the worker count.

    An update is hundreds of small ops; with torch's own threads each one waits at a barrier,
    and when another process held a core that made a chunk 5x slower here (0.5 s -> 2.7 s).
    torch keeps the count per thread, but a new thread starts with the last count set anywhere,
    so threads started during a pass start single-threaded. Overlapping passes (a search beside
    the dashboard's background preparation) therefore share one setting: the first saves the
    count, the last restores it. A pass that saved and restored its own "before" could start
    with another pass's 1 and restore it for good.
    """
    global _thread_users, _threads_before
    with _threads_lock:
        if _thread_users == 0:
            _threads_before = torch.get_num_threads()
            torch.set_num_threads(k)
        _thread_users += 1
        before = _threads_before
    try:
        yield max(1, min(before, MAX_WORKERS))
    finally:
        with _threads_lock:
            _thread_users -= 1
            if _thread_users == 0:
                torch.set_num_threads(_threads_before)


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


def _gather_plan(counted: np.ndarray, B: int):
    """Rows where some target is counted, grouped by code (bits - 1) so that a tile has one group:
    (rows (m,) int64 tensor, segments [(m0, m1, group * B)], Tt (m, Kb) float32 counted bits)."""
    code = counted @ (1 << np.arange(counted.shape[1]))  # (n,)
    rows = np.flatnonzero(code)
    rows = rows[np.argsort(code[rows], kind="stable")]
    G = (1 << counted.shape[1]) - 1
    ends = np.searchsorted(code[rows], np.arange(1, G + 2))
    segments = [(int(ends[g]), int(ends[g + 1]), g * B) for g in range(G)]
    return torch.from_numpy(rows), segments, torch.from_numpy(counted[rows].astype(np.float32))


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
        self._shift32 = torch.from_numpy(((self.lo + self.hi) / 2).astype(np.float32))  # (U,)
        self.shift = self._shift32.double().numpy()  # sums are about the range midpoint (accuracy)
        scale = self.bins / (self.hi - self.lo)  # (U,) bins per activation unit
        self._scale32 = torch.from_numpy(scale.astype(np.float32))
        self._beta32 = torch.from_numpy(((self.shift - self.lo) * scale).astype(np.float32))
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

    def _counter(self, key, size: int) -> torch.Tensor:
        """A persistent int32 counter tensor per (pass kind, thread): passes add into it, _fold empties it
        (update folds before 2**31 rows could overflow one)."""
        if key not in self._pending:
            self._pending[key] = torch.zeros(size, dtype=torch.int32)
        return self._pending[key]

    def _fold(self) -> None:
        """Move the pending tile counters into the (U, bins) histograms."""
        U, B = self.lo.size, self.bins
        for key, counts in self._pending.items():
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
    def update(self, X: np.ndarray, T) -> None:
        """Add a chunk: X (n, U) activations (float32, or float16 as stored: converted tile by tile),
        T (n, K) or (n,) targets (binary ones 0/1), or a ChunkTargets shared by several StreamStats."""
        X = np.asarray(X)  # a column slice of a memory map stays a view: tiles gather only its rows
        if X.dtype not in (np.float16, np.float32) or X.strides[1] != X.itemsize or X.strides[0] < 0:
            X = np.ascontiguousarray(X, np.float32 if X.dtype not in (np.float16, np.float32) else None)
        tg = T if isinstance(T, ChunkTargets) else ChunkTargets(np.asarray(T).reshape(len(X), -1))
        T = tg.T
        n, U = X.shape
        assert U == self.lo.size and T.shape == (n, self.binary.size), \
            f"chunk has {U} units x {T.shape} targets, stats expect {self.lo.size} x {self.binary.size}"
        if n == 0:
            return
        with warnings.catch_warnings():  # read-only arrays (Arrow buffers, memory maps) are only read
            warnings.simplefilter("ignore", UserWarning)
            x = torch.from_numpy(X)  # (n, U)
        if self._pending_rows + n >= 2 ** 31:
            self._fold()
        self._pending_rows += n
        B, config = self.bins, (self.binary.tobytes(), self.flip.tobytes(), self.bins)
        counted = tg.memo(("counted",) + config, lambda: (T[:, self.binary] > 0.5) != self.flip)  # (n, Kb)
        Kb = counted.shape[1]  # ... the side of each binary target that is counted
        with _threads_per_op(1) as workers:
            if self.base is None:
                # every row: sums (ones column), squares, the histogram of all characters and, for at
                # most JOINT_MAX binary targets, their counted sides in the same index (groups = bits)
                joint = 0 < Kb <= JOINT_MAX
                G = (1 << Kb) if joint else 1
                codes = tg.memo(("codes",) + config, lambda: torch.from_numpy(
                    ((counted @ (1 << np.arange(Kb))) * B).astype(np.int32))) if joint else None  # (n,) group*B
                counter = ("all", G) if self._hist_all is not None else None
                Tt = tg.memo(("ones",), lambda: torch.from_numpy(np.concatenate([np.ones((n, 1), np.float32), T], 1)))
                mom, sq = self._pass(x, workers, None, Tt, codes, counter, G, squares=True)  # Tt (n, 1 + K)
                self.sx += mom[:, 0]
                self.sxt += mom[:, 1:]
                self.sxx += sq
                if Kb and not joint:
                    self._gathered_hists(x, workers, tg, config, counted)
            elif self._joint_gather:
                # only the rows where some target is counted: their sums and histograms (groups = bits - 1)
                G = (1 << Kb) - 1
                rows, segments, Tt = tg.memo(("gather",) + config, lambda: _gather_plan(counted, B))
                if rows.numel():
                    mom, _ = self._pass(x, workers, rows, Tt, None, ("gathered", G), G, segments=segments)
                    self.sxt += mom
            else:
                mom, _ = self._pass(x, workers, None, tg.memo(("T",), lambda: torch.from_numpy(T)), None, None, 1)
                self.sxt += mom
                self._gathered_hists(x, workers, tg, config, counted)
        st, stt, nnz = tg.memo(("sums",), lambda: (T.sum(0, dtype=np.float64),
                                                  np.einsum("nk,nk->k", T, T, dtype=np.float64),
                                                  np.count_nonzero(T, axis=0)))
        self.n += n
        self.st += st
        self.stt += stt
        self.nnz += nnz

    def _gathered_hists(self, x: torch.Tensor, workers: int, tg, config, counted: np.ndarray) -> None:
        """Per binary target, the histogram of its counted rows (gathered, one pass each)."""
        for j in range(counted.shape[1]):
            rows = tg.memo(("rows", j) + config, lambda: torch.from_numpy(np.flatnonzero(counted[:, j])))
            if rows.numel():
                self._pass(x, workers, rows, None, None, ("target", j), 1)

    def _pass(self, x: torch.Tensor, workers: int, rows, Tt, codes, counter, G: int, squares: bool = False,
              segments=None):
        """One pass over rows (all, or the int64 indices `rows` (m,)) of x (n, U), by row tiles.

        Tt (m, C) float32: returns mom (U, C) float64 sums of (x - shift) * Tt (None without Tt).
        squares: also sq (U,) float64 sums of (x - shift)^2, and a NaN/inf check.
        counter: a key for _counter: adds one at unit*G*bins + group*bins + bin in that thread's
        (U * G * bins,) int32 counters, the group*bins offset from codes (m,) int32 per row or,
        cheaper, per segment: segments [(m0, m1, offset)] of rows that share one offset.
        """
        U, B = x.shape[1], self.bins
        m = x.shape[0] if rows is None else rows.numel()
        fast = native.available()
        if fast:  # a few long GIL-free calls per thread, enough of them to share the rows evenly
            rows_per_tile = MIN_ROWS * max(1, -(-m // (MIN_ROWS * 2 * workers)))
        else:  # the torch path's tiles and counter layout
            rows_per_tile = max(MIN_ROWS, TILE_VALUES // U)
            W = max(d for d in range(1, UNIT_BLOCK + 1) if U % d == 0)  # units per counter block
            nblk = U // W
            uoff = (torch.arange(U, dtype=torch.int32) * (G * B)).view(nblk, 1, W)  # unit j owns counters j*G*B ...
            TtT = Tt.T if Tt is not None else None  # (C, m)
        acc, lock = {}, threading.Lock()

        def tile(job) -> None:  # rows b..b+nb, every unit
            b, nb, offset = job
            me = threading.get_ident()
            if me not in acc:
                with lock:
                    acc[me] = (torch.zeros(Tt.shape[1], U, dtype=torch.float64) if Tt is not None else None,
                               torch.zeros(U, dtype=torch.float64) if squares else None)
            mom, sq = acc[me]
            if fast:  # the same statistics in one call (charnn/search/_tilestats.c)
                native.tile_stats(x, None if rows is None else rows[b:b + nb], b, nb, self._shift32, self._scale32,
                                  self._beta32, B, None if codes is None else codes[b:b + nb], offset, G * B,
                                  None if Tt is None else Tt[b:b + nb],
                                  None if counter is None else self._counter(counter + (me,), U * G * B),
                                  None if mom is None else mom.numpy(), None if sq is None else sq.numpy())
                return
            xc16, xc, tmp, idx, ones = _buffers(rows_per_tile * U)
            xt = xc[:nb * U].view(nb, U)
            if rows is None:
                xt.copy_(x[b:b + nb])  # (nb, U) float32 copy (a float16 -> float32 copy is vectorised,
            elif x.dtype == torch.float32:  # a mixed-dtype subtraction is not: 2x slower here)
                torch.index_select(x, 0, rows[b:b + nb], out=xt)
            else:  # gather as stored (float16), then convert
                g = xc16[:nb * U].view(nb, U)
                torch.index_select(x, 0, rows[b:b + nb], out=g)
                xt.copy_(g)
            xt.sub_(self._shift32)  # centred about the range midpoint
            if Tt is not None:
                mom += _tile_products(TtT[:, b:b + nb], xt)
            if squares:
                sq_tile = torch.mul(xt, xt, out=tmp[:nb * U].view(nb, U)).sum(0)
                if not torch.isfinite(sq_tile).all():
                    _not_finite(torch.nonzero(~torch.isfinite(sq_tile))[:, 0].tolist())
                sq += sq_tile.double()
            if counter is not None:
                xt.mul_(self._scale32).add_(self._beta32).clamp_(0, B - 1)  # (x - lo) * scale: the bin, as a float
                it = idx[:nb * U].view(nblk, nb, W)  # unit-block-major, so counters are hit block by block
                it.copy_(xt.view(nb, nblk, W).permute(1, 0, 2))  # truncation = floor on [0, B - 1]
                it.add_(uoff)
                if codes is not None:
                    it.add_(codes[b:b + nb].view(1, nb, 1))  # ... and group g of unit j: + g*B
                cnt = self._counter(counter + (me,), U * G * B)
                cnt[offset:].index_add_(0, it.view(-1), ones[:nb * U])

        segments = [(0, m, 0)] if segments is None else segments
        tiles = [(b, min(rows_per_tile, m1 - b), offset) for m0, m1, offset in segments
                 for b in range(m0, m1, rows_per_tile)]
        list(_pool(workers).map(tile, tiles) if workers > 1 else map(tile, tiles))  # per-thread accumulators
        mom = sum(a[0] for a in acc.values()).T.numpy() if Tt is not None and acc else None
        sq = sum(a[1] for a in acc.values()).numpy() if squares and acc else None
        if sq is not None and not np.isfinite(sq).all():  # the torch path checks tile by tile
            _not_finite(np.flatnonzero(~np.isfinite(sq)).tolist())
        if Tt is not None and mom is None:
            mom = np.zeros((U, Tt.shape[1]))
        return mom, sq

    # ---------------------------------------------------------------- merge
    def merge(self, other: "StreamStats") -> "StreamStats":
        """Add other's statistics into self (exact); returns self."""
        assert self.bins == other.bins and np.array_equal(self.binary, other.binary) \
            and np.array_equal(self.lo, other.lo) and np.array_equal(self.hi, other.hi), \
            "can only merge statistics with the same units, targets and histogram bins"
        assert np.array_equal(self.flip, other.flip) and self.base is other.base, \
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
