"""The two passes of `explain` over a recording: moments for fitting, exact scores for the winners.

    parts = make_parts(rec, heldout)                          # the fitting part and the held-out part
    mom, sample_b, sample_x = moments_pass(parts, blocks, ranges, ...)
    sc = scoring_pass(parts, blocks, ranges, programs, ...)

A part is a range of characters of a recording with its feature matrix. Each recording is read
once per pass, chunk by chunk (`Recording.iter_chunks`); a chunk is routed to the parts it
overlaps. Values are transformed as explained (tanh for c, `transform`) and centred on the
middle of the unit's range before any sum.

Pass 1 sums, per part, the moments of features against every unit (`moments.Moments`), and two
more that score a linear explanation without a second pass: "all", every character of the
explained recording on the stored values (raw c), which is what `charnn search` correlates; and
"chance", the held-out values against the features shifted far along the held-out text (only
the cross products differ from the held-out part's: a shift permutes the feature rows). It also
keeps a random sample of the fitting part's characters for the beam search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..search.engine import baseline_offset
from .. import threads
from . import featcache
from .moments import Moments, feature_moments, unit_moments
from .score import Scorer

MIN_PART = 1000  # characters each part needs at least


def each_block(workers: int, fn, items) -> list:
    """fn over items on the search's worker threads (torch single-threaded in each: its ops release
    the GIL, and per-op threads wait at barriers when another process holds a core)."""
    return threads.run(fn, items, workers)


def transform(kind: str, x: np.ndarray) -> np.ndarray:
    """The values explained: tanh(c) for cell states, other kinds as stored."""
    return np.tanh(x) if kind == "c" else x


@dataclass
class Part:
    name: str  # "fit" or "heldout"
    rec: object
    start: int
    stop: int
    fm: featcache.FeatureMatrix

    @property
    def n(self) -> int:
        return self.stop - self.start

    def shifted(self, start: int, stop: int, offset: int, read) -> np.ndarray:
        """read(a, b) over positions i - offset for i in [start, stop) (circularly within this part),
        joined along the last axis: read is self.fm.chunk or self.fm.binary."""
        lo = (start - self.start - offset) % self.n + self.start
        first = min(stop - start, self.stop - lo)
        pieces = [read(lo, lo + first)]
        if first < stop - start:
            pieces.append(read(self.start, self.start + stop - start - first))
        return np.concatenate(pieces, -1) if len(pieces) > 1 else pieces[0]


def make_parts(rec, heldout) -> list[Part]:
    """[fit, heldout]: the two halves of rec, or all of rec and all of `heldout` (its features from
    rec's library, so that both parts have the same columns)."""
    fm = featcache.features(rec)
    if heldout is None:
        if rec.n_chars < 2 * MIN_PART:
            raise ValueError(f"{getattr(rec, 'path', 'the recording')}: {rec.n_chars:,} characters is too short to "
                             f"split into a fitting and a held-out half: explain needs at least {2 * MIN_PART:,}")
        half = rec.n_chars // 2
        return [Part("fit", rec, 0, half, fm), Part("heldout", rec, half, rec.n_chars, fm)]
    for attr in ("layers", "hidden"):
        if getattr(heldout, attr) != getattr(rec, attr):
            raise ValueError(f"the held-out recording has {attr} {getattr(heldout, attr)} and the explained one "
                             f"{getattr(rec, attr)}: record both with the same run")
    for which, r in (("explained", rec), ("held-out", heldout)):
        if r.n_chars < MIN_PART:
            raise ValueError(f"the {which} recording has {r.n_chars:,} characters: explain needs at least {MIN_PART:,}")
    return [Part("fit", rec, 0, rec.n_chars, fm),
            Part("heldout", heldout, 0, heldout.n_chars, featcache.features(heldout, lib=fm.lib))]


def chunks(parts: list[Part], blocks, chunk_chars: int):
    """(part, start, stop, {block: (n, H) stored values}) over every part, each recording read once."""
    for rid in dict.fromkeys(id(p.rec) for p in parts):
        mine = [p for p in parts if id(p.rec) == rid]
        kinds = sorted({k for _, k in blocks})
        for start, stop, arrays in mine[0].rec.iter_chunks(kinds=kinds, chunk_chars=chunk_chars):
            for p in mine:
                lo, hi = max(start, p.start), min(stop, p.stop)
                if lo < hi:
                    yield p, lo, hi, {b: arrays[b][lo - start:hi - start] for b in blocks}


def unit_ranges(parts: list[Part], blocks) -> dict:
    """Per block, (lo, hi, raw_lo, raw_hi) (H,) float64: the range of the scored and of the stored
    values over every part's recording."""
    out = {}
    for b in blocks:
        ranges = [p.rec.unit_range(*b) for p in parts]
        raw_lo = np.min([r[0] for r in ranges], 0).astype(np.float64)
        raw_hi = np.max([r[1] for r in ranges], 0).astype(np.float64)
        out[b] = (transform(b[1], raw_lo), transform(b[1], raw_hi), raw_lo, raw_hi)
    return out


def _middle(ranges: dict, blocks, raw: bool) -> np.ndarray:
    i = 2 if raw else 0
    return np.concatenate([((ranges[b][i] + ranges[b][i + 1]) / 2).astype(np.float32) for b in blocks])


def moments_pass(parts: list[Part], blocks, ranges: dict, sample: int, seed: int, chunk_chars: int, step,
                 workers: int = 1):
    """Pass 1: ({"fit", "heldout", "all", "chance"}: Moments over every unit (blocks concatenated),
    sample_b (n_s, pb) 0/1 features and sample_x (n_s, U) centred values at n_s random characters
    of the fitting part). step(n_chars, where) is called after each chunk; the blocks of a chunk
    run on `workers` threads."""
    fit, held = parts
    p = fit.fm.p
    sizes = [len(ranges[b][0]) for b in blocks]
    cols = np.cumsum([0] + sizes)
    shift, raw_shift = _middle(ranges, blocks, False), _middle(ranges, blocks, True)
    mom = {name: Moments.zeros(p, cols[-1]) for name in ("fit", "heldout", "all", "chance")}
    offset = baseline_offset(held.n, seed)
    rng = np.random.default_rng(seed)
    positions = np.sort(rng.choice(fit.n, min(sample, fit.n), replace=False)) + fit.start
    sample_x = np.zeros((positions.size, cols[-1]), np.float32)
    for part, start, stop, arrays in chunks(parts, blocks, chunk_chars):
        F = part.fm.chunk(start, stop)  # (p, n) centred
        explained = part.rec is fit.rec
        F_shifted = part.shifted(start, stop, offset, part.fm.chunk) if part is held else None
        rows = positions[(positions >= start) & (positions < stop)] if part is fit else positions[:0]

        def block(i: int) -> None:  # one block's moments; blocks write disjoint columns
            b, c = blocks[i], slice(cols[i], cols[i + 1])
            stored = arrays[b].astype(np.float32, copy=False)  # (n, H)
            X = transform(b[1], stored) - shift[c]
            _add(mom[part.name], c, *unit_moments(F, X))
            if explained and b[1] == "c":  # "all" of other kinds is the parts' sum (the same values)
                _add(mom["all"], c, *unit_moments(F, stored - raw_shift[c]))
            if F_shifted is not None:
                mom["chance"].fx[:, c] += unit_moments(F_shifted, X)[2]
            if rows.size:
                sample_x[np.searchsorted(positions, rows), c] = X[rows - start]

        shared = feature_moments(F)
        for m in [mom[part.name]] + ([mom["all"]] if explained else []):
            m.n, m.sf, m.ff = m.n + shared[0], m.sf + shared[1], m.ff + shared[2]
        each_block(workers, block, range(len(blocks)))
        step(stop - start, f"at character {start:,} of the first pass")
    _finish(mom, parts, blocks, cols)
    sample_b = fit.fm.B[:, positions].T.astype(np.float32)  # (n_s, pb)
    return mom, sample_b, sample_x


def _add(m: Moments, c: slice, sx: np.ndarray, sxx: np.ndarray, fx: np.ndarray) -> None:
    m.sx[c] += sx
    m.sxx[c] += sxx
    m.fx[:, c] += fx


def _finish(mom: dict, parts: list[Part], blocks, cols: np.ndarray) -> None:
    """Fill what pass 1 did not sum: "all" for kinds stored as scored, and the chance moments'
    shared parts (the held-out part's)."""
    fit, held = parts
    for i, b in enumerate(blocks):
        if b[1] == "c":
            continue
        c = slice(cols[i], cols[i + 1])
        for part in parts:
            if part.rec is fit.rec:
                _add(mom["all"], c, mom[part.name].sx[c], mom[part.name].sxx[c], mom[part.name].fx[:, c])
    h, ch = mom["heldout"], mom["chance"]
    ch.n, ch.sf, ch.ff, ch.sx, ch.sxx = h.n, h.sf, h.ff, h.sx, h.sxx


def scoring_pass(parts: list[Part], blocks, ranges: dict, programs: list[list], seed: int, hist_sample: int,
                 chunk_chars: int, step, workers: int = 1) -> Scorer:
    """Pass 2: the AND / OR chains on every character of each part, and every 0/1 program's histograms
    on `hist_sample` random held-out characters (programs[u][k]: compiled, None for a linear one)."""
    sc = Scorer(programs, *(np.concatenate([ranges[b][i] for b in blocks]) for i in range(4)))
    fit, held = parts
    offset = baseline_offset(held.n, seed)
    rng = np.random.default_rng(seed + 1)
    sample = np.sort(rng.choice(held.n, min(hist_sample, held.n), replace=False)) + held.start
    cols = np.cumsum([0] + [len(ranges[b][0]) for b in blocks])
    for part, start, stop, arrays in chunks(parts, blocks, chunk_chars):
        B = part.fm.binary(start, stop)
        B_shifted = part.shifted(start, stop, offset, part.fm.binary) if part is held else None
        rows = sample[(sample >= start) & (sample < stop)] - start if part is held else sample[:0]

        def block(i: int) -> None:  # one block's units; the scorer's rows of different blocks are disjoint
            units = np.arange(cols[i], cols[i + 1])
            raw = np.ascontiguousarray(arrays[blocks[i]].T, np.float32)  # (H, n)
            X = transform(blocks[i][1], raw)
            sc.update(part.name, units, B, X, raw, B_shifted, in_all=part.rec is fit.rec)
            if rows.size:
                sc.update_sample(units, B[:, rows], X[:, rows], B_shifted[:, rows])

        each_block(workers, block, range(len(blocks)))
        step(stop - start, f"at character {start:,} of the scoring pass")
    return sc
