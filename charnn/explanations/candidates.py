"""Each unit's candidate explanations, the few kept, and their scores from the moments.

    cands = candidates(path, chains, fit, lib, max_terms)   # per unit: [Candidate, ...]
    kept = [choose(c, top) for c in cands]
    r = linear_scores(kept, mom)                             # {"r_fit", "r_heldout", "r_all", "r_chance"}: (U, K)

Candidates: the greedy path's first 1..max_terms terms (one term prints bare, with its own
sign; more print with their least-squares weights, rounded to three digits and scored as
printed), the next best single terms, and the beam search's best AND / OR chain of each length.
A candidate that is a weighted sum carries its coefficients over the features (`coef`): its r
on any part follows from that part's moments. A 0/1 candidate also carries a `compiled` form
for the scoring pass (AUROC and IoU; for a chain, its r too).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..text.grammar import BoolOp, Linear
from . import select
from .moments import fit_r

PARSIMONY = 0.01  # r an explanation must gain per extra term to rank above a shorter one


@dataclass
class Candidate:
    root: object  # the program's root node (prints as the explanation)
    terms: int
    r_est: float  # r on the fitting part: exact for a sum, on the beam's sample for a chain
    coef: np.ndarray | None = None  # (p,) the value as a weighted sum of features (None for a chain)
    compiled: tuple | None = None  # the scoring pass's form of a 0/1 program (None for other sums)

    def rank_key(self, r: float | None = None) -> float:
        return -(abs(self.r_est if r is None else r) - PARSIMONY * (self.terms - 1))


def _rows_form(v: np.ndarray, pb: int) -> tuple | None:
    """("rows", rows) for a single 0/1 term's vector (a column, or a set: ones on its one-hot rows),
    None for a continuous one."""
    rows = np.flatnonzero(v)
    if rows.size == 0 or rows.max() >= pb or not np.all(v[rows] == 1):
        return None
    return ("rows", rows)


def candidates(path: select.Path, chains: list, fit: tuple, lib, max_terms: int, pb: int) -> list[list[Candidate]]:
    """Per unit, its candidates (see module docstring); fit = (C, b, vx) of the fitting part."""
    C, b, vx = fit
    U = b.shape[1]
    out = [[] for _ in range(U)]
    for k in range(1, max_terms + 1):
        A = path.A[:, :k]
        w = np.ones((U, 1)) if k == 1 else select.fit_weights(C, b, A)
        r = fit_r(C, b, vx, A, w)
        for u in range(U):
            terms = path.terms[u][:k]
            if any(t is None for t in terms) or vx[u] <= 0:
                continue
            coef = np.einsum("kp,k->p", A[u], w[u])
            root = terms[0] if k == 1 else Linear(tuple((float(wi), t) for wi, t in zip(w[u], terms)))
            out[u].append(Candidate(root, k, float(r[u]), coef, _rows_form(coef, pb) if k == 1 else None))
    for u in range(U):
        for atom, v, _ in path.singles[u]:
            r = fit_r(C, b[:, [u]], vx[[u]], v[None, None, :], np.ones((1, 1)))[0]
            out[u].append(Candidate(atom, 1, float(r), v, _rows_form(v, pb)))
    for d in range(1, len(chains)):
        for u in range(U):
            found = chains[d][u]
            if found is None or vx[u] <= 0:
                continue
            cols, ops, r = found
            root = lib.atoms[cols[0]]
            for op, j in zip(ops, cols[1:]):
                root = BoolOp(op, root, lib.atoms[j])
            out[u].append(Candidate(root, d + 1, r, None, ("chain", np.array(cols), tuple(ops))))
    return out


def choose(cands: list[Candidate], top: int) -> list[Candidate]:
    """The `top` best distinct candidates by |r| on the fitting part, less PARSIMONY per extra term;
    a candidate is kept only if it ranks above every shorter one (a longer explanation that does
    not earn its extra terms is the shorter one, restated)."""
    seen, out, best_shorter = set(), [], {}
    for c in sorted(cands, key=lambda c: (c.terms, c.rank_key())):  # shortest first
        shorter = min((k for t, k in best_shorter.items() if t < c.terms), default=np.inf)
        if str(c.root) in seen or c.rank_key() >= shorter:
            continue
        seen.add(str(c.root))
        out.append(c)
        best_shorter[c.terms] = min(best_shorter.get(c.terms, np.inf), c.rank_key())
    return sorted(out, key=Candidate.rank_key)[:top]


def linear_scores(kept: list[list[Candidate]], mom: dict) -> dict[str, np.ndarray]:
    """(U, K) r_fit, r_heldout, r_all, r_chance of the weighted-sum candidates, from the moments
    (NaN where a unit has no such k-th candidate)."""
    U, K = len(kept), max((len(c) for c in kept), default=0)
    p = mom["fit"].sf.size
    covs = {name: m.covariances() for name, m in mom.items()}
    out = {f"r_{name}": np.full((U, K), np.nan) for name in ("fit", "heldout", "all", "chance")}
    for k in range(K):
        A = np.zeros((U, 1, p))
        has = np.array([k < len(c) and c[k].coef is not None for c in kept])
        for u in np.flatnonzero(has):
            A[u, 0] = kept[u][k].coef
        w = np.ones((U, 1))
        for name in ("fit", "heldout", "all"):
            C, b, vx = covs[name]
            out[f"r_{name}"][has, k] = fit_r(C, b, vx, A, w)[has]
        C, _, vx = covs["heldout"]
        out["r_chance"][has, k] = fit_r(C, covs["chance"][1], vx, A, w)[has]
    return out
