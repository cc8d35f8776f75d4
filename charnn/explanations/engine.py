"""`charnn.explain(rec)`: a readable explanation for every unit of a recording, scored on text it never saw.

    import charnn
    rec = charnn.open_recording("runs/austen/recordings/val")
    df = charnn.explain(rec, kinds=["c", "h"])      # rows (layer, kind, unit, rank, explanation, score, ...)
    df[df["rank"] == 1].sort_values("score")        # each unit's best explanation
    charnn.explain(rec, heldout=other_rec)          # fit on rec, score on another recording of the run

How: (1) the text's feature library is computed once and cached beside the recording
(`featcache`); (2) one pass over the recording sums mergeable moments of features against units
for the fitting and the held-out part, and keeps a sample of the fitting part (`passes`);
(3) greedy least squares picks each unit's terms from the fitting part's moments (`select`),
a beam search over AND / OR / AND NOT finds 0/1 compositions on the sample (`beam`), and each
unit keeps its `top` candidates by r on the fitting part (`candidates`); (4) weighted sums are
scored from the moments, and a second pass scores the 0/1 explanations on every character
(AUROC, IoU; `score`). The term-count curve (held-out r with 1, 2, 3, 5, 10 greedy terms) comes
from the moments alone. The rows are in `table` (explanations.parquet).

Values explained: the units' stored values (`charnn.units.unit_value`). The
fitting part is the first half of the text and the held-out part the second, unless `heldout=`
names another recording (then all of `rec` is fitted). A dashboard runs `explain` in a
background thread with `progress=` and `cancel=`, as it runs `charnn.search.search`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..recording.reader import CHUNK_ROWS, scan_blocks
from ..scan import Cancelled, Progress
from ..threads import per_tile
from . import beam, classes, memory, passes, select, table, twopart
from .candidates import candidates, choose, linear_scores
from .moments import fit_r


class ExplainCancelled(Cancelled):
    """The caller's cancel() returned True; nothing was written."""


@dataclass
class Settings:
    kinds: list
    max_terms: int = 3
    top: int = 3
    max_set: int = 3
    sample: int = 16384
    width: int = 5
    hist_sample: int = 65536
    seed: int = 0
    chunk_chars: int = CHUNK_ROWS
    heldout: str = "second half"


class _Progress:
    """Work steps: each pass counts its characters; selection and beam search count a tenth each."""

    def __init__(self, progress: Progress, total: int, cancel):
        self.report = progress if callable(progress) else None
        self.bar = tqdm(total=total, unit="step", disable=self.report is not None or not progress, desc="explain")
        self.done, self.total, self.cancel = 0, total, cancel
        self.seconds, self.cpu_seconds = {}, {}
        self._clock, self._cpu = time.perf_counter(), time.process_time()

    def check(self, where: str) -> None:
        if self.cancel is not None and self.cancel():
            raise ExplainCancelled(f"explain cancelled {where}")

    def step(self, n: int, where: str = "") -> None:
        self.check(where)
        self.done += n
        self.bar.update(n)
        if self.report is not None:
            self.report(min(self.done, self.total), self.total)

    def lap(self, name: str) -> None:
        """Record the wall and CPU seconds since the previous lap under `name` (df.attrs["seconds"],
        ["cpu_seconds"]: on a shared machine the CPU time says what the work costs)."""
        now, cpu = time.perf_counter(), time.process_time()
        self.seconds[name] = round(now - self._clock, 3)
        self.cpu_seconds[name] = round(cpu - self._cpu, 3)
        self._clock, self._cpu = now, cpu


def check_heldout(rec, heldout) -> None:
    """Refuse a held-out recording of the same text (the same recording, or a copy): its scores
    would be in-sample scores reported as held out. Texts are compared by their sha256 in meta.json."""
    mine, theirs = (getattr(r, "meta", {}).get("source_sha256") for r in (rec, heldout))
    if mine is not None and mine == theirs:
        raise ValueError(f"the held-out recording {getattr(heldout, 'path', heldout)} holds the same text as "
                         f"{getattr(rec, 'path', rec)} (sha256 {mine[:12]}...): its scores would not be held out; "
                         "record another text for --heldout, or leave it out to hold out the second half")


def explain(rec, kinds=None, max_terms: int = 3, top: int = 3, heldout=None, progress: Progress = True,
            cancel: Callable[[], bool] | None = None, *, max_set: int = 3, sample: int = 16384, width: int = 5,
            hist_sample: int = 65536, seed: int = 0, chunk_chars: int = CHUNK_ROWS, save: bool = True,
            client=None) -> pd.DataFrame:
    """Explain every unit of `rec` (of the given kinds, default all); returns the rows of
    explanations.parquet (`charnn.explanations.table`), one per (unit, rank), rank 1 first.

    max_terms: atoms per explanation (1..10); top: explanations kept per unit; heldout: another
    recording of the same run to score on (default: the second half of rec); max_set: the most
    characters a character set may list (0: no sets); sample, width: the beam search's sample of
    the fitting part and its width; hist_sample: held-out characters that AUROC and IoU are
    counted on (r is on every character); seed: the samples' and the chance shift's seed; save: write
    <rec>/explanations.parquet (atomically: Ctrl-C or cancel leaves the previous file or none).
    progress: True for a bar on stderr, or progress(done, total) called as work steps finish;
    cancel: returns True to stop (raises ExplainCancelled). A unit that does not vary on the
    fitting or the held-out part gets one row with status "constant", no explanation and r 0.
    client: a `dask.distributed.Client`: both passes run one task per part of each recording on its
    workers, and their sums are added here (the feature library is built here first and cached
    beside the recording, where the workers read it).
    """
    if not 1 <= max_terms <= max(table.CURVE):
        raise ValueError(f"max_terms must be 1..{max(table.CURVE)}, not {max_terms}")
    if top < 1:
        raise ValueError(f"top must be at least 1, not {top}")
    blocks = scan_blocks(rec, kinds)
    if heldout is not None:
        check_heldout(rec, heldout)
        scan_blocks(heldout, [k for _, k in blocks])
    parts = passes.make_parts(rec, heldout, blocks)
    where = "second half" if parts[0].n == rec.n_chars // 2 else \
        f"characters {parts[1].start:,}-{rec.n_chars:,}, which its autoencoders never trained on"
    settings = Settings(sorted({k for _, k in blocks}), max_terms, top, max_set, sample, width, hist_sample, seed,
                        chunk_chars, str(getattr(heldout, "path", "another recording")) if heldout is not None
                        else where)
    chars = sum(p.n for p in parts)
    prog = _Progress(progress, 2 * chars + 2 * (chars // 10), cancel)
    try:
        prog.lap("features")
        with per_tile(1) as workers:  # as the search: single-threaded ops, blocks on worker threads
            df = _explain(parts, blocks, settings, prog, chars, workers, client)
    finally:
        prog.bar.close()
    df.attrs.update(settings=asdict(settings), n_fit=parts[0].n, n_heldout=parts[1].n, seconds=prog.seconds,
                    cpu_seconds=prog.cpu_seconds)
    if save and getattr(rec, "path", None) is not None:
        table.save_explanations(df, table.explanations_path(rec), (getattr(rec, "meta", None) or {}).get("recording_id"))
    return df


def _explain(parts, blocks, s: Settings, prog: _Progress, chars: int, workers: int, client) -> pd.DataFrame:
    ranges = passes.unit_ranges(parts, blocks)
    mom, sample_b, sample_x = passes.moments_pass(parts, blocks, ranges, s.sample, s.seed, s.chunk_chars, prog.step,
                                                  workers, client)
    prog.lap("moments pass")
    fm = parts[0].fm
    C, b, vx = mom["fit"].covariances()
    held = mom["heldout"].covariances()
    constant = (vx <= 0) | (held[2] <= 0)  # nothing to explain, or nothing to score it on (a saturated tanh(c))
    vx = np.where(constant, 0.0, vx)
    fit = (C, b, vx)
    units = [(layer, kind, u) for layer, kind in blocks for u in range(len(ranges[(layer, kind)][0]))]
    integrator, half_life = classes.memory(parts[0].rec, units)
    two = twopart.two_part(parts, mom, passes.middle(ranges, blocks, False).astype(np.float64), constant, integrator)
    mom.pop("cells")
    path = select.greedy(C, b, vx, fm.lib, fm.centre, max(table.CURVE), max_set=s.max_set)
    curve = _curve(path, fit, held)
    prog.step(chars // 10, "after the term selection")
    prog.lap("greedy selection")
    chains = beam.beam(sample_b, sample_x, depth=s.max_terms, width=s.width, cancel=prog.cancel,
                       run=lambda fn, items: passes.each_block(workers, fn, items)) \
        if s.max_terms > 1 else [[None] * b.shape[1]]
    prog.step(chars // 10, "after the beam search")
    prog.lap("beam search")
    kept = [choose(c, s.top) for c in candidates(path, chains, fit, fm.lib, s.max_terms, fm.B.shape[0])]
    stats = linear_scores(kept, mom)
    programs = [[c.compiled for c in cs] for cs in kept]
    sc = passes.scoring_pass(parts, blocks, ranges, programs, s.seed, s.hist_sample, s.chunk_chars, prog.step,
                             workers, client)
    prog.lap("scoring pass")
    chain = np.array([[k < len(cs) and cs[k].coef is None for k in range(sc.K)] for cs in kept], bool).reshape(-1, sc.K)
    for name in ("r_fit", "r_heldout", "r_all", "r_chance"):
        stats[name] = np.where(chain, sc.r(name[2:]), stats[name])
    stats.update((k, v) for k, v in sc.finalize(np.where(stats["r_fit"] < 0, -1.0, 1.0)).items() if not k.startswith("r_"))
    kept, stats, scored = _reorder(kept, stats, sc.scored)
    if stats["r_fit"].shape[1] and s.max_set <= memory.READABLE_SET:  # the best explanation is readable too
        oriented = np.where(stats["r_fit"][:, 0] < 0, -1.0, 1.0) * stats["r_heldout"][:, 0]
        twopart.best_readable(two, stats["r_fit"][:, 0], oriented)
    df = table.frame(units, kept, stats, curve, constant, scored, two, half_life)
    df.attrs.update(reconstruction=twopart.reconstruction(two, units),
                    contexts={"alphabet": two.ctx.alphabet.tolist(), "keys": two.ctx.keys.tolist()})
    return df


def _reorder(kept: list[list], stats: dict, scored: np.ndarray):
    """Each unit's explanations by their exact r on the fitting part (less PARSIMONY per extra term)."""
    order = [sorted(range(len(cs)), key=lambda k: cs[k].rank_key(stats["r_fit"][u, k])) for u, cs in enumerate(kept)]
    K = scored.shape[1]
    idx = np.array([o + list(range(len(o), K)) for o in order], np.int64).reshape(-1, K)
    stats = {name: np.take_along_axis(v, idx, 1) for name, v in stats.items()}
    return [[cs[k] for k in o] for cs, o in zip(kept, order)], stats, np.take_along_axis(scored, idx, 1)


def _curve(path: select.Path, fit: tuple, held: tuple) -> np.ndarray:
    """(U, len(CURVE)) held-out r of the greedy path's first k terms, weights fitted on the fitting part."""
    (C, b, _), (Ch, bh, vxh) = fit, held
    out = np.zeros((b.shape[1], len(table.CURVE)))
    for i, k in enumerate(table.CURVE):
        A = path.A[:, :k]
        out[:, i] = fit_r(Ch, bh, vxh, A, select.fit_weights(C, b, A))
    return out
