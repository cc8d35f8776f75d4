"""The memory part of an explanation: readable terms fitted on what the local lookup leaves, scored held out.

    G = cell_feature_sums(fm, ids, start, stop, T)         # (p, T) sums of the centred features per cell
    res = residual(mom["fit"], G_fit, cells_fit, table)    # covariances of the features with x - lookup
    mem = fit_memory(res, held_res, lib, centre)   # Memory: terms, readable, r2_whole, score_readable

The lookup's value is a function of the context cell (`lookup`), so everything a least-squares
fit needs about the residual r = x - lookup follows from the moments of the features against x
and two more sums per part: the features summed per cell (G) and the unit summed per cell:
cov(F, r) = cov(F, x) - (G P / n - mean F mean P), and the residual's variance likewise.

Readable terms are those of the library with character sets of at most READABLE_SET characters
(a class such as vowel or punct counts as one term); greedy least squares picks up to MAX_TERMS on
the fitting part's residual, each kept only if it explains MIN_GAIN of the unit's variance. Then:
  r2_memory       held-out R^2 of lookup + readable terms, less the lookup's (the gain)
  r_alone         r of the readable terms alone against the unit (weights refitted on the unit's
                  values on the fitting part; the lookup left out), on the fitting and held-out part
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..text.grammar import Linear
from . import select
from .moments import Moments, fit_r

READABLE_SET = 3  # characters a set term lists at most
MAX_TERMS = 3
MIN_GAIN = 0.005  # share of the unit's variance a readable term must explain on the fitting part


def cell_feature_sums(fm, ids: np.ndarray, start: int, stop: int, T: int, chunk: int = 65536) -> np.ndarray:
    """(p, T) sums of the centred features over the characters [start, stop) in each cell (ids (n,) of
    the feature matrix's text)."""
    G = torch.zeros(fm.p, T, dtype=torch.float64)
    for a in range(start, stop, chunk):
        b = min(a + chunk, stop)
        F = torch.from_numpy(fm.chunk(a, b)).double()  # (p, b - a)
        G.index_add_(1, torch.from_numpy(ids[a:b]), F)
    return G.numpy()


@dataclass
class Residual:
    C: np.ndarray  # (p, p) features
    b: np.ndarray  # (p, U) features with the residual
    v: np.ndarray  # (U,) residual variance
    mean_r: np.ndarray  # (U,) residual mean
    mean_f: np.ndarray  # (p,) feature means
    vx: np.ndarray  # (U,) the unit's variance
    bx: np.ndarray  # (p, U) features with the unit itself


def residual(mom: Moments, G: np.ndarray, n: np.ndarray, s: np.ndarray, P: np.ndarray) -> Residual:
    """The covariances of a part with r = x - P[cell]: mom its moments, G (p, T) its per-cell feature
    sums, n (T,), s (T, U) its per-cell counts and value sums, P (T, U) the lookup."""
    C, b, vx = mom.covariances()
    N = max(mom.n, 1)
    mf, mx = mom.sf / N, mom.sx / N
    mP = n @ P / N  # (U,)
    cov_fP = G @ P / N - np.outer(mf, mP)  # (p, U)
    cov_xP = np.einsum("tu,tu->u", s, P) / N - mx * mP
    var_P = np.einsum("t,tu->u", n, P * P) / N - mP ** 2
    v = np.maximum(vx - 2 * cov_xP + var_P, 0.0)
    flat = np.diag(C) <= 0
    b_r = np.where(flat[:, None], 0.0, b - cov_fP)
    return Residual(C, b_r, np.where(vx > 0, v, 0.0), mx - mP, mf, vx, b)


@dataclass
class Memory:
    terms: list  # per unit: [(weight, atom), ...] fitted on the residual (empty: no memory part)
    readable: list  # per unit: the printed terms ("" when none)
    offset: np.ndarray  # (U,) constant of the prediction lookup + terms, on the features' own values
    r2_whole: np.ndarray  # (U,) held-out R^2 of lookup + terms
    r_alone: np.ndarray  # (2, U) r of the terms alone, refitted on the unit, on the fitting and the held-out part
    sse_held: np.ndarray  # (U,) held-out mean squared error of lookup + terms
    A: np.ndarray  # (U, MAX_TERMS, p) the kept terms as vectors over the features


def fit_memory(fit: Residual, held: Residual, lib, centre: np.ndarray) -> Memory:
    """Readable terms per unit on the fitting part's residual, scored on the held-out part's;
    centre (p,): the features' centres (for the offset on their own values)."""
    path = select.greedy(fit.C, fit.b, fit.v, lib, centre, MAX_TERMS, max_set=READABLE_SET)
    share = path.gain * (fit.v / np.where(fit.vx > 0, fit.vx, 1.0))[:, None]  # (U, steps) of the unit's variance
    kept = np.cumprod(share >= MIN_GAIN, 1).astype(bool)  # (U, steps) a term counts only after kept ones
    A = path.A * kept[:, :, None]
    w = select.fit_weights(fit.C, fit.b, A)  # (U, steps) as printed
    a = np.einsum("ukp,uk->up", A, w)  # (U, p)
    c0 = fit.mean_r - a @ fit.mean_f  # (U,) the intercept on the centred features
    var = held.v - 2 * np.einsum("up,pu->u", a, held.b) + np.einsum("up,pq,uq->u", a, held.C, a)
    bias = held.mean_r - a @ held.mean_f - c0
    mse = np.maximum(var, 0.0) + bias ** 2
    ok = held.vx > 0
    r2_whole = np.where(ok, 1.0 - mse / np.where(ok, held.vx, 1.0), 0.0)
    w_x = select.fit_weights(fit.C, fit.bx, A)  # the terms refitted on x itself
    alone = np.stack([fit_r(part.C, part.bx, part.vx, A, w_x) for part in (fit, held)]) * kept[:, 0]
    terms = [[(float(w[u, k]), path.terms[u][k]) for k in range(A.shape[1]) if kept[u, k] and w[u, k] != 0]
             for u in range(A.shape[0])]
    printed = [str(Linear(tuple(t))) if t else "" for t in terms]
    offset = c0 - a @ centre
    return Memory(terms, printed, offset, r2_whole, alone, mse, A)

