"""Neurons across training and across runs: when did a concept's unit appear, and which unit of
another checkpoint or another seed is the same unit?

    charnn history runs/austen --concept inside_quotes     # best unit per probe recording
    charnn history runs/austen --unit 0:c:37               # that unit's best match at each step
    charnn match runs/a/recordings/val runs/b/recordings/val

Probe recordings come from `charnn train ... --record-every N --probe-text FILE`
(`RUN/recordings/step-XXXXXXX/`). Units are matched by the correlation of their activations
over the same text (Bau et al. 2019, "Identifying and controlling important neurons"),
computed from streamed sums so that no recording is held in memory whole.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .recording import Recording, RecordingError, open_recording, probe_steps
from .units import Unit


def probe_recordings(run: str | Path) -> list[tuple[int, Recording]]:
    """(step, recording) of every probe recording of a run, in step order."""
    found = probe_steps(run)
    if not found:
        raise RecordingError(f"{run} has no probe recordings: train with --record-every N --probe-text FILE")
    return [(step, open_recording(path)) for step, path in found.items()]


def concept_history(run, concept: str | None = None, regex: str | None = None, target: str = "inside",
                    kinds=None) -> pd.DataFrame:
    """Per probe step, the best unit for a concept or regex: step, layer, kind, unit, auroc, r, chance."""
    from .search import search
    rows = []
    for step, rec in probe_recordings(run):
        ranked = search(rec, regex=regex, concept=concept, target=target, kinds=kinds, progress=False)
        best = ranked.iloc[0]
        chance = ranked.attrs.get("baseline", {})
        rows.append({"step": step, "layer": int(best.layer), "kind": best.kind, "unit": int(best.unit),
                     "auroc": float(best.auroc), "r": float(best.r),
                     "chance_auroc_p99": chance.get("auroc_p99"), "chance_r_p99": chance.get("r_p99")})
    return pd.DataFrame(rows)


def _labels(rec: Recording, kinds) -> list[tuple[int, str, int]]:
    return [(layer, kind, unit) for kind in kinds for layer in range(rec.layers) for unit in range(rec.hidden)]


def _stacked(chunk: dict, rec: Recording, kinds) -> np.ndarray:
    return np.concatenate([chunk[(layer, kind)] for kind in kinds for layer in range(rec.layers)], axis=1)  # (n, U)


def correlations(a: Recording, b: Recording, kinds=None, units_a=None) -> tuple[np.ndarray, list, list]:
    """Pearson correlation (Ua, Ub) between units of two recordings of the same text.

    `units_a` (a list of (layer, kind, unit)) restricts the rows; default every unit."""
    if a.meta["source_sha256"] != b.meta["source_sha256"]:
        raise RecordingError(f"{a.path} and {b.path} recorded different texts: match units on the same text")
    kinds = [k for k in (kinds or a.stored_kinds) if k in a.kinds and k in b.kinds]
    if not kinds:
        raise RecordingError(f"{a.path} and {b.path} share no recorded kind")
    labels_a, labels_b = _labels(a, kinds), _labels(b, kinds)
    rows = np.arange(len(labels_a)) if units_a is None else np.array([labels_a.index(tuple(u)) for u in units_a])
    n, sa, sb, saa, sbb, sab = 0, 0.0, 0.0, 0.0, 0.0, 0.0
    for start, stop, ca in a.iter_chunks(kinds=kinds):  # b read over a's chunks: its row groups may differ
        cb = {(layer, kind): b.activations(layer, kind, None, start, stop) for kind in kinds for layer in range(b.layers)}
        x = _stacked(ca, a, kinds)[:, rows].astype(np.float64)  # (n, Ua)
        y = _stacked(cb, b, kinds).astype(np.float64)  # (n, Ub)
        n += len(x)
        sa, sb = sa + x.sum(0), sb + y.sum(0)
        saa, sbb = saa + (x * x).sum(0), sbb + (y * y).sum(0)
        sab = sab + x.T @ y  # (Ua, Ub)
    cov = sab / n - np.outer(sa / n, sb / n)
    std_a = np.sqrt(np.maximum(saa / n - (sa / n) ** 2, 0))
    std_b = np.sqrt(np.maximum(sbb / n - (sb / n) ** 2, 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.nan_to_num(cov / np.outer(std_a, std_b))
    return corr, [labels_a[i] for i in rows], labels_b


def match_units(a: Recording, b: Recording, kinds=None, units_a=None) -> pd.DataFrame:
    """For each unit of `a`, the unit of `b` whose activation correlates most (by |r|)."""
    corr, labels_a, labels_b = correlations(a, b, kinds, units_a)
    best = np.abs(corr).argmax(axis=1)
    return pd.DataFrame([
        {"layer": la[0], "kind": la[1], "unit": la[2], "match_layer": labels_b[j][0], "match_kind": labels_b[j][1],
         "match_unit": labels_b[j][2], "corr": float(corr[i, j])}
        for i, (la, j) in enumerate(zip(labels_a, best))
    ]).sort_values("corr", key=np.abs, ascending=False, ignore_index=True)


def unit_history(run, unit: Unit | str, reference_step: int | None = None) -> pd.DataFrame:
    """Where `unit` (of the reference step, default the last) is at every probe step: its best match."""
    unit = Unit.parse(unit)
    recordings = probe_recordings(run)
    steps = [s for s, _ in recordings]
    if reference_step is not None and reference_step not in steps:
        raise RecordingError(f"no probe recording at step {reference_step}: steps are {steps}")
    reference = dict(recordings)[reference_step if reference_step is not None else steps[-1]]
    reference.check(unit.layer, unit.kind, [unit.index])
    rows = []
    for step, rec in recordings:
        best = match_units(reference, rec, kinds=[unit.kind], units_a=[(unit.layer, unit.kind, unit.index)]).iloc[0]
        rows.append({"step": step, "match_layer": int(best.match_layer), "match_kind": best.match_kind,
                     "match_unit": int(best.match_unit), "corr": float(best["corr"])})
    return pd.DataFrame(rows)
