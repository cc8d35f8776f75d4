"""The local part of an explanation: a lookup on the last K characters, fitted and scored from sums per context.

    ctx = Contexts.build(text, fit_start, fit_stop, [text, held_text])   # the contexts of the texts
    ids = ctx.ids(text)                                   # (n,) the context cell of each character
    sums = CellSums.zeros(len(ctx), U); sums.add(sub, ids, X, cols)  # per part of the text, mergeable
    local = fit_local(sums, ctx)                          # Local: each unit's form, table, held-out R^2
    describe(ctx, local.form[u], local.table[:, u], sums.n[:2].sum(0))   # the lookup, printed

A context cell is the last three characters (c2, c1, c0) = (character i-2, i-1, i): every
character that makes up MIN_SHARE of the text has its own code, the rest share one ("other").
Triples seen fewer than MIN_CELL times in the fitting part are not told apart by their third
character (c2 = RARE). A pass over the recording sums, per cell, the characters and each unit's
values (`CellSums`, for three parts: the first and second half of the fitting part, and the
held-out part); every lookup below is a function of those sums, so it is fitted and scored
without another pass:

  char         the mean per current character (K = 1)
  additive 2   one weight per current and one per previous character (ridge least squares)
  pairs        the mean per (previous, current) pair, pulled toward `char` by SHRINK characters
  additive 3   additive 2 and one weight per second-previous character
  triples      the mean per cell, pulled toward `pairs` by SHRINK characters

Each unit's form (and so K) is chosen on the fitting part alone: fitted on its first half, scored
on its second, the simplest form within CHOICE_TOL of the best R^2; then refitted on the whole
fitting part and scored on the held-out part (`r2_local`). `pairs` is also scored for every unit
(`r2_pairs`), the reference a whole explanation is compared with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..text.atoms import TextIndex, escape
from .library import MIN_SHARE, frequent_codes

MIN_CELL = 20  # a triple is its own cell from this many characters of the fitting part
SHRINK = 20.0  # characters of weight a context's mean gives its shorter context's
RIDGE = 1.0  # ridge penalty of the additive forms, in characters
CHOICE_TOL = 0.005  # R^2 a more complex form must gain on the fitting part's second half
FORMS = ("char", "additive 2", "pairs", "additive 3", "triples")  # simplest first
K_OF = {"char": 1, "additive 2": 2, "pairs": 2, "additive 3": 3, "triples": 3}
SUBPARTS = ("a", "b", "h")  # first and second half of the fitting part, the held-out part
SHOWN = 3  # highest and lowest entries printed


@dataclass
class Contexts:
    alphabet: np.ndarray  # (V,) code points with their own code; code V is every other character
    keys: np.ndarray  # (T, 3) int64 (c2, c1, c0) of each cell, c2 == RARE where the triple is not told apart

    @property
    def V1(self) -> int:
        return len(self.alphabet) + 1

    @property
    def RARE(self) -> int:
        return self.V1

    def __len__(self) -> int:
        return len(self.keys)

    def codes(self, text: str) -> np.ndarray:
        """(n, 3) int64 (c2, c1, c0) of every character (before the text: "other")."""
        cps = TextIndex(text).cps
        at = np.searchsorted(self.alphabet, cps)
        c0 = np.where((at < len(self.alphabet)) & (self.alphabet[np.minimum(at, len(self.alphabet) - 1)] == cps),
                      at, len(self.alphabet))
        other = len(self.alphabet)
        c1 = np.concatenate([[other], c0[:-1]])[:len(c0)]
        c2 = np.concatenate([[other, other], c0[:-2]])[:len(c0)]
        return np.stack([c2, c1, c0], 1).astype(np.int64)

    def _flat(self, keys: np.ndarray) -> np.ndarray:
        return (keys[:, 0] * self.V1 + keys[:, 1]) * self.V1 + keys[:, 2]

    @classmethod
    def build(cls, text: str, fit_start: int, fit_stop: int, texts: list[str]) -> "Contexts":
        """The cells of `texts` (the explained and any held-out text), triples told apart by their
        count in text[fit_start:fit_stop]."""
        alphabet = np.sort(frequent_codes(TextIndex(text), MIN_SHARE)).astype(np.int64)
        ctx = cls(alphabet, np.zeros((0, 3), np.int64))
        fit = ctx._flat(ctx.codes(text)[fit_start:fit_stop])
        found, counts = np.unique(fit, return_counts=True)
        frequent = found[counts >= MIN_CELL]
        cells = [frequent]
        for t in texts:
            keys = ctx.codes(t)
            rare = ~np.isin(ctx._flat(keys), frequent)
            marked = keys[rare].copy()
            marked[:, 0] = ctx.RARE
            cells.append(ctx._flat(marked))
        flat = np.unique(np.concatenate(cells))
        V1 = ctx.V1
        ctx.keys = np.stack([flat // (V1 * V1), flat // V1 % V1, flat % V1], 1)
        return ctx

    def ids(self, text: str) -> np.ndarray:
        """(n,) int64 cell of each character of `text`; -1 for a context no cell holds."""
        keys = self.codes(text)
        flat, cells = self._flat(keys), self._flat(self.keys)
        at = _find(cells, flat)
        marked = keys.copy()
        marked[:, 0] = self.RARE
        return np.where(at >= 0, at, _find(cells, self._flat(marked)))

    def context_text(self, cell_keys: np.ndarray) -> str:
        """The printed context of one entry (its characters oldest first; · for "other")."""
        chars = ["·" if c == len(self.alphabet) else chr(int(self.alphabet[c])) for c in cell_keys]
        return "`" + escape("".join(chars)) + "`"


def _find(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    at = np.minimum(np.searchsorted(sorted_keys, keys), max(len(sorted_keys) - 1, 0))
    return np.where(sorted_keys[at] == keys, at, -1) if len(sorted_keys) else np.full(len(keys), -1)


@dataclass
class CellSums:
    """Per part of the text (SUBPARTS) and cell: characters, and each unit's sum of values; mergeable."""
    n: np.ndarray  # (3, T)
    s: np.ndarray  # (3, T, U)
    sxx: np.ndarray  # (3, U)

    @classmethod
    def zeros(cls, T: int, U: int) -> "CellSums":
        return cls(np.zeros((3, T)), np.zeros((3, T, U)), np.zeros((3, U)))

    def __add__(self, other: "CellSums") -> "CellSums":
        return CellSums(self.n + other.n, self.s + other.s, self.sxx + other.sxx)

    def count(self, sub: int, ids: np.ndarray) -> None:
        """Count the characters of one chunk (ids (n,) cells)."""
        self.n[sub] += np.bincount(ids, minlength=self.n.shape[1])

    def add(self, sub: int, ids: np.ndarray, X: np.ndarray, cols: slice) -> None:
        """Add one chunk's values X (n, H) (centred as the moments are) of units `cols`."""
        s = torch.from_numpy(self.s[sub, :, cols])  # (T, H) a view: written in place
        s.index_add_(0, torch.from_numpy(ids), torch.from_numpy(np.ascontiguousarray(X)).double())
        self.sxx[sub, cols] += np.einsum("nu,nu->u", X, X, dtype=np.float64)

    def part(self, subs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(n (T,), s (T, U), sxx (U,)) summed over the given parts."""
        subs = list(subs)
        return self.n[subs].sum(0), self.s[subs].sum(0), self.sxx[subs].sum(0)


def _groups(values: np.ndarray, n: np.ndarray, s: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(counts (size,), sums (size, U)) of the cells grouped by values (T,)."""
    ng = np.bincount(values, weights=n, minlength=size)
    sg = torch.zeros(size, s.shape[1], dtype=torch.float64).index_add_(0, torch.from_numpy(values),
                                                                       torch.from_numpy(s)).numpy()
    return ng, sg


def predict(form: str, ctx: Contexts, n: np.ndarray, s: np.ndarray) -> np.ndarray:
    """(T, U) the lookup of `form` fitted on sums n (T,), s (T, U): its value in every cell."""
    V1, keys = ctx.V1, ctx.keys
    m = s.sum(0) / max(n.sum(), 1.0)  # (U,)
    if form.startswith("additive"):
        return m + _additive(ctx, n, s - n[:, None] * m, K_OF[form])
    ng, sg = _groups(keys[:, 2], n, s, V1)
    char = (sg + m) / (ng + 1.0)[:, None]  # (V1, U) one character of weight toward the mean
    if form == "char":
        return char[keys[:, 2]]
    pair_of = keys[:, 1] * V1 + keys[:, 2]
    ng, sg = _groups(pair_of, n, s, V1 * V1)
    pair = (sg + SHRINK * char[np.arange(V1 * V1) % V1]) / (ng + SHRINK)[:, None]  # (V1 * V1, U)
    if form == "pairs":
        return pair[pair_of]
    return (s + SHRINK * pair[pair_of]) / (n + SHRINK)[:, None]


def _additive(ctx: Contexts, n: np.ndarray, s: np.ndarray, K: int) -> np.ndarray:
    """(T, U) ridge least squares of one-hot codes of the last K characters on centred sums s."""
    V1, keys = ctx.V1, ctx.keys
    offsets = [0, V1, 2 * V1][:K]
    sizes = [V1, V1, V1 + 1][:K]
    d = sum(sizes)
    D = np.zeros((len(keys), d))  # (T, d) one-hot rows
    for j, (off, col) in enumerate(zip(offsets, (2, 1, 0))):
        D[np.arange(len(keys)), off + keys[:, col]] = 1.0
    A = D.T @ (n[:, None] * D) + RIDGE * np.eye(d)  # (d, d)
    w = np.linalg.solve(A, D.T @ s)  # (d, U)
    return D @ w


def sse(P: np.ndarray, n: np.ndarray, s: np.ndarray, sxx: np.ndarray) -> np.ndarray:
    """(U,) sum of squared errors of the cell predictions P (T, U) on a part with sums n, s, sxx."""
    return sxx - 2 * np.einsum("tu,tu->u", P, s) + np.einsum("t,tu->u", n, P * P)


def r2(P: np.ndarray, n: np.ndarray, s: np.ndarray, sxx: np.ndarray) -> np.ndarray:
    """(U,) R^2 of P on a part: 1 - SSE / (characters x variance); 0 where the unit is flat there."""
    N = max(n.sum(), 1.0)
    sst = sxx - s.sum(0) ** 2 / N
    ok = sst > 1e-12 * np.maximum(sxx, 1e-30)
    return np.where(ok, 1.0 - sse(P, n, s, sxx) / np.where(ok, sst, 1.0), 0.0)


@dataclass
class Local:
    form: list  # (U,) each unit's form (FORMS)
    table: np.ndarray  # (T, U) its value in each cell (centred values), fitted on the whole fitting part
    r2_local: np.ndarray  # (U,) held out
    r2_pairs: np.ndarray  # (U,) the `pairs` form's, held out


def fit_local(sums: CellSums, ctx: Contexts) -> Local:
    """Each unit's lookup: form chosen on the fitting part's halves, refitted on both, scored held out."""
    a, b, ab, h = sums.part([0]), sums.part([1]), sums.part([0, 1]), sums.part([2])
    inner = np.stack([r2(predict(f, ctx, a[0], a[1]), *b) for f in FORMS])  # (forms, U)
    ok = inner >= inner.max(0) - CHOICE_TOL
    choice = ok.argmax(0)  # the simplest form near the best
    U = sums.s.shape[2]
    table = np.zeros((len(ctx), U))
    r2_pairs = np.zeros(U)
    held = np.zeros(U)
    for i, f in enumerate(FORMS):
        P = predict(f, ctx, ab[0], ab[1])
        score = r2(P, *h)
        mine = choice == i
        table[:, mine] = P[:, mine]
        held[mine] = score[mine]
        if f == "pairs":
            r2_pairs = score
    return Local([FORMS[i] for i in choice], table, held, r2_pairs)


def describe(ctx: Contexts, form: str, values: np.ndarray, n_fit: np.ndarray, shift: float = 0.0) -> str:
    """The lookup printed as what it is: its K, form, entries and the SHOWN highest and lowest
    (entries: contexts of its length seen MIN_CELL times in the fitting part; values (T,) per cell)."""
    K = K_OF[form]
    keys = ctx.keys
    if K == 3:
        group, mine = np.arange(len(keys)), keys[:, 0] != ctx.RARE
    else:
        group = keys[:, 2] if K == 1 else keys[:, 1] * ctx.V1 + keys[:, 2]
        mine = np.ones(len(keys), bool)
    size = int(group.max()) + 1 if len(group) else 0
    ng = np.bincount(group[mine], weights=n_fit[mine], minlength=size)
    vg = np.bincount(group[mine], weights=(n_fit * values)[mine], minlength=size) / np.maximum(ng, 1e-12)
    shown = np.flatnonzero(ng >= MIN_CELL)
    if shown.size == 0:
        return f"lookup on the last {K} characters ({form}): no entry seen {MIN_CELL} times"
    first = {int(g): keys[t, 3 - K:] for t, g in enumerate(group) if mine[t]}
    order = shown[np.argsort(-vg[shown], kind="stable")]

    def entries(gs) -> str:
        return ", ".join(f"{ctx.context_text(first[int(g)])} {vg[g] + shift:.3g}" for g in gs)
    return (f"lookup on the last {K} character{'s' if K > 1 else ''} ({form}, {shown.size:,} entries): "
            f"highest {entries(order[:SHOWN])}; lowest {entries(order[::-1][:SHOWN])}")
