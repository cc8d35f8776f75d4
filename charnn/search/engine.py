"""Rank every unit of a recording against a regex or a built-in concept, in one streaming pass.

    from charnn import open_recording
    from charnn.search import search, atlas
    rec = open_recording("runs/austen/recordings/test")
    df = search(rec, regex=r'"[^"]*"')          # one row per (layer, kind, unit), best first
    print(df.head(), df.attrs["baseline"])
    per_concept, per_unit = atlas(rec)          # every unit against every built-in concept

Ranking: binary targets by separation max(AUROC, 1 - AUROC) (rank-based, so a rare target is not
penalised the way it is in r), ties by |r|; continuous targets by |r|.

Chance baseline: the same statistics against the target circularly shifted by a large seeded
random offset (between a quarter and three quarters of the text), so the shifted target keeps
its run lengths and frequency but no longer lines up with the text. Reported as the 99th
percentile of |r| and of max(AUROC, 1 - AUROC) over the first BASELINE_UNITS units of every
(layer, kind) (unit numbers carry no meaning in a trained network, so these are a sample of
its units): a unit well above it is not chance. The shifted target is scored chunk by chunk
in the same pass over the recording (its own StreamStats, gathering its own rows of those
units), and on a sample because scoring it on every unit made a search 1.4x slower for a
percentile that a few hundred units estimate about as well.

Speed: a charnn Recording is scanned in place, unit-major, through memory maps of its state
files' pages (kept by the Recording, so a second search copies nothing; `Recording.iter_chunks`),
and the query-independent statistics (per-unit sums, sums of squares, the histogram of every
character) are computed by the first search of a recording (or by `prepare`) and cached beside it
(`summaries`), so later searches histogram only the characters that the target or its baseline
marks; the per-tile work is `tiles`' (a C kernel where it was built). Scans default to the stored
kinds: a derived kind (a gate) is computed chunk by chunk, a matmul per character. Any object
with the reader's interface (a test double, a wrapper that watches iter_chunks) is read the same
way, and cached when it has a folder and a recording_id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..attribution.memory import half_lives
from ..limits import MAX_BINS
from ..recording.reader import CHUNK_ROWS, Recording, scan_blocks
from ..scan import Cancelled, Progress, baseline_offset, direction, separation
from ..text import CONCEPTS, RegexError, check_target, concept_target, make_target
from . import summaries
from .stats import ChunkTargets, StreamStats
from .versus import units_vs_latents

BASELINE_UNITS = 64  # units per (layer, kind) that the chance baseline is scored on
CHUNK_CHARS = CHUNK_ROWS  # characters per chunk (at most: a recording's chunks follow its row groups)
COLUMNS = ["layer", "kind", "unit", "r", "auroc", "d", "f1", "threshold", "sign", "support"]


class SearchCancelled(Cancelled):
    """The caller's cancel() returned True; nothing is returned."""


def rank(df: pd.DataFrame, binary: bool) -> pd.DataFrame:
    """Sort best first: binary by max(auroc, 1 - auroc) then |r|; continuous by |r|."""
    keys = [df["r"].abs()]
    if binary:
        keys.insert(0, separation(df["auroc"]))
    order = np.lexsort([-k.to_numpy() for k in reversed(keys)])  # stable: ties keep unit order
    return df.iloc[order].reset_index(drop=True)


def stream_stats(rec, targets: list[np.ndarray], binary: list[bool], kinds=None, bins: int = 256,
                 progress: Progress = True, cancel: Callable[[], bool] | None = None,
                 chunk_chars: int = CHUNK_CHARS, desc: str = "search",
                 baseline: Sequence[np.ndarray] = (), client=None) -> tuple[dict, dict]:
    """One pass over the recording: StreamStats per (layer, kind) against K targets, and against
    the `baseline` targets (one per target, same binary flags) on its first BASELINE_UNITS units.

    Returns (stats, baseline_stats), each {(layer, kind): StreamStats} (the second empty without
    baseline targets). targets: K arrays (n_chars,) (bool or float), stacked per chunk into an
    (n, K) matrix so the cross products of all of them are one matmul. The target-independent
    statistics of each (layer, kind) come from the recording's summary cache when it has them
    (see `summaries`); otherwise they are computed in this pass and cached for the next query.
    A binary target that is mostly 1 is counted on its zeros (`flip`), the smaller side.
    client: a `dask.distributed.Client`: each part of the recording is a task on a worker that
    reads it where it is and returns its statistics, merged here (exactly: they are sums and
    histograms); `cancel` is not consulted then.
    """
    if not 2 <= bins <= MAX_BINS:
        raise ValueError(f"bins must be from 2 to {MAX_BINS:,} (each unit keeps a histogram of them), not {bins}")
    blocks = scan_blocks(rec, kinds)
    flip = [float(np.mean(y)) > 0.5 for y, b in zip(targets, binary) if b]
    setup = _Setup(blocks, list(binary), flip, bins, len(baseline) > 0, summaries.cacheable(rec))
    stats, sampled = setup.stats(rec, summaries.load(rec, bins))
    setup.based = frozenset(b for b, s in stats.items() if s.base is not None)
    if not targets and not len(baseline):  # a summary only: a block that has one has nothing to add
        stats = {b: s for b, s in stats.items() if s.base is None}
        setup.blocks = blocks = list(stats)
        if not blocks:
            return {}, {}
    if client is not None:
        _cluster_pass(client, rec, setup, stats, sampled, targets, baseline, chunk_chars, progress, desc)
    else:
        report = progress if callable(progress) else None
        with tqdm(total=rec.n_chars, unit="char", unit_scale=True, disable=report is not None or not progress,
                  desc=desc) as bar:
            chunks = rec.iter_chunks(blocks=blocks, chunk_chars=chunk_chars, unit_major=True)
            for start, stop in _accumulate(stats, sampled, chunks, targets, baseline):
                if cancel is not None and cancel():
                    raise SearchCancelled(f"{desc} cancelled at character {start:,} of {rec.n_chars:,}")
                bar.update(stop - start)
                if report is not None:
                    report(stop, rec.n_chars)
    if summaries.cacheable(rec):
        built = {b: s.summary() for b, s in stats.items() if s.base is None and s.hist_all is not None}
        if built:
            summaries.save(rec, bins, built)
    return stats, sampled


@dataclass
class _Setup:
    """What the StreamStats of a pass are made from (the same in this process and in a cluster task)."""
    blocks: list
    binary: list
    flip: list
    bins: int
    with_baseline: bool
    keep_hist: bool
    based: frozenset = frozenset()  # the blocks whose cached summary is used

    def stats(self, rec, cached: dict) -> tuple[dict, dict]:
        stats, sampled = {}, {}
        for b in self.blocks:
            lo, hi = rec.unit_range(*b)
            base = cached.get(b)
            if base is not None and not base.matches(lo, hi, self.bins):
                base = None
            stats[b] = StreamStats(lo, hi, binary=self.binary, bins=self.bins, base=base, flip=self.flip,
                                   keep_hist=base is None and self.keep_hist)
            if self.with_baseline:
                S = min(BASELINE_UNITS, len(lo))
                sampled[b] = StreamStats(lo[:S], hi[:S], binary=self.binary, bins=self.bins, flip=self.flip,
                                         base=base.head(S) if base is not None else None)
        return stats, sampled


def _accumulate(stats: dict, sampled: dict, chunks, targets, baseline, first: int = 0):
    """Add each chunk (start, stop, arrays) to the statistics; yields (start, stop) after each.
    targets and baseline hold the rows from character `first` on."""
    for start, stop, arrays in chunks:
        a, b = start - first, stop - first
        T = ChunkTargets(np.stack([y[a:b] for y in targets], 1) if len(targets)
                         else np.zeros((stop - start, 0), np.float32))  # (n, K), shared by the blocks
        TB = ChunkTargets(np.stack([y[a:b] for y in baseline], 1)) if len(baseline) else None
        for block, s in stats.items():
            s.update(arrays[block], T)
            if TB is not None:
                sampled[block].update(arrays[block][..., :sampled[block].lo.size, :], TB)  # its first S units, a view
        yield start, stop


def part_stats_task(job: tuple) -> tuple[dict, dict]:
    """A cluster task: the statistics of one part of a recording (its targets' rows come with it)."""
    path, index, setup, targets, baseline, chunk_chars = job
    rec = Recording(path)
    cached = summaries.load(rec, setup.bins)
    stats, sampled = setup.stats(rec, {b: cached[b] for b in setup.based if b in cached})
    if setup.based != {b for b, s in stats.items() if s.base is not None}:
        raise RuntimeError(f"the search summaries of {path} changed while the search ran: search again")
    part = rec.parts[index]
    chunks = rec.iter_chunks(blocks=setup.blocks, chunk_chars=chunk_chars, start=part.start, stop=part.stop,
                             unit_major=True)
    for _ in _accumulate(stats, sampled, chunks, targets, baseline, part.start):
        pass
    return stats, sampled


def _cluster_pass(client, rec, setup: _Setup, stats: dict, sampled: dict, targets, baseline, chunk_chars: int,
                  progress: Progress, desc: str) -> None:
    """One task per part of the recording (see stream_stats), merged into stats and sampled."""
    from ..cluster import map_tasks
    if not isinstance(rec, Recording):
        raise TypeError(f"a search on a cluster reads a recording folder, not a {type(rec).__name__}")
    compact = [y.astype(bool, copy=False) if b else y for y, b in zip(targets, setup.binary)]  # 0/1: a byte a character
    shifted = [y.astype(bool, copy=False) if b else y for y, b in zip(baseline, setup.binary)]
    jobs = [(str(rec.path), p.index, setup, [y[p.start:p.stop] for y in compact],
             [y[p.start:p.stop] for y in shifted], chunk_chars) for p in rec.parts]
    report = (lambda done, total: progress(done * rec.n_chars // total, rec.n_chars)) if callable(progress) else progress
    for part_stats, part_sampled in map_tasks(client, part_stats_task, jobs, desc,
                                              names=[f"part {p.index}" for p in rec.parts], progress=report):
        for b, s in part_stats.items():
            stats[b].merge(s)
        for b, s in part_sampled.items():
            sampled[b].merge(s)


def prepare(rec, kinds: Iterable[str] | None = None, bins: int = 256, progress: Progress = True,
            cancel: Callable[[], bool] | None = None) -> bool:
    """Build the recording's summary cache (what a first search builds) unless it is there already.

    Returns True if it computed one (saved unless the folder is read-only: then with a warning).
    The dashboard runs this when it opens a recording, so that the first search a user types
    histograms only the rows its target marks. Blocks already cached are not read again.
    """
    if not summaries.cacheable(rec):
        return False
    stats, _ = stream_stats(rec, [], [], kinds, bins, progress, cancel, desc="prepare search")
    return bool(stats)


def _frame(finals: dict, col: int) -> pd.DataFrame:
    """Rows (layer, kind, unit, statistics) of target column col, over all blocks."""
    parts = []
    for (layer, kind), out in finals.items():
        U = out["r"].shape[0]
        parts.append(pd.DataFrame({
            "layer": np.full(U, layer), "kind": kind, "unit": np.arange(U),
            **{k: out[k][:, col] for k in ("r", "auroc", "d", "f1", "threshold", "sign")},
            "support": np.full(U, out["support"][col]),
        }))
    return pd.concat(parts, ignore_index=True)[COLUMNS]


def score_text(binary: bool, auroc: float, r: float, chance_auroc: float | None, chance_r: float) -> str:
    """A unit's score beside its chance level, as the CLI and figures print it."""
    if binary:
        return f"separation {separation(auroc):.3f}, {direction(auroc)} (chance {chance_auroc:.3f}), r {r:+.3f}"
    return f"r {r:+.3f} (chance |r| {chance_r:.3f})"


def _baseline(df: pd.DataFrame, binary: bool, offset: int, seed: int) -> dict:
    sep = separation(df["auroc"]) if binary else None
    return {"r_p99": float(np.percentile(df["r"].abs(), 99)),
            "auroc_p99": float(np.percentile(sep, 99)) if binary else None,
            "offset": offset, "seed": seed, "units": len(df)}


def _shifted(y: np.ndarray, offset: int) -> np.ndarray:
    return np.roll(y, offset)  # (n,) y[i - offset]: the same runs, moved away from the text


def search(rec, regex: str | None = None, concept: str | None = None, target: str = "inside",
           kinds: Iterable[str] | None = None, top: int | None = None, progress: Progress = True,
           cancel: Callable[[], bool] | None = None, *, bins: int = 256, seed: int = 0,
           timeout: float | None = None, chunk_chars: int = CHUNK_CHARS, explanation: str | None = None,
           client=None) -> pd.DataFrame:
    """Score every unit against a regex (with target inside|start|end|group:N), a concept, or an
    explanation's text (as `charnn explain` prints it; see `make_target`).

    Returns one row per (layer, kind, unit), best first (see module docstring), columns
    layer, kind, unit, r, auroc, d, f1, threshold, sign, support; auroc, d, f1 and threshold are
    NaN for a continuous concept. df.attrs: "query", "binary", "n_chars", and "baseline"
    {"r_p99", "auroc_p99", "offset", "seed", "units" (how many units it was scored on)}.
    Raises RegexError (a ValueError) for a bad, slow or constant target, SearchCancelled when
    cancel() returns True. progress: True for a tqdm bar, or a function called as
    progress(done_chars, total_chars) after every chunk. client: a `dask.distributed.Client` to
    compute each part's statistics on its workers (see `stream_stats`).
    """
    y, binary, label = make_target(rec.string, regex, concept, target, timeout, explanation)
    offset = baseline_offset(rec.n_chars, seed)
    stats, sampled = stream_stats(rec, [y], [binary], kinds, bins, progress, cancel, chunk_chars,
                                  baseline=[_shifted(y, offset)], client=client)
    df = rank(_frame({b: s.finalize() for b, s in stats.items()}, 0), binary)
    chance = _frame({b: s.finalize() for b, s in sampled.items()}, 0)
    attrs = {"query": label, "binary": binary, "n_chars": rec.n_chars,
             "baseline": _baseline(chance, binary, offset, seed)}
    df = df.head(top) if top is not None else df
    df.attrs.update(attrs)
    return df


def atlas(rec, concepts: Iterable[str] | None = None, kinds: Iterable[str] | None = None, top: int = 5,
          progress: Progress = True, cancel: Callable[[], bool] | None = None, *, bins: int = 256,
          seed: int = 0, chunk_chars: int = CHUNK_CHARS, client=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every unit against every concept, in one pass (targets stacked as one (n, C) matrix).

    Returns (per_concept, per_unit):
      per_concept: the `top` best units of each concept (columns concept, binary, rank, then the
        search columns, then baseline_r_p99, baseline_auroc_p99);
      per_unit: each unit's best concept by |r| (comparable across binary and continuous
        concepts), sorted by |r|: layer, kind, unit, concept, r, auroc; and, when `charnn explain`
        has explained the recording, its best explanation and that explanation's held-out r
        (explanation, explanation_r); then half_life and memory_class (`charnn memory`'s median
        half-life and class; empty for a kind no gate decays, such as an LSTM's h).
    A concept that is constant on this text (no URL in a novel) is left out and listed in
    per_concept.attrs["skipped"] with the reason. When the scan holds both the model's units and
    an autoencoder's latents (kinds sae-NAME), per_concept.attrs["units_vs_latents"] has, per
    concept, the best unit against the best latent, over the whole text and on the text no
    autoencoder trained on (charnn.search.versus); else it is [].
    """
    names = list(CONCEPTS if concepts is None else concepts)
    targets, used, skipped = [], [], {}
    for name in names:
        try:
            y = concept_target(rec.string, name)
            check_target(y, f"concept {name!r}")
        except RegexError as err:
            skipped[name] = str(err)
            continue
        targets.append(y.astype(bool) if CONCEPTS[name].binary else y)  # bool: a quarter of the memory
        used.append(name)
    if not used:
        raise ValueError(f"no concept varies on this text: {skipped}")
    offset = baseline_offset(rec.n_chars, seed)
    binary = [CONCEPTS[c].binary for c in used]
    stats, sampled = stream_stats(rec, targets, binary, kinds, bins, progress, cancel, chunk_chars, desc="atlas",
                                  baseline=[_shifted(y, offset) for y in targets], client=client)
    finals = {b: s.finalize() for b, s in stats.items()}
    chance = {b: s.finalize() for b, s in sampled.items()}
    per_concept, frames = [], []
    for j, name in enumerate(used):
        df = _frame(finals, j)
        frames.append(df)
        base = _baseline(_frame(chance, j), binary[j], offset, seed)
        best = rank(df, binary[j]).head(top)
        per_concept.append(best.assign(concept=name, binary=binary[j], rank=np.arange(len(best)),
                                       baseline_r_p99=base["r_p99"], baseline_auroc_p99=base["auroc_p99"]))
    per_concept = pd.concat(per_concept, ignore_index=True)
    per_concept = per_concept[["concept", "binary", "rank"] + COLUMNS + ["baseline_r_p99", "baseline_auroc_p99"]]
    per_concept.attrs["skipped"] = skipped
    per_concept.attrs["units_vs_latents"] = units_vs_latents(frames, used, binary, rec if getattr(rec, "path", None)
                                                             is not None else None, targets)
    r = np.stack([f["r"].to_numpy() for f in frames], 1)  # (n_units, C)
    best = np.abs(r).argmax(1)  # (n_units,)
    rows = np.arange(len(best))
    per_unit = frames[0][["layer", "kind", "unit"]].assign(
        concept=np.array(used)[best], r=r[rows, best],
        auroc=np.stack([f["auroc"].to_numpy() for f in frames], 1)[rows, best])
    per_unit = per_unit.iloc[np.argsort(-np.abs(per_unit["r"].to_numpy()), kind="stable")].reset_index(drop=True)
    from ..explanations.table import best_explanations  # lazily: pyarrow
    named = best_explanations(rec) if getattr(rec, "path", None) is not None else None
    if named is not None:
        per_unit = per_unit.merge(named, on=["layer", "kind", "unit"], how="left")
    return per_concept, half_lives(rec, per_unit)
