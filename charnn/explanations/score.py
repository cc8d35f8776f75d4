"""Scores of 0/1 explanations from their values: r of AND / OR chains, AUROC and IoU of all.

    sc = Scorer(programs, lo, hi, raw_lo, raw_hi) # programs[u][k]: compiled 0/1 program, or None
    sc.update("fit", units, B, X, Xraw)           # B (pb, n) 0/1 features, X (len(units), n) scored values
    sc.update("heldout", units, B, X, Xraw, B_shifted)
    sc.update_sample(units, B, X, B_shifted)      # sampled held-out characters: histograms
    out = sc.finalize(sign)                       # (U, K) r_fit, r_heldout, r_all, r_chance, auroc, iou, ...

A compiled program is ("rows", rows) (a 0/1 feature or a character set: 1 where one of the
one-hot rows is) or ("chain", rows, ops) (0/1 features combined
left to right with AND / OR / AND NOT). Weighted sums, single features and sets are scored
from the moments (`charnn.explanations.moments`); a chain is not a sum, so its r comes from its
values on every character (sums of the unit's value, centred on the middle of its range as the
search centres it, over the characters the chain marks), for each part, for every character of
the explained recording on its stored values (raw c: what `charnn search --explanation`
reports), and for the held-out part against the chain shifted far along the text (the chance
level, as the search's baseline).
AUROC and IoU at the unit's best threshold (and their chance levels) come from histograms of
the unit's value over a random sample of held-out characters (the caller's, 65,536 by default:
a standard error near 0.002 for AUROC), since counting every character for every 0/1 program
cost more than the rest of `explain` together.
"""

from __future__ import annotations

import numpy as np
import torch

BINS = 256
OP_CODES = {"AND": 0, "OR": 1, "AND NOT": 2}
OP_NONE = 3  # a chain shorter than three


class _Rank:
    """The k-th program of every unit, compiled for batched evaluation on 0/1 feature rows."""

    def __init__(self, programs: list[list], k: int):
        sets, chains = ([], []), ([], [], [])  # (units, rows[, ops]) of each form
        for u, progs in enumerate(programs):
            if k >= len(progs) or progs[k] is None:
                continue
            form = sets if progs[k][0] == "rows" else chains
            form[0].append(u)
            form[1].append(list(progs[k][1]))
            if form is chains:
                chains[2].append([OP_CODES[o] for o in progs[k][2]])
        L = max((len(r) for r in sets[1]), default=1)
        self.set_units = torch.tensor(sets[0], dtype=torch.int64)  # (c,) units whose program is a set here
        self.set_rows = torch.tensor([r + [r[0]] * (L - len(r)) for r in sets[1]], dtype=torch.int64).reshape(-1, L)
        self.chain_units = torch.tensor(chains[0], dtype=torch.int64)
        self.chain_rows = torch.tensor([r + [r[0]] * (3 - len(r)) for r in chains[1]], dtype=torch.int64).reshape(-1, 3)
        self.chain_ops = torch.tensor([o + [OP_NONE] * (2 - len(o)) for o in chains[2]], dtype=torch.int64).reshape(-1, 2)

    def values(self, units: torch.Tensor, B: torch.Tensor, sets: bool = True) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """[(at, M)] per form (sets unless sets=False, then chains): positions in `units` (sorted global
        indices) of the units this rank scores, and their programs' values (len(at), n) bool over
        the 0/1 feature rows B (pb, n)."""
        out = []
        pick = torch.isin(self.set_units, units) if sets else torch.zeros(0, dtype=torch.bool)
        if pick.any():
            rows = self.set_rows[pick]
            M = B[rows[:, 0]]  # (c, n); a set's rows are disjoint one-hot rows (padding repeats the first)
            for l in range(1, rows.shape[1]):
                M |= B[rows[:, l]]
            out.append((torch.searchsorted(units, self.set_units[pick]), M))
        pick = torch.isin(self.chain_units, units)
        if pick.any():
            rows, ops = self.chain_rows[pick], self.chain_ops[pick]
            M = B[rows[:, 0]]
            for s in range(2):
                op, f = ops[:, s:s + 1], B[rows[:, s + 1]]
                M = torch.where(op == OP_CODES["AND"], M & f, torch.where(op == OP_CODES["OR"], M | f,
                                                                         torch.where(op == OP_NONE, M, M & ~f)))
            out.append((torch.searchsorted(units, self.chain_units[pick]), M))
        return out


class _Sums:
    """Sums for Pearson r of units against their 0/1 programs over a part: per unit n, sum x, sum x^2
    (x less the middle of the unit's range, as the search centres it); per (unit, program) the
    count of marked characters and the sum of x over them. Float32 within a chunk, float64 across."""

    def __init__(self, U: int, K: int):
        self.n, self.sx, self.sxx = np.zeros(U), np.zeros(U), np.zeros(U)
        self.sy, self.sxy = np.zeros((U, K)), np.zeros((U, K))

    def add_x(self, units: np.ndarray, X: torch.Tensor) -> None:
        self.n[units] += X.shape[1]
        self.sx[units] += X.sum(1).double().numpy()
        self.sxx[units] += (X * X).sum(1).double().numpy()

    def add_y(self, units: np.ndarray, k: int, X: torch.Tensor, M: torch.Tensor) -> None:
        """X (u, n) the centred values of `units`, M (u, n) bool their program k."""
        self.sy[units, k] += M.sum(1).double().numpy()
        self.sxy[units, k] += torch.where(M, X, 0.0).sum(1).double().numpy()

    def r(self, x_from: "_Sums | None" = None) -> np.ndarray:
        """(U, K) Pearson r; x_from: the sums of the same x kept elsewhere (the chance level's)."""
        xs = x_from or self
        n = xs.n[:, None]
        var_x = n * xs.sxx[:, None] - xs.sx[:, None] ** 2
        var_y = n * self.sy - self.sy ** 2
        cov = n * self.sxy - xs.sx[:, None] * self.sy
        ok = (var_x > 1e-12 * n * np.maximum(xs.sxx[:, None], 1e-30)) & (var_y > 0)
        return np.clip(np.where(ok, cov / np.sqrt(np.where(ok, var_x * var_y, 1.0)), 0.0), -1.0, 1.0)


class Scorer:
    def __init__(self, programs: list[list], lo: np.ndarray, hi: np.ndarray, raw_lo: np.ndarray, raw_hi: np.ndarray):
        """lo, hi (U,): the range of the scored values (histogram bins); raw_lo, raw_hi: of the stored ones."""
        U = len(programs)
        self.K = max((len(q) for q in programs), default=0)
        self.ranks = [_Rank(programs, k) for k in range(self.K)]
        self.lo = torch.from_numpy(np.asarray(lo, np.float32))
        hi = np.where(np.asarray(hi) > np.asarray(lo), hi, np.asarray(lo) + 1.0)
        self.scale = torch.from_numpy((BINS / (hi - np.asarray(lo))).astype(np.float32))  # (U,) bins per unit of value
        self.scored = np.array([[k < len(q) and q[k] is not None for k in range(self.K)] for q in programs],
                               bool).reshape(U, self.K)  # 0/1 programs (histograms)
        self.chain = np.array([[k < len(q) and q[k] is not None and q[k][0] == "chain" for k in range(self.K)]
                               for q in programs], bool).reshape(U, self.K)  # chains (moments too)
        self.shift = torch.from_numpy(((np.asarray(lo) + np.asarray(hi)) / 2).astype(np.float32))  # (U,)
        self.raw_shift = torch.from_numpy(((np.asarray(raw_lo) + np.asarray(raw_hi)) / 2).astype(np.float32))
        self.parts = {name: _Sums(U, self.K) for name in ("fit", "heldout", "all", "chance")}
        self.hist_all = np.zeros((U, BINS), np.int64)
        self.hist_pos = np.zeros((U, self.K, BINS), np.int64)
        self.hist_chance = np.zeros((U, self.K, BINS), np.int64)

    def _values(self, ut: torch.Tensor, B: np.ndarray, sets: bool) -> list[list[tuple]]:
        Bt = torch.from_numpy(np.ascontiguousarray(B, bool))  # (pb, n)
        return [rank.values(ut, Bt, sets) for rank in self.ranks]

    def update(self, part: str, units: np.ndarray, B: np.ndarray, X: np.ndarray, Xraw: np.ndarray,
               B_shifted: np.ndarray | None = None, in_all: bool = True) -> None:
        """The chains' sums over a chunk of `part` ("fit" or "heldout") for a block of units (sorted
        global indices): B (pb, n) the 0/1 features, X (len(units), n) scored values, Xraw (same
        shape) the stored values (for r_all, when in_all); B_shifted: the features moved along the
        held-out text (the chance level)."""
        at = np.flatnonzero(self.chain[units].any(1))  # the block's units that have a chain
        if not at.size:
            return
        cu = units[at]
        ut = torch.from_numpy(cu)
        Xc = torch.from_numpy(np.ascontiguousarray(X[at], np.float32)) - self.shift[ut, None]  # (c, n)
        Ys = self._values(ut, B, sets=False)
        self._sums(part, cu, Xc, Ys)
        if in_all:
            self._sums("all", cu, torch.from_numpy(np.ascontiguousarray(Xraw[at], np.float32)) - self.raw_shift[ut, None],
                       Ys)
        if part == "heldout":
            self._sums("chance", cu, Xc, self._values(ut, B_shifted, sets=False), with_x=False)

    def update_sample(self, units: np.ndarray, B: np.ndarray, X: np.ndarray, B_shifted: np.ndarray) -> None:
        """Held-out histograms (AUROC, IoU) of every 0/1 program over sampled characters of the held-out
        part: B (pb, n) and B_shifted its features and the shifted ones there, X (len(units), n)."""
        if not self.scored[units].any():
            return
        ut = torch.from_numpy(np.asarray(units, np.int64))
        Xt = torch.from_numpy(np.ascontiguousarray(X, np.float32))
        self._histograms(units, ut, Xt, self._values(ut, B, True), self._values(ut, B_shifted, True))

    def _sums(self, part: str, units: np.ndarray, X: torch.Tensor, Ys: list[list[tuple]], with_x: bool = True) -> None:
        if with_x:
            self.parts[part].add_x(units, X)
        for k, forms in enumerate(Ys):
            for at, M in forms:
                self.parts[part].add_y(units[at.numpy()], k, X[at], M)

    def _histograms(self, units, ut, Xt, Ys, Yshift) -> None:
        """Held-out histograms: every character per unit, and the marked ones of each program."""
        b = ((Xt - self.lo[ut, None]) * self.scale[ut, None]).clamp_(0, BINS - 1).long()  # (u, n) bin per value
        b += (torch.arange(len(units)) * BINS)[:, None]
        self.hist_all[units] += torch.bincount(b.reshape(-1), minlength=len(units) * BINS).reshape(-1, BINS).numpy()
        for k in range(self.K):
            for forms, out in ((Ys[k], self.hist_pos), (Yshift[k], self.hist_chance)):
                for at, M in forms:
                    counts = torch.bincount(b[at][M], minlength=len(units) * BINS).reshape(-1, BINS)[at]
                    out[units[at.numpy()], k] += counts.numpy()

    def merge(self, other: "Scorer") -> None:
        """Add another Scorer's sums and histograms (the same programs, over other characters): exact."""
        for name, sums in self.parts.items():
            theirs = other.parts[name]
            for attr in ("n", "sx", "sxx", "sy", "sxy"):
                getattr(sums, attr)[...] += getattr(theirs, attr)
        for attr in ("hist_all", "hist_pos", "hist_chance"):
            getattr(self, attr)[...] += getattr(other, attr)

    def r(self, part: str) -> np.ndarray:
        """(U, K) Pearson r of each unit with each of its programs over a part ("fit", "heldout", "all",
        or "chance": the shifted programs against the held-out values)."""
        if part == "chance":
            return self.parts["chance"].r(self.parts["heldout"])
        return self.parts[part].r()

    def finalize(self, sign: np.ndarray) -> dict[str, np.ndarray]:
        """(U, K) arrays: r_fit, r_heldout, r_all, r_chance, and for 0/1 programs (NaN otherwise)
        auroc, auroc_chance, iou, iou_chance; sign (U, K): the program's orientation (+1: the unit
        is high where the program is) for IoU."""
        out = {"r_fit": self.r("fit"), "r_heldout": self.r("heldout"), "r_all": self.r("all"),
               "r_chance": self.r("chance")}
        out["auroc"] = np.where(self.scored, auroc(self.hist_all, self.hist_pos), np.nan)
        out["auroc_chance"] = np.where(self.scored, auroc(self.hist_all, self.hist_chance), np.nan)
        out["iou"] = np.where(self.scored, best_iou(self.hist_all, self.hist_pos, sign), np.nan)
        out["iou_chance"] = np.where(self.scored, best_iou(self.hist_all, self.hist_chance, sign), np.nan)
        return out


def auroc(hist_all: np.ndarray, hist_pos: np.ndarray) -> np.ndarray:
    """(U, K) AUROC of the unit's value separating a mask from the rest, from histograms
    hist_all (U, B) and hist_pos (U, K, B) (ties within a bin count one half); 0.5 when undefined."""
    pos = hist_pos.astype(np.float64)
    neg = hist_all[:, None, :] - pos
    below = np.cumsum(neg, -1) - neg
    n1, n0 = pos.sum(-1), neg.sum(-1)
    auc = (pos * (below + 0.5 * neg)).sum(-1) / np.maximum(n1 * n0, 1)
    return np.where(n1 * n0 > 0, auc, 0.5)


def best_iou(hist_all: np.ndarray, hist_pos: np.ndarray, sign: np.ndarray) -> np.ndarray:
    """(U, K) best IoU over bin edges between the mask and {x above the edge} (sign > 0) or
    {x below it} (sign < 0)."""
    pos = hist_pos.astype(np.float64)
    allx = np.broadcast_to(hist_all[:, None, :], pos.shape).astype(np.float64)
    n1 = pos.sum(-1, keepdims=True)
    up_i, up_p = np.cumsum(pos[..., ::-1], -1)[..., ::-1], np.cumsum(allx[..., ::-1], -1)[..., ::-1]
    dn_i, dn_p = np.cumsum(pos, -1), np.cumsum(allx, -1)
    up = up_i / np.maximum(n1 + up_p - up_i, 1)  # predict x >= lower edge of bin b
    dn = dn_i / np.maximum(n1 + dn_p - dn_i, 1)  # predict x < upper edge of bin b
    return np.where(sign > 0, up.max(-1), dn.max(-1))
