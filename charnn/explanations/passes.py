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
keeps a random sample of the fitting part's characters for the beam search, and the sums per
context cell that the local lookups are fitted from ("cells": `lookup.CellSums`, for the two
halves of the fitting part and the held-out part).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import threads
from ..sae.kind import latent_name
from ..sae.store import trained_chars
from ..scan import baseline_offset
from ..units import is_latent, unit_value
from . import featcache
from .lookup import CellSums, Contexts
from .moments import Moments, feature_moments, unit_moments
from .score import Scorer

MIN_PART = 1000  # characters each part needs at least


def each_block(workers: int, fn, items) -> list:
    """fn over items on the search's worker threads (torch single-threaded in each: its ops release
    the GIL, and per-op threads wait at barriers when another process holds a core)."""
    return threads.run(fn, items, workers)


def transform(kind: str, x: np.ndarray) -> np.ndarray:
    """The values explained: a unit's value (`charnn.units.unit_value`)."""
    return unit_value(kind, x)


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


def split_point(rec, blocks=()) -> int:
    """Where rec's fitting part ends and its held-out part starts: half way, or, when `blocks` hold an
    autoencoder's latents (kinds sae-NAME), after every such autoencoder's training characters, so
    that latents are scored only on text their autoencoder never saw."""
    latents = sorted({k for _, k in blocks if is_latent(k)})
    return max([rec.n_chars // 2] + [trained_chars(rec, latent_name(k)) for k in latents])


def make_parts(rec, heldout, blocks=()) -> list[Part]:
    """[fit, heldout]: rec cut at `split_point`, or all of rec and all of `heldout` (its features from
    rec's library, so that both parts have the same columns)."""
    fm = featcache.features(rec)
    if heldout is None:
        if rec.n_chars < 2 * MIN_PART:
            raise ValueError(f"{getattr(rec, 'path', 'the recording')}: {rec.n_chars:,} characters is too short to "
                             f"split into a fitting and a held-out half: explain needs at least {2 * MIN_PART:,}")
        split = split_point(rec, blocks)
        if rec.n_chars - split < MIN_PART // 2:  # an autoencoder's last 20% of a short recording, at least
            raise ValueError(f"{getattr(rec, 'path', 'the recording')}: its autoencoders trained on characters "
                             f"[0, {split:,}), which leaves under {MIN_PART // 2:,} characters to score latents on")
        return [Part("fit", rec, 0, split, fm), Part("heldout", rec, split, rec.n_chars, fm)]
    for attr in ("layers", "hidden"):
        if getattr(heldout, attr) != getattr(rec, attr):
            raise ValueError(f"the held-out recording has {attr} {getattr(heldout, attr)} and the explained one "
                             f"{getattr(rec, attr)}: record both with the same run")
    for which, r in (("explained", rec), ("held-out", heldout)):
        if r.n_chars < MIN_PART:
            raise ValueError(f"the {which} recording has {r.n_chars:,} characters: explain needs at least {MIN_PART:,}")
    return [Part("fit", rec, 0, rec.n_chars, fm),
            Part("heldout", heldout, 0, heldout.n_chars, featcache.features(heldout, lib=fm.lib))]


def chunks(parts: list[Part], blocks, chunk_chars: int, span: tuple[int, int, int] | None = None):
    """(part, start, stop, {block: (n, H) stored values}) over every part, each recording read once,
    part by part of the recording (`spans`, so that a pass sums the same chunks on a cluster);
    span: only that one."""
    recs = _recordings(parts)
    for which, a, b in [span] if span is not None else spans(parts):
        mine = [p for p in parts if p.rec is recs[which]]
        for start, stop, arrays in recs[which].iter_chunks(blocks=blocks, chunk_chars=chunk_chars, start=a, stop=b):
            for p in mine:
                lo, hi = max(start, p.start), min(stop, p.stop)
                if lo < hi:
                    yield p, lo, hi, {b: arrays[b][lo - start:hi - start] for b in blocks}


def _recordings(parts: list[Part]) -> list:
    """The distinct recordings of the parts: the explained one, then the held-out one if another."""
    return list({id(p.rec): p.rec for p in parts}.values())


def spans(parts: list[Part]) -> list[tuple[int, int, int]]:
    """(which recording, a, b) for each part of each recording (the whole text of an object without parts)."""
    return [(which, q.start, q.stop) if hasattr(q, "start") else (which, 0, rec.n_chars)
            for which, rec in enumerate(_recordings(parts)) for q in getattr(rec, "parts", [None])]


def contexts(parts: list[Part]) -> tuple[Contexts, dict]:
    """The context cells of the parts' texts (`lookup.Contexts`) and {id(recording): (n,) cell ids}."""
    fit = parts[0]
    recs = _recordings(parts)
    ctx = Contexts.build(fit.rec.string, fit.start, fit.stop, [r.string for r in recs])
    return ctx, {id(r): ctx.ids(r.string) for r in recs}


def subparts(part: Part, start: int, stop: int) -> list[tuple[int, int, int]]:
    """(index in lookup.SUBPARTS, a, b) of the characters [start, stop) of a part: the fitting part's
    two halves, or the held-out part."""
    if part.name != "fit":
        return [(2, start, stop)]
    mid = part.start + part.n // 2
    return [(i, a, b) for i, a, b in ((0, start, min(stop, mid)), (1, max(start, mid), stop)) if a < b]


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


def middle(ranges: dict, blocks, raw: bool) -> np.ndarray:
    i = 2 if raw else 0
    return np.concatenate([((ranges[b][i] + ranges[b][i + 1]) / 2).astype(np.float32) for b in blocks])


def moments_pass(parts: list[Part], blocks, ranges: dict, sample: int, seed: int, chunk_chars: int, step,
                 workers: int = 1, client=None):
    """Pass 1: ({"fit", "heldout", "all", "chance"}: Moments over every unit (blocks concatenated),
    sample_b (n_s, pb) 0/1 features and sample_x (n_s, U) centred values at n_s random characters
    of the fitting part). step(n_chars, where) is called after each chunk (each task, on a
    cluster); the blocks of a chunk run on `workers` threads. client: one task per part of each
    recording (`cluster_job`), whose sums are added here."""
    acc = _MomentSums(parts, blocks, ranges, sample, seed)
    if client is None:
        for part, start, stop, arrays in chunks(parts, blocks, chunk_chars):
            acc.add(part, start, stop, arrays, workers)
            step(stop - start, f"at character {start:,} of the first pass")
    else:
        job = ("moments", blocks, ranges, sample, seed, chunk_chars)
        for (which, a, b), (mom, at, rows) in _on_cluster(client, parts, job, "explain: moments"):
            for name, m in mom.items():
                acc.mom[name] = acc.mom[name] + m
            acc.sample_x[at] = rows
            step(b - a, f"at character {a:,} of the first pass")
    _finish(acc.mom, parts, blocks, acc.cols)
    sample_b = parts[0].fm.B[:, acc.positions].T.astype(np.float32)  # (n_s, pb)
    return acc.mom, sample_b, acc.sample_x


class _MomentSums:
    """Pass 1's sums (see moments_pass), chunk by chunk."""

    def __init__(self, parts: list[Part], blocks, ranges: dict, sample: int, seed: int):
        fit, held = self.parts = parts
        self.blocks = blocks
        self.cols = np.cumsum([0] + [len(ranges[b][0]) for b in blocks])
        self.shift, self.raw_shift = middle(ranges, blocks, False), middle(ranges, blocks, True)
        self.mom = {name: Moments.zeros(fit.fm.p, self.cols[-1]) for name in ("fit", "heldout", "all", "chance")}
        self.offset = baseline_offset(held.n, seed)
        rng = np.random.default_rng(seed)
        self.positions = np.sort(rng.choice(fit.n, min(sample, fit.n), replace=False)) + fit.start
        self.sample_x = np.zeros((self.positions.size, self.cols[-1]), np.float32)
        self.ctx, self.ids = contexts(parts)
        self.mom["cells"] = CellSums.zeros(len(self.ctx), self.cols[-1])

    def add(self, part: Part, start: int, stop: int, arrays: dict, workers: int) -> None:
        fit, held = self.parts
        mom, cols, positions = self.mom, self.cols, self.positions
        F = part.fm.chunk(start, stop)  # (p, n) centred
        explained = part.rec is fit.rec
        F_shifted = part.shifted(start, stop, self.offset, part.fm.chunk) if part is held else None
        rows = positions[(positions >= start) & (positions < stop)] if part is fit else positions[:0]
        cells, ids = mom["cells"], self.ids[id(part.rec)]
        segments = subparts(part, start, stop)
        for sub, a, b in segments:
            cells.count(sub, ids[a:b])

        def block(i: int) -> None:  # one block's moments; blocks write disjoint columns
            b, c = self.blocks[i], slice(cols[i], cols[i + 1])
            stored = arrays[b].astype(np.float32, copy=False)  # (n, H)
            X = transform(b[1], stored) - self.shift[c]
            _add(mom[part.name], c, *unit_moments(F, X))
            for sub, a, b_ in segments:
                cells.add(sub, ids[a:b_], X[a - start:b_ - start], c)
            if explained and b[1] == "c":  # "all" of other kinds is the parts' sum (the same values)
                _add(mom["all"], c, *unit_moments(F, stored - self.raw_shift[c]))
            if F_shifted is not None:
                mom["chance"].fx[:, c] += unit_moments(F_shifted, X)[2]
            if rows.size:
                self.sample_x[np.searchsorted(positions, rows), c] = X[rows - start]

        shared = feature_moments(F)
        for m in [mom[part.name]] + ([mom["all"]] if explained else []):
            m.n, m.sf, m.ff = m.n + shared[0], m.sf + shared[1], m.ff + shared[2]
        each_block(workers, block, range(len(self.blocks)))


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
                 chunk_chars: int, step, workers: int = 1, client=None) -> Scorer:
    """Pass 2: the AND / OR chains on every character of each part, and every 0/1 program's histograms
    on `hist_sample` random held-out characters (programs[u][k]: compiled, None for a linear one).
    client: one task per part of each recording, whose sums and histograms are added here."""
    acc = _Scoring(parts, blocks, ranges, programs, seed, hist_sample)
    if client is None:
        for part, start, stop, arrays in chunks(parts, blocks, chunk_chars):
            acc.add(part, start, stop, arrays, workers)
            step(stop - start, f"at character {start:,} of the scoring pass")
    else:
        job = ("scores", blocks, ranges, programs, seed, hist_sample, chunk_chars)
        for (which, a, b), sc in _on_cluster(client, parts, job, "explain: scores"):
            acc.sc.merge(sc)
            step(b - a, f"at character {a:,} of the scoring pass")
    return acc.sc


class _Scoring:
    """Pass 2's sums (see scoring_pass), chunk by chunk."""

    def __init__(self, parts: list[Part], blocks, ranges: dict, programs: list[list], seed: int, hist_sample: int):
        self.parts, self.blocks = parts, blocks
        self.sc = Scorer(programs, *(np.concatenate([ranges[b][i] for b in blocks]) for i in range(4)))
        held = parts[1]
        self.offset = baseline_offset(held.n, seed)
        rng = np.random.default_rng(seed + 1)
        self.sample = np.sort(rng.choice(held.n, min(hist_sample, held.n), replace=False)) + held.start
        self.cols = np.cumsum([0] + [len(ranges[b][0]) for b in blocks])

    def add(self, part: Part, start: int, stop: int, arrays: dict, workers: int) -> None:
        fit, held = self.parts
        sample, cols, blocks = self.sample, self.cols, self.blocks
        B = part.fm.binary(start, stop)
        B_shifted = part.shifted(start, stop, self.offset, part.fm.binary) if part is held else None
        rows = sample[(sample >= start) & (sample < stop)] - start if part is held else sample[:0]

        def block(i: int) -> None:  # one block's units; the scorer's rows of different blocks are disjoint
            units = np.arange(cols[i], cols[i + 1])
            raw = np.ascontiguousarray(arrays[blocks[i]].T, np.float32)  # (H, n)
            X = transform(blocks[i][1], raw)
            self.sc.update(part.name, units, B, X, raw, B_shifted, in_all=part.rec is fit.rec)
            if rows.size:
                self.sc.update_sample(units, B[:, rows], X[:, rows], B_shifted[:, rows])

        each_block(workers, block, range(len(blocks)))


def _on_cluster(client, parts: list[Part], job: tuple, desc: str):
    """(span, result) of `cluster_job` for every span of the recordings, in span order, once all have finished."""
    from ..cluster import map_tasks
    recs = _recordings(parts)
    if not all(isinstance(getattr(r, "path", None), Path) and hasattr(r, "parts") for r in recs):
        raise TypeError("explain on a cluster reads recording folders (charnn.open_recording), not other objects")
    paths = [str(r.path) for r in recs] + [None] * (2 - len(recs))
    spans_ = spans(parts)
    results = map_tasks(client, cluster_job, [(paths, span, job) for span in spans_], desc,
                        names=[f"recording {w}, characters {a:,}-{b:,}" for w, a, b in spans_], progress=False)
    return zip(spans_, results)


def cluster_job(task: tuple):
    """A cluster task: one pass's sums over one span of a recording (it opens the recordings and their
    feature caches from their folders)."""
    from ..recording.reader import Recording
    (path, held_path), span, (kind, blocks, ranges, *settings) = task
    parts = make_parts(Recording(path), Recording(held_path) if held_path else None, blocks)
    if kind == "moments":
        sample, seed, chunk_chars = settings
        acc = _MomentSums(parts, blocks, ranges, sample, seed)
    else:
        programs, seed, hist_sample, chunk_chars = settings
        acc = _Scoring(parts, blocks, ranges, programs, seed, hist_sample)
    for part, start, stop, arrays in chunks(parts, blocks, chunk_chars, span):
        acc.add(part, start, stop, arrays, 1)
    if kind == "scores":
        return acc.sc
    at = np.flatnonzero((acc.positions >= span[1]) & (acc.positions < span[2])) if span[0] == 0 else np.zeros(0, int)
    return acc.mom, at, acc.sample_x[at]
