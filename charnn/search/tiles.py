"""One pass of the search's statistics over a chunk of rows, computed by one of two backends that
give the same counts: the C kernel (`native`, where it was built) or torch ops.

    chunk = Chunk(x)                                    # x (G, U, L): unit-major, as a recording stores it
    mom, sq = run_pass(chunk, Pass(T=T, squares=True, counter=key, groups=1), binning, workers, counters)

A chunk is unit-major: G row groups of L rows, each holding every unit's L values contiguously
(the layout of a recording's Parquet pages, read in place through a memory map). A pass goes
through the rows it needs (all, or the ascending `rows`), for every unit: convert to float32,
centre about the range midpoint, products with the targets and squares (summed in float64), bin
index (mul, add, clamp, truncate: separate, correctly rounded ops, so that both backends and every
pass bin a value alike and cached and fresh histograms agree exactly), and one count at
`unit*G*bins + group*bins + bin` in that thread's int32 counters.

- `native`: one GIL-free call per tile of rows (a few per thread and pass), reading each unit's
  rows of a group in memory order, with an AVX-512 or AVX2 loop.
- torch ops (the fallback, or CHARNN_NATIVE=0): the chunk is copied row-major once (n, U), then
  tiles of TILE_VALUES go through per-thread buffers allocated once (a fresh tensor per op costs a
  page-faulting mmap), `index_add_` for the counts (the fastest of torch's scatters for this). The
  Python between ops holds the GIL, so threads add little.

What each costs per value, measured, is in docs/search.md.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .. import threads
from . import native

TILE_VALUES = 512 * 512  # values per torch tile: a float32 tile (1 MB) stays in cache for every pass
MIN_ROWS = 512  # rows per torch tile at least
UNIT_BLOCK = 16  # units per counter block in the torch path: a tile's bin indices are laid out block by block


def not_finite(units: list[int]):
    raise ValueError(f"units {units} have NaN or infinite activations: the recording is not usable")


class Chunk:
    """A unit-major chunk x (G, U, L) as stored (float16 or float32), n = G * L rows, and the
    row-major copy the torch path works on (made once, on first use)."""

    def __init__(self, x):
        if isinstance(x, np.ndarray):
            if x.ndim == 2:
                x = x[None]  # (U, n): one group
            if x.dtype not in (np.float16, np.float32) or x.strides[2] != x.itemsize:
                x = np.ascontiguousarray(x, np.float32 if x.dtype not in (np.float16, np.float32) else None)
            with warnings.catch_warnings():  # read-only arrays (memory maps) are only read
                warnings.simplefilter("ignore", UserWarning)
                x = torch.from_numpy(x)
        self.x = x  # (G, U, L)
        G, self.U, self.L = x.shape
        self.n = G * self.L
        self._rows_major = None

    def rows_major(self) -> torch.Tensor:
        if self._rows_major is None:
            self._rows_major = self.x.permute(0, 2, 1).reshape(self.n, self.U)  # (n, U), a copy
        return self._rows_major


@dataclass
class Binning:
    """Per unit: the shift sums are taken about, and the bin as (x - shift) * scale + beta (float32)."""
    shift: torch.Tensor  # (U,)
    scale: torch.Tensor  # (U,)
    beta: torch.Tensor  # (U,)
    bins: int


@dataclass
class Pass:
    """What one pass over a chunk computes."""
    rows: torch.Tensor | None = None  # (m,) int64 ascending, or None: every row
    T: torch.Tensor | None = None  # (C, m) float32: mom[u, c] = sum over the rows of (x - shift) * T[c]
    codes: torch.Tensor | None = None  # (m,) int32 group * bins per row (None: group 0)
    counter: tuple | None = None  # the counters' key (None: no histogram)
    groups: int = 1  # G: counter groups per unit
    squares: bool = False  # also sum (x - shift)^2, and check for non-finite values


_tls = threading.local()


def _buffers(size: int):
    """This thread's torch tile buffers (float16, float32 x2, int32, stride-0 int32 ones), reused across passes."""
    if getattr(_tls, "size", 0) < size:
        _tls.size = size
        _tls.bufs = (torch.empty(size, dtype=torch.float16), torch.empty(size), torch.empty(size),
                     torch.empty(size, dtype=torch.int32), torch.ones(1, dtype=torch.int32).expand(size))
    return _tls.bufs


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


def run_pass(chunk: Chunk, p: Pass, binning: Binning, workers: int,
             counters: Callable[[int], torch.Tensor]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """One pass over the rows p asks for; returns (mom (U, C) float64 or None, sq (U,) or None).

    counters(thread id): that thread's (U * groups * bins,) int32 counters, added into.
    """
    U = chunk.U
    m = chunk.n if p.rows is None else p.rows.numel()
    acc, lock = {}, threading.Lock()

    def sums():  # this thread's accumulators
        me = threading.get_ident()
        if me not in acc:
            with lock:
                acc[me] = (torch.zeros(p.T.shape[0], U, dtype=torch.float64) if p.T is not None else None,
                           torch.zeros(U, dtype=torch.float64) if p.squares else None)
        return me, acc[me]

    if native.available():
        tile, tiles = _native_tile(chunk, p, binning, sums, counters), _native_tiles(m, chunk.L, workers)
    else:
        tile, tiles = _torch_tile(chunk, p, binning, sums, counters), _torch_tiles(m, U)
    threads.run(tile, tiles, workers)
    mom = sum(a[0] for a in acc.values()).T.numpy() if p.T is not None and acc else None
    sq = sum(a[1] for a in acc.values()).numpy() if p.squares and acc else None
    if sq is not None and not np.isfinite(sq).all():
        not_finite(np.flatnonzero(~np.isfinite(sq)).tolist())
    if p.T is not None and mom is None:
        mom = np.zeros((U, p.T.shape[0]))
    return mom, sq


def _native_tiles(m: int, L: int, workers: int) -> list[tuple[int, int]]:
    """(start, count) row ranges: two per worker, whole row groups where there are enough."""
    per = -(-m // (2 * workers))
    if per > L:
        per = -(-per // L) * L
    return [(b, min(per, m - b)) for b in range(0, m, max(per, 1))]


def _native_tile(chunk: Chunk, p: Pass, binning: Binning, sums, counters):
    GB = p.groups * binning.bins

    def tile(job) -> None:  # one GIL-free kernel call (charnn/search/_tilestats.c)
        b, nb = job
        me, (mom, sq) = sums()
        native.tile_stats(chunk.x, None if p.rows is None else p.rows[b:b + nb], b, nb, binning.shift, binning.scale,
                          binning.beta, binning.bins, None if p.codes is None else p.codes[b:b + nb], 0, GB,
                          None if p.T is None else p.T[:, b:b + nb],
                          None if p.counter is None else counters(me),
                          None if mom is None else mom.numpy(), None if sq is None else sq.numpy())
    return tile


def _torch_tiles(m: int, U: int) -> list[tuple[int, int]]:
    per = max(MIN_ROWS, TILE_VALUES // U)
    return [(b, min(per, m - b)) for b in range(0, m, per)]


def _torch_tile(chunk: Chunk, p: Pass, binning: Binning, sums, counters):
    x, (U, B, G) = chunk.rows_major(), (chunk.U, binning.bins, p.groups)  # x (n, U)
    W = max(d for d in range(1, UNIT_BLOCK + 1) if U % d == 0)  # units per counter block
    nblk = U // W
    uoff = (torch.arange(U, dtype=torch.int32) * (G * B)).view(nblk, 1, W)  # unit j owns counters j*G*B ...
    rows_per_tile = max(MIN_ROWS, TILE_VALUES // U)

    def tile(job) -> None:  # rows b..b+nb, every unit, as torch ops
        b, nb = job
        me, (mom, sq) = sums()
        xc16, xc, tmp, idx, ones = _buffers(rows_per_tile * U)
        xt = xc[:nb * U].view(nb, U)
        if p.rows is None:
            xt.copy_(x[b:b + nb])  # (nb, U) float32 copy (a float16 -> float32 copy is vectorised,
        elif x.dtype == torch.float32:  # a mixed-dtype subtraction is not: 2x slower here)
            torch.index_select(x, 0, p.rows[b:b + nb], out=xt)
        else:  # gather as stored (float16), then convert
            g = xc16[:nb * U].view(nb, U)
            torch.index_select(x, 0, p.rows[b:b + nb], out=g)
            xt.copy_(g)
        xt.sub_(binning.shift)  # centred about the range midpoint
        if p.T is not None:
            mom += _tile_products(p.T[:, b:b + nb], xt)
        if p.squares:
            sq_tile = torch.mul(xt, xt, out=tmp[:nb * U].view(nb, U)).sum(0)
            if not torch.isfinite(sq_tile).all():
                not_finite(torch.nonzero(~torch.isfinite(sq_tile))[:, 0].tolist())
            sq += sq_tile.double()
        if p.counter is not None:
            xt.mul_(binning.scale).add_(binning.beta).clamp_(0, B - 1)  # (x - lo) * scale: the bin, as a float
            it = idx[:nb * U].view(nblk, nb, W)  # unit-block-major, so counters are hit block by block
            it.copy_(xt.view(nb, nblk, W).permute(1, 0, 2))  # truncation = floor on [0, B - 1]
            it.add_(uoff)
            if p.codes is not None:
                it.add_(p.codes[b:b + nb].view(1, nb, 1))  # ... and group g of unit j: + g*B
            counters(me).index_add_(0, it.view(-1), ones[:nb * U])
    return tile
