"""Every unit's explanation in two parts: a lookup on the last K characters, then readable terms for what it leaves.

    two = two_part(parts, mom, shift, constant)      # TwoPart: per-unit columns of explanations.parquet
    two.columns["class"], two.columns["r2_local"], two.reconstruction

From pass 1's sums (`passes.moments_pass`: the moments and the per-cell sums "cells"), without
another pass over the recording: the local part (`lookup.fit_local`), the memory part on its
residual (`memory.fit_memory`), the class (`classes.classify`), and per block of units the
whole-state reconstruction (`reconstruct.share`). Values are the units' stored values, centred by
`shift` (the middle of each unit's range, as the moments are); the tables are stored uncentred.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import classes, lookup, memory, reconstruct
from .passes import contexts

COLUMNS = ["lookup", "readable", "score_readable", "r2_local", "r2_memory", "r2_pairs", "class"]


@dataclass
class TwoPart:
    columns: dict  # name -> (U,) list or array, for every column of COLUMNS and "offset"
    tables: np.ndarray  # (T, U) each unit's lookup value per context cell (the unit's own values)
    ctx: lookup.Contexts
    mse: np.ndarray  # (U,) held-out mean squared error of lookup + readable terms
    vx_held: np.ndarray  # (U,) held-out variance
    r_fit_readable: np.ndarray  # (U,) r of the readable terms alone on the fitting part


def two_part(parts, mom: dict, shift: np.ndarray, constant: np.ndarray, integrator=None) -> TwoPart:
    """The two-part explanations of every unit (see the module docstring); mom holds pass 1's
    moments and "cells"; constant (U,) bool: units left unexplained; integrator (U,) bool or None."""
    fit, held = parts
    ctx, ids = contexts(parts)
    cells = mom["cells"]
    local = lookup.fit_local(cells, ctx)
    T = len(ctx)
    G_fit = memory.cell_feature_sums(fit.fm, ids[id(fit.rec)], fit.start, fit.stop, T)
    G_held = memory.cell_feature_sums(held.fm, ids[id(held.rec)], held.start, held.stop, T)
    n_fit, s_fit, _ = cells.part([0, 1])
    res_fit = memory.residual(mom["fit"], G_fit, n_fit, s_fit, local.table)
    res_held = memory.residual(mom["heldout"], G_held, *cells.part([2])[:2], local.table)
    mem = memory.fit_memory(res_fit, res_held, fit.fm.lib, fit.fm.centre)
    off = np.where(constant, 0.0, 1.0)
    r2_local = local.r2_local * off
    r2_memory = (mem.r2_whole - local.r2_local) * off
    printed = [lookup.describe(ctx, local.form[u], local.table[:, u], n_fit, float(shift[u])) if not constant[u]
               else "" for u in range(len(shift))]
    columns = {"lookup": printed, "readable": [("" if constant[u] else r) for u, r in enumerate(mem.readable)],
               "score_readable": mem.r_alone[1] * off, "r2_local": r2_local, "r2_memory": r2_memory,
               "r2_pairs": local.r2_pairs * off,
               "class": classes.classify(r2_local, r2_memory, constant, integrator),
               "offset": mem.offset * off}
    return TwoPart(columns, local.table + shift[None, :], ctx, mem.sse_held, res_held.vx, mem.r_alone[0] * off)


def best_readable(two: TwoPart, r_fit: np.ndarray, score: np.ndarray) -> None:
    """score_readable: the held-out r of the unit's best readable program alone (no lookup), chosen on
    the fitting part between its best explanation (r_fit, score (U,): rank 1's) and its readable
    terms refitted on the unit."""
    mine = np.abs(np.nan_to_num(r_fit)) >= two.r_fit_readable
    two.columns["score_readable"] = np.where(mine, np.nan_to_num(score), two.columns["score_readable"])


def reconstruction(two: TwoPart, units: list[tuple[int, str, int]]) -> list[dict]:
    """Per (layer, kind): the held-out share of its state's variance that its units' explanations reproduce."""
    return reconstruct.share(units, two.mse, two.vx_held)
