"""Memory spans: how far back a unit's state reaches, from its forget (LSTM c) or update (GRU h) gates.

    from charnn.attribution import memory_spans, unit_half_lives
    spans = memory_spans(open_recording("runs/austen/recordings/val"))   # one row per unit
    spans.sort_values("half_life", ascending=False).head()
    k, censored = unit_half_lives(rec, Unit.parse("0:c:37"))              # (n_chars,) per position
    half_lives(rec, units)          # half_life, memory_class beside (layer, kind, unit) rows: the atlas's
    charnn memory runs/austen/recordings/val --kinds c

An LSTM cell keeps f_{s+1} * ... * f_t of what was written at step s (c_t = f_t c_{t-1} + i_t g_t);
a GRU's h keeps z_{s+1} * ... * z_t (h_t = z_t h_{t-1} + (1 - z_t) n_t). The half-life at t is the
number of steps back until that product falls below 1/2: 1 when the gate at t is below 1/2, large
where the gate stays near 1. Per unit: the median and 90th percentile over every position. A
recording's spans are computed once and kept beside it (`spancache`).

The product stops at a stream's start (see `Recording.streams`): the gates before it belong to the
burn-in, which the recording does not keep. Where the product has not fallen below 1/2 by then, the
position's half-life is censored: it counts as the steps it has seen (a lower bound), and the share
of such positions is the `censored` column.

Each cumulative sum A_t = sum_{r <= t} -log f_r is non-decreasing along a stream, so the step where
the product falls below 1/2 (A_t - A_j > ln 2) is found by comparing A_t with A_{t-d} for the first
few d (most half-lives are a few steps), then by a binary search over the earlier sums for the rest;
or, where charnn/attribution/_halflife.c was built, in one pass with a pointer per unit that only
moves forward, which also tallies each unit's histogram as it goes: the gates are read once, and
nothing the size of the text is written beside them.

Classes (`class`):
- `integrator`: an LSTM cell whose mean forget gate is >= 0.97 and whose raw c leaves tanh's range
  (|c| >= 3, where tanh(c) is flat): it sums, or counts, over hundreds of characters; `drift_r` is the
  Pearson r of its raw c with the steps since its stream began (near +-1: it counts characters). Only
  an integrator's c is read for it (NaN for the other units): the half-lives need the gates alone,
  and the c of every cell would be a second full read;
- `long`: median half-life > 20 characters; `medium`: 4 to 20; `short`: 1 to 3 (a lookup on the last
  few characters).
"""

from __future__ import annotations

import ctypes
import math
import os

import numpy as np
import pandas as pd
import torch

from .. import cells, clib
from ..cells.protocol import term
from ..recording.reader import CHUNK_ROWS
from ..units import Unit
from . import spancache

CAP = 4096  # half-lives are counted exactly up to this many steps (a longer one counts as CAP)
SHORT_STEPS = 8  # half-lives up to this are found by direct comparison, longer ones by binary search
INTEGRATOR_GATE = 0.97  # mean forget gate of an integrator (a half-life of ~23 steps or more)
INTEGRATOR_C = 3.0  # |c| beyond which tanh(c) is flat (tanh(3) = 0.995)
LONG, SHORT = 20, 3  # median half-lives that separate long, medium and short
LN2 = math.log(2.0)
COLUMNS = ["layer", "kind", "unit", "half_life", "half_life_p90", "class", "mean_gate", "censored",
           "c_abs_max", "drift_r"]


def decay_gate(cell: str, kind: str) -> str:
    """The gate that decays state `kind` of a `cell` layer ("f" for an LSTM's c, "z" for a GRU's h);
    a ValueError naming the kinds that have one for any other."""
    gates = decay_gates(cell)
    if kind not in gates:
        have = ", ".join(f"{k} (gate {g})" for k, g in gates.items()) or "none"
        raise ValueError(f"kind {kind!r} of a {cell} has no gate that decays it, so no memory span: "
                         f"kinds with one: {have}")
    return gates[kind]


def decay_gates(cell: str) -> dict[str, str]:
    """{state kind: its decay} of a cell (its protocol's `linear`): f for an LSTM's c, z for a GRU's h,
    1-z for a minGRU's h (one minus its z); none for a cell that is not registered here."""
    known = cells.CELLS.get(cell)
    return {kind: decay for kind, (decay, _, _) in known.linear.items()} if known else {}


def read_gate(rec, layer: int, gate: str, units, start: int, stop: int) -> np.ndarray:
    """(n, U) values of a decay over [start, stop): a kind, or one minus it ("1-z")."""
    return term(gate, lambda kind: rec.activations(layer, kind, units, start, stop))


def default_kinds(cell: str) -> list[str]:
    return list(decay_gates(cell))


def spans(f: torch.Tensor, real_start: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Half-lives of S streams of n steps: f (S, n, U) float32 gates -> k (S, n, U) int32, the steps
    back until the product of gates falls below 1/2, and censored (S, n, U) bool, where it did not by
    the first step (k is then that lower bound). real_start False: the first step is not the stream's
    (a slice of a long stream): k is then a lower bound without being censored."""
    kernel = _kernel()
    if kernel is None:
        return _spans_torch(_neglog(f), real_start)
    S, n, U = f.shape
    k, censored = torch.empty(S, n, U, dtype=torch.int32), torch.empty(S, n, U, dtype=torch.bool)
    _run(kernel, f, 0, real_start, k.data_ptr(), censored.data_ptr(), None)
    return k, censored


def _neglog(f: torch.Tensor) -> torch.Tensor:
    return f.clamp_min(1e-30).log_().neg_().contiguous()  # (S, n, U): a gate of 0 counts as 1e-30


def _run(kernel, f: torch.Tensor, skip: int, real_start: bool, k, censored, tally) -> None:
    """One call of the C pass over f (S, n, U) (see _halflife.c): k, censored (data pointers or None)
    receive rows skip.. of every stream; `tally` (a _Tally or None) adds them to its counts."""
    f = f.contiguous()
    S, n, U = f.shape
    scratch, pointers = torch.empty((n + 1) * U, dtype=torch.float64), torch.empty(2 * U, dtype=torch.int64)
    counts = (None, None, None) if tally is None else \
        (tally.counts.ctypes.data, tally.censored.ctypes.data, tally.gate_sum.ctypes.data)
    kernel(f.data_ptr(), S, n, U, skip, int(real_start), CAP, k, censored, *counts, scratch.data_ptr(),
           pointers.data_ptr())


def _kernel():
    """charnn_half_life_pass (charnn/attribution/_halflife.c), or None where it was not built or CHARNN_NATIVE=0."""
    if os.environ.get("CHARNN_NATIVE", "1") == "0":
        return None
    argtypes = [ctypes.c_void_p] + [ctypes.c_int64] * 4 + [ctypes.c_int32, ctypes.c_int64] + [ctypes.c_void_p] * 7
    lib = clib.load("charnn.attribution._halflife", {"charnn_half_life_pass": (argtypes, ctypes.c_int32)})
    return None if lib is None else lib.charnn_half_life_pass


def _spans_torch(neglog: torch.Tensor, real_start: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """`spans` as torch ops, from -log f (S, n, U). Most half-lives are a few steps: the first
    SHORT_STEPS are found by comparing differences of the cumulative sums; the rest by a binary
    search over each one's earlier sums."""
    S, n, U = neglog.shape
    a = torch.empty(S, n + 1, U, dtype=torch.float64)  # (S, n + 1, U): a[:, j] = -log f summed over the first j steps
    a[:, 0] = 0
    torch.cumsum(neglog, dim=1, dtype=torch.float64, out=a[:, 1:])
    # The product of the d gates up to t, exp(-(a[t+1] - a[t+1-d])), only falls as d grows: k is 1 +
    # the number of d <= SHORT_STEPS where it has not yet fallen below 1/2 (0 where it never did).
    k = torch.ones(S, n, U, dtype=torch.int32)
    steps = min(SHORT_STEPS, n)
    for d in range(1, steps + 1):  # rows t < d - 1 have no d-step product: their product to the stream's start stands in
        k[:, :d - 1] += (a[:, 1:d] - a[:, :1]) <= LN2
        k[:, d - 1:] += (a[:, d:] - a[:, :n + 1 - d]) <= LN2
    k.masked_fill_(k > steps, 0)
    s, t, u = torch.nonzero(k == 0, as_tuple=True)  # not found within SHORT_STEPS
    flat = a.view(-1)
    row = lambda m: flat[(s * (n + 1) + m) * U + u]  # noqa: E731 - a[s, m, u] of each left
    q = row(t + 1) - LN2  # the product falls below 1/2 from the largest m with a[m] < q
    censored_left = q <= 0  # a[0] = 0 is not below: the product over the whole stream stays >= 1/2
    lo = torch.zeros_like(t)  # a[lo] < q
    hi = (t + 1 - SHORT_STEPS).clamp(min=1)  # a[hi] >= q (not found within SHORT_STEPS)
    while bool(((hi - lo) > 1).any()):
        mid = (lo + hi) // 2
        below = row(mid) < q
        lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
    k[s, t, u] = torch.where(censored_left, t + 1, t + 1 - lo).to(torch.int32)
    censored = torch.zeros(S, n, U, dtype=torch.bool)
    if real_start and bool(censored_left.any()):
        censored[s[censored_left], t[censored_left], u[censored_left]] = True
    return k, censored


class _Tally:
    """Per unit: a histogram of half-lives (1..CAP; (CAP + 1, U), as the C pass adds to it), the censored
    count and the gate sum."""

    def __init__(self, width: int):
        self.width = width
        self.counts = np.zeros((CAP + 1, width), np.int64)
        self.censored = np.zeros(width, np.int64)
        self.gate_sum = np.zeros(width)
        self.n = 0

    def add(self, f: torch.Tensor, skip: int, real_start: bool, keep: bool):
        """Tally the half-lives of rows skip.. of every stream of f (S, n, U); with `keep`, return them
        as (k, censored) (S, n - skip, U), else None."""
        S, n, U = f.shape
        self.n += S * (n - skip)
        kernel = _kernel()
        if kernel is not None:
            k = torch.empty(S, n - skip, U, dtype=torch.int32) if keep else None
            censored = torch.empty(S, n - skip, U, dtype=torch.bool) if keep else None
            _run(kernel, f, skip, real_start, k.data_ptr() if keep else None,
                 censored.data_ptr() if keep else None, self)
            return (k, censored) if keep else None
        k, censored = _spans_torch(_neglog(f), real_start)
        k, censored, f = k[:, skip:], censored[:, skip:], f[:, skip:]
        bins = k.clamp(max=CAP) * U + torch.arange(U, dtype=torch.int32)  # (S, n, U): its cell of counts
        self.counts += torch.bincount(bins.reshape(-1), minlength=self.counts.size).view(CAP + 1, U).numpy()
        self.censored += censored.reshape(-1, U).sum(0).numpy()
        self.gate_sum += f.reshape(-1, U).sum(0, dtype=torch.float64).numpy()
        return (k, censored) if keep else None

    def quantiles(self, q: float) -> np.ndarray:
        cum = np.cumsum(self.counts, axis=0)  # (CAP + 1, U)
        return np.argmax(cum >= np.ceil(q * cum[-1:]).clip(min=1), axis=0).astype(np.int64)


def stream_slices(rec, max_rows: int = CHUNK_ROWS):
    """(first, rows, count, skip) over the recording, one per chunk of the reader (`PartPlan.chunks`):
    `count` whole streams of `rows` rows from text position `first`; or one slice of a stream (a
    shorter last stream, or a part of a stream longer than max_rows), its first `skip` rows (up to
    CAP) read only as the context of the rest (skip > 0: not the stream's start). Every row of the
    text is counted in exactly one."""
    for p in rec.parts:
        L = p.segment
        for a, b in p.chunks(max_rows):
            begin = p.start + (a - p.start) // L * L  # the first row of the stream that holds a
            if a == begin and (b - a) % L == 0:
                yield a, L, (b - a) // L, 0
            else:
                skip = min(CAP, a - begin)
                yield a - skip, skip + b - a, 1, skip


def _scan(rec, layer: int, kind: str, units, keep: bool = False):
    """Half-lives of `units` (None: all) of (layer, kind) over the whole text; the tally, and with
    `keep`, (k, censored) per position ((n_chars, U) arrays in text order)."""
    gate = decay_gate(rec.meta["cell"], kind)
    width = rec.width(layer, kind) if units is None else len(units)
    tally = _Tally(width)
    k_all = np.zeros((rec.n_chars, width), np.int32) if keep else None
    cens_all = np.zeros((rec.n_chars, width), bool) if keep else None
    for first, rows, count, skip in stream_slices(rec):
        stop = first + rows * count
        f = torch.from_numpy(read_gate(rec, layer, gate, units, first, stop)).view(count, rows, width)  # (S, n, U)
        got = tally.add(f, skip, skip == 0, keep)
        if keep:
            k_all[first + skip:stop] = got[0].reshape(-1, width).numpy()
            cens_all[first + skip:stop] = got[1].reshape(-1, width).numpy()
    return tally, k_all, cens_all


def drift_r(rec, layer: int, units: np.ndarray) -> np.ndarray:
    """(len(units),) Pearson r of each unit's raw c with the steps since its stream began, over the
    whole text; one read of their stored c (no gate to derive)."""
    units = np.asarray(units, np.int64)
    if not len(units):
        return np.zeros(0)
    starts = rec.streams()[:, 0]
    sums = np.zeros((5, len(units)))  # sum t, t^2, c, c^2, c*t
    for a, b in rec.spans():  # the reader's chunks
        pos = np.arange(a, b)
        t = (pos - starts[np.searchsorted(starts, pos, side="right") - 1]).astype(np.float64)  # (n,)
        c = rec.activations(layer, "c", units, a, b).astype(np.float64)  # (n, U)
        sums += np.stack([np.full(len(units), t.sum()), np.full(len(units), (t * t).sum()), c.sum(0),
                          np.einsum("nu,nu->u", c, c), t @ c])
    st, stt, sc, scc, sct = sums / rec.n_chars
    cov, vt, vc = sct - st * sc, stt - st * st, scc - sc * sc
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((vt > 0) & (vc > 1e-12), cov / np.sqrt(vt * vc), 0.0)


def classify(kind: str, half_life: np.ndarray, mean_gate: np.ndarray, c_abs_max: np.ndarray) -> np.ndarray:
    """The class of each unit (see the module docstring)."""
    cls = np.where(half_life > LONG, "long", np.where(half_life > SHORT, "medium", "short")).astype(object)
    if kind == "c":
        cls[(mean_gate >= INTEGRATOR_GATE) & (c_abs_max >= INTEGRATOR_C)] = "integrator"
    return cls


def memory_spans(rec, kinds=None, layers=None, cache: bool = True) -> pd.DataFrame:
    """One row per unit of every (layer, kind) in `kinds` (default: the cell's decayed kinds, c for an
    LSTM, h for a GRU): layer, kind, unit, half_life (median over positions), half_life_p90, class,
    mean_gate, censored (share of positions whose half-life is a lower bound), c_abs_max (raw c only;
    NaN otherwise) and drift_r (integrators only; NaN otherwise). With `cache`, blocks computed before
    are read back from beside the recording, and those computed here are added (`spancache`)."""
    cell = rec.meta["cell"]
    kinds = list(kinds) if kinds else default_kinds(cell)
    for kind in kinds:
        decay_gate(cell, kind)
    cached = spancache.load(rec) if cache else None
    frames, built = [], []
    for layer in range(rec.layers) if layers is None else layers:
        for kind in kinds:
            mine = None if cached is None else cached[(cached["layer"] == layer) & (cached["kind"] == kind)]
            if mine is None or mine.empty:
                mine = _spans_block(rec, layer, kind)
                built.append(mine)
            frames.append(mine)
    if cache and built:
        spancache.save(rec, pd.concat(built, ignore_index=True))
    return pd.concat(frames, ignore_index=True)[COLUMNS] if frames else pd.DataFrame(columns=COLUMNS)


def _spans_block(rec, layer: int, kind: str) -> pd.DataFrame:
    """memory_spans' rows of one (layer, kind), computed."""
    tally, _, _ = _scan(rec, layer, kind, None)
    median, p90 = tally.quantiles(0.5), tally.quantiles(0.9)
    mean_gate = tally.gate_sum / max(tally.n, 1)
    c_abs_max = drift = np.full(tally.width, np.nan)
    if kind == "c":
        lo, hi = rec.unit_range(layer, "c")
        c_abs_max = np.maximum(np.abs(lo), np.abs(hi)).astype(np.float64)
    cls = classify(kind, median, mean_gate, c_abs_max)
    integrators = np.flatnonzero(cls == "integrator")
    drift[integrators] = drift_r(rec, layer, integrators)
    return pd.DataFrame({"layer": layer, "kind": kind, "unit": np.arange(tally.width), "half_life": median,
                         "half_life_p90": p90, "class": cls, "mean_gate": mean_gate,
                         "censored": tally.censored / max(tally.n, 1), "c_abs_max": c_abs_max, "drift_r": drift})


def half_lives(rec, units: pd.DataFrame) -> pd.DataFrame:
    """`units` (columns layer, kind, unit) with half_life (float: NaN where the kind has no gate that
    decays it, such as an LSTM's h or a gate) and memory_class ("" there) from `memory_spans`: the
    columns that the atlas and the explanations table carry. A recording that does not say its cell
    (an in-memory double) gets empty columns."""
    cell = (getattr(rec, "meta", None) or {}).get("cell")
    decayed = decay_gates(cell) if cell else {}
    blocks = sorted({(int(layer), kind) for layer, kind in zip(units["layer"], units["kind"])
                     if kind in decayed and rec.has(int(layer), decayed[kind].removeprefix("1-"))})
    out = units.assign(half_life=np.nan, memory_class="")
    if not blocks:
        return out
    spans = memory_spans(rec, kinds=sorted({k for _, k in blocks}), layers=sorted({layer for layer, _ in blocks}))
    spans = spans[["layer", "kind", "unit", "half_life", "class"]].rename(columns={"class": "memory_class"})
    merged = units[["layer", "kind", "unit"]].astype({"layer": np.int64, "unit": np.int64}).merge(
        spans.astype({"layer": np.int64, "unit": np.int64}), on=["layer", "kind", "unit"], how="left")
    out["half_life"] = merged["half_life"].astype(np.float64).to_numpy()
    out["memory_class"] = merged["memory_class"].fillna("").to_numpy()
    return out


def unit_half_lives(rec, unit) -> tuple[np.ndarray, np.ndarray]:
    """Half-life at every position of one unit: (k, censored), each (n_chars,) (int32, bool)."""
    unit = Unit.parse(unit)
    rec.check(unit.layer, unit.kind, [unit.index])
    _, k, censored = _scan(rec, unit.layer, unit.kind, [unit.index], keep=True)
    return k[:, 0], censored[:, 0]


def half_life_at(rec, unit, pos: int) -> tuple[int, bool]:
    """(half-life, censored) of one unit at one position, from the gates of its stream up to `pos`."""
    unit = Unit.parse(unit)
    gate = decay_gate(rec.meta["cell"], unit.kind)
    stream = rec.stream_start(pos)
    start = max(stream, pos + 1 - CAP)
    f = torch.from_numpy(read_gate(rec, unit.layer, gate, [unit.index], start, pos + 1))[None]  # (1, n, 1)
    k, censored = spans(f, real_start=start == stream)
    return int(k[0, -1, 0]), bool(censored[0, -1, 0])
