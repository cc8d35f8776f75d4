"""Greedy least-squares selection of explanation terms, for every unit at once, from moments alone.

    path = greedy(C, b, vx, lib, steps=10)     # C (p, p), b (p, U), vx (U,) of the fitting part
    path.terms[u][k], path.A                   # unit u's k-th term; (U, steps, p) term vectors
    w = fit_weights(C, b, path.A[:, :3])       # (U, 3) least-squares weights of the first 3 terms

Forward selection, vectorised over units: each step adds, per unit, the term that most reduces
the residual variance given the terms already chosen (Gram-Schmidt in the covariance inner
product: each chosen term leaves a vector q = cov(every feature, the term's new part), which
updates every candidate's covariance with the residual and its own residual variance). No pass
over the characters: everything is p x p and p x U algebra on the fitting part's moments.

Candidates are the library's columns and, for each one-hot group (`char`, `after`, `2 after`),
a character set: the group's characters (and "every other character", the rare ones) sorted by
the unit's mean residual given each, the best prefix or suffix of that order listing at most
max_set characters (exact for a first term: the best two-way split of a category by squared
error is a split of its categories sorted by mean). A set is one readable term, `char [aeiou]`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..text.atoms import CharAtom, CharPred
from ..text.grammar import round_weight

TOL = 1e-6  # a candidate whose residual variance is below TOL x its variance is (nearly) a chosen term
ALTERNATIVES = 3  # single terms kept per unit besides the greedy path's first


@dataclass
class Path:
    A: np.ndarray  # (U, steps, p) each chosen term as a vector over the features (0 after the unit stopped)
    terms: list  # terms[u][k]: the Atom chosen at step k, None after the unit stopped
    gain: np.ndarray  # (U, steps) share of the unit's variance each step explained
    singles: list  # singles[u]: up to ALTERNATIVES (atom, vector (p,), gain) first terms besides the path's


def _group_basis(lib, p: int) -> list[tuple[str, np.ndarray, torch.Tensor]]:
    """Per one-hot group: (position, codes (V,), E (V + 1, p)): rows e_c, and -sum e_c for "any other
    character" (its indicator is 1 - sum of the others: the constant drops out of every covariance)."""
    out = []
    for position, g in lib.groups.items():
        E = torch.zeros(len(g.columns) + 1, p, dtype=torch.float64)
        E[torch.arange(len(g.columns)), torch.from_numpy(g.columns)] = 1.0
        E[-1, torch.from_numpy(g.columns)] = -1.0
        out.append((position, g.codes, E))
    return out


def set_atom(position: str, codes: np.ndarray, listed: np.ndarray):
    """The atom of a character set: listed (V,) bool over codes."""
    return CharAtom(position, CharPred.of([int(c) for c, m in zip(codes, listed) if m]))


def listed(members: torch.Tensor) -> torch.Tensor:
    """(U, V) the characters a set lists: its members, or, when it holds "any other character" (the
    last category), the characters it leaves out. The two are one feature up to sign and a constant
    (indicator(S) = 1 - indicator(rest)), so an explanation always lists: `char [IT]`, never `char [^IT]`."""
    return torch.where(members[:, -1:], ~members[:, :-1], members[:, :-1])


class _State:
    """The residual covariances of every candidate with each unit, updated term by term."""

    def __init__(self, C: np.ndarray, b: np.ndarray):
        self.C = torch.from_numpy(C)  # (p, p)
        self.b = torch.from_numpy(b).clone()  # (p, U) cov(candidate, residual of x)
        self.diag = torch.diagonal(self.C).clone()  # (p,)
        self.den = self.diag[:, None].repeat(1, self.b.shape[1])  # (p, U) residual variance of each candidate
        self.Q: list[torch.Tensor] = []  # per chosen step: (p, U) cov(candidate, new part of the term)
        self.D: list[torch.Tensor] = []  # per chosen step: (U,) variance of that new part
        self.CG: dict = {}  # per group basis: (E, (U, V1, V1) residual covariances of its categories)

    def fixed(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(gain (U,), column (U,)) of the best library column per unit."""
        ok = self.den > TOL * self.diag[:, None]
        g = torch.where(ok, self.b ** 2 / torch.where(ok, self.den, 1.0), 0.0)  # (p, U)
        return g.max(0)

    def sets(self, E: torch.Tensor, freq: torch.Tensor, max_set: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(gain (U,), members (U, V + 1) bool) of the best character set of a group per unit."""
        bG = (E @ self.b).T  # (U, V1) cov of each category with the residual
        CG = self._group_cov(E)  # (U, V1, V1)
        scale = torch.diagonal(E @ self.C @ E.T)  # (V1,) variance of each category's indicator
        key = torch.where(freq > 1e-9, bG / freq.clamp_min(1e-9), 0.0)  # mean residual; 0 for an empty category
        order = torch.argsort(key, dim=1)  # (U, V1)
        best_gain = torch.zeros(bG.shape[0], dtype=torch.float64)
        best = torch.zeros_like(bG, dtype=torch.bool)
        V1 = bG.shape[1]
        for perm in (order, order.flip(1)):
            num = torch.cumsum(torch.gather(bG, 1, perm), 1)  # (U, V1) cov of each prefix with the residual
            S = torch.gather(torch.gather(CG, 1, perm[:, :, None].expand(-1, -1, V1)), 2,
                             perm[:, None, :].expand(-1, V1, -1))  # (U, V1, V1) in prefix order
            # prefix variance: den_k = den_{k-1} + S_kk + 2 sum_{i<k} S_ki
            lower = torch.diagonal(torch.cumsum(S, 2), offset=-1, dim1=1, dim2=2)  # (U, V1 - 1) sum_{i<k} S_ki, k >= 1
            den = torch.cumsum(torch.diagonal(S, dim1=1, dim2=2) + 2 * F.pad(lower, (1, 0)), 1)  # (U, V1)
            size = torch.cumsum(scale[perm], 1)
            ok = den > TOL * size
            ok[:, -1] = False  # the whole group is a constant
            length = torch.arange(1, V1 + 1)[None, :]  # (1, V1) prefix sizes
            has_other = torch.cumsum(perm == V1 - 1, 1) > 0  # (U, V1) the prefix holds "any other"
            ok &= torch.where(has_other, V1 - length, length) <= max_set
            gain = torch.where(ok, num ** 2 / torch.where(ok, den, 1.0), 0.0)
            g, k = gain.max(1)  # (U,)
            better = g > best_gain
            members = torch.arange(V1)[None, :] <= k[:, None]  # (U, V1) in prefix order
            chosen = torch.zeros_like(best).scatter_(1, perm, members)
            best = torch.where(better[:, None], chosen, best)
            best_gain = torch.where(better, g, best_gain)
        return best_gain, best

    def _group_cov(self, E: torch.Tensor) -> torch.Tensor:
        """(U, V1, V1) residual covariances among a group's categories, kept and updated by `add`."""
        key = id(E)
        if key not in self.CG:
            CG = (E @ self.C @ E.T).expand(self.b.shape[1], -1, -1).clone()
            for q, d in zip(self.Q, self.D):
                eq = (E @ q).T  # (U, V1)
                CG -= eq[:, :, None] * eq[:, None, :] / d[:, None, None]
            self.CG[key] = (E, CG)
        return self.CG[key][1]

    def add(self, a: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        """Take term vectors a (U, p) (for the active units; others unchanged); returns the gain (U,)."""
        q = self.C @ a.T  # (p, U)
        for qm, dm in zip(self.Q, self.D):
            q -= qm * ((qm * a.T).sum(0) / dm)[None, :]
        d = (a.T * q).sum(0)  # (U,)
        g = (a.T * self.b).sum(0)  # (U,) cov(term, residual)
        ok = active & (d > 0)
        d_safe = torch.where(ok, d, 1.0)
        q = torch.where(ok[None, :], q, 0.0)
        self.b -= q * torch.where(ok, g / d_safe, 0.0)[None, :]
        self.den -= q ** 2 / d_safe[None, :]
        self.Q.append(q)
        self.D.append(d_safe)
        for E, CG in self.CG.values():
            eq = (E @ q).T  # (U, V1)
            CG -= eq[:, :, None] * eq[:, None, :] / d_safe[:, None, None]
        return torch.where(ok, g ** 2 / d_safe, 0.0)


def greedy(C: np.ndarray, b: np.ndarray, vx: np.ndarray, lib, means: np.ndarray, steps: int,
           max_set: int = 6) -> Path:
    """Forward selection of up to `steps` terms per unit (see module docstring). means (p,): each
    feature's mean (a one-hot column's share of the characters, to sort a group's categories);
    max_set: the most characters a set may list (explicitly, or after ^); 0 for no sets."""
    p, U = b.shape
    st = _State(C, b)
    groups = _group_basis(lib, p) if max_set > 0 else []
    freqs = [_frequencies(means, lib.groups[pos].columns) for pos, _, _ in groups]
    A = torch.zeros(U, steps, p, dtype=torch.float64)
    gains = torch.zeros(U, steps, dtype=torch.float64)
    terms: list[list] = [[None] * steps for _ in range(U)]
    active = torch.from_numpy(vx > 0)
    vxt = torch.from_numpy(np.where(vx > 0, vx, 1.0))
    first = None
    for k in range(steps):
        gain, col = st.fixed()
        source = torch.zeros(U, dtype=torch.int64)  # 0: a library column, g + 1: a set of group g
        found = []
        for g, ((position, codes, E), freq) in enumerate(zip(groups, freqs)):
            gs, members = st.sets(E, freq, max_set)
            chars = listed(members)  # (U, V)
            found.append((position, codes, gs, chars.numpy(), chars.double() @ E[:-1]))  # ... (U, p) set vectors
            better = gs > gain * (1 + 1e-9)
            source[better] = g + 1
            gain = torch.maximum(gain, gs)
        if k == 0:
            first = _first_terms(st, found, vxt, lib)
        active &= gain > 1e-9 * vxt
        a = torch.zeros(U, p, dtype=torch.float64)
        fixed = active & (source == 0)
        a[fixed, col[fixed]] = 1.0
        for g, (position, codes, _, members, vectors) in enumerate(found):
            mine = active & (source == g + 1)
            a[mine] = vectors[mine]
        src, cols = source.tolist(), col.tolist()
        for u in torch.nonzero(active)[:, 0].tolist():
            if src[u] == 0:
                terms[u][k] = lib.atoms[cols[u]]
            else:
                position, codes, _, members, _ = found[src[u] - 1]
                terms[u][k] = set_atom(position, codes, members[u])
        gains[:, k] = st.add(a, active) / vxt
        A[:, k] = a
    singles = [[c for c in first[u] if str(c[0]) != str(terms[u][0])][:ALTERNATIVES] if first else []
               for u in range(U)]
    return Path(A.numpy(), terms, gains.numpy(), singles)


def _frequencies(means: np.ndarray, columns: np.ndarray) -> torch.Tensor:
    """(V + 1,) share of characters in each category of a one-hot group, the rest for "any other"."""
    p = np.asarray(means, np.float64)[columns]
    return torch.from_numpy(np.append(p, max(1.0 - p.sum(), 0.0)))


def _first_terms(st: _State, found: list, vxt: torch.Tensor, lib) -> list[list]:
    """Per unit, the best single terms (atom, vector (p,), share of variance), best first, distinct:
    the top library columns and each group's best set."""
    ok = st.den > TOL * st.diag[:, None]
    g = (torch.where(ok, st.b ** 2 / torch.where(ok, st.den, 1.0), 0.0) / vxt[None, :]).T  # (U, p)
    p = g.shape[1]
    top = torch.topk(g, min(ALTERNATIVES + 1, p), dim=1)
    top_gain, top_col = top.values.tolist(), top.indices.tolist()
    set_gain = [(gs / vxt).tolist() for _, _, gs, _, _ in found]
    out = []
    for u in range(g.shape[0]):
        cands = [(gain, ("col", j)) for gain, j in zip(top_gain[u], top_col[u])]
        cands += [(set_gain[i][u], ("set", i)) for i in range(len(found))]
        cands.sort(key=lambda c: -c[0])
        seen, mine = set(), []
        for gain, (kind, i) in cands:
            if gain <= 0:
                continue
            if kind == "col":
                atom, v = lib.atoms[i], np.eye(1, p, i)[0]
            else:
                position, codes, _, members, vectors = found[i]
                atom, v = set_atom(position, codes, members[u]), vectors[u].numpy()
            if str(atom) not in seen:
                seen.add(str(atom))
                mine.append((atom, v, gain))
        out.append(mine)
    return out


def fit_weights(C: np.ndarray, b: np.ndarray, A: np.ndarray, rounded: bool = True) -> np.ndarray:
    """(U, k) least-squares weights of the terms A (U, k, p) on a part with covariances C, b; a zero
    term gets weight 0. Rounded to the digits an explanation prints (it is scored as printed)."""
    At = torch.from_numpy(A)
    G = At @ torch.from_numpy(C) @ At.transpose(1, 2)  # (U, k, k)
    rhs = torch.einsum("ukp,pu->uk", At, torch.from_numpy(b))
    zero = (At.abs().sum(2) == 0)  # (U, k)
    G = G + torch.diag_embed(zero.double())
    w = torch.linalg.lstsq(G, rhs[:, :, None]).solution[:, :, 0].numpy()
    w = np.where(zero.numpy(), 0.0, w)
    if rounded:
        w = np.vectorize(round_weight, otypes=[np.float64])(w) if w.size else w
    return w
