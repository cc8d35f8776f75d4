"""Memory spans: how far back a unit's state reaches, from its forget (LSTM c) or update (GRU h) gates.

    from charnn.attribution import memory_spans, unit_half_lives
    spans = memory_spans(open_recording("runs/austen/recordings/val"))   # one row per unit
    spans.sort_values("half_life", ascending=False).head()
    k, censored = unit_half_lives(rec, Unit.parse("0:c:37"))              # (n_chars,) per position
    charnn memory runs/austen/recordings/val --kinds c

An LSTM cell keeps f_{s+1} * ... * f_t of what was written at step s (c_t = f_t c_{t-1} + i_t g_t);
a GRU's h keeps z_{s+1} * ... * z_t (h_t = z_t h_{t-1} + (1 - z_t) n_t). The half-life at t is the
number of steps back until that product falls below 1/2: 1 when the gate at t is below 1/2, large
where the gate stays near 1. Per unit: the median and 90th percentile over every position.

The product stops at a stream's start (see `Recording.streams`): the gates before it belong to the
burn-in, which the recording does not keep. Where the product has not fallen below 1/2 by then, the
position's half-life is censored: it counts as the steps it has seen (a lower bound), and the share
of such positions is the `censored` column.

Each cumulative sum A_t = sum_{r <= t} -log f_r is non-decreasing along a stream, so the step where
the product falls below 1/2 (A_t - A_j > ln 2) is one batched binary search per position
(torch.searchsorted over every unit's row at once).

Classes (`class`):
- `integrator`: an LSTM cell whose mean forget gate is >= 0.97 and whose raw c leaves tanh's range
  (|c| >= 3, where tanh(c) is flat): it sums, or counts, over hundreds of characters; `drift_r` is the
  Pearson r of its raw c with the steps since its stream began (near +-1: it counts characters);
- `long`: median half-life > 20 characters; `medium`: 4 to 20; `short`: 1 to 3 (a lookup on the last
  few characters).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from .. import cells
from ..cells.protocol import term
from ..units import Unit

CAP = 4096  # half-lives are counted exactly up to this many steps (a longer one counts as CAP)
CHUNK_ROWS = 65536  # rows read at a time
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


def spans(f: torch.Tensor, ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Half-lives of n consecutive steps of S streams: f (S, n, U) gates; ctx (S, m, U) the cumulative
    -log f of the m >= 1 steps before them (zeros: the slice begins its stream). Returns k (S, U, n)
    int64, the steps back until the product of gates falls below 1/2, and censored (S, U, n) bool,
    where it did not within the n + m steps seen (k is then that lower bound)."""
    m = ctx.shape[1]
    a = torch.cumsum(-torch.log(f.double()), dim=1).add_(ctx[:, -1:].double())  # (S, n, U)
    seq = torch.cat([ctx.double(), a], dim=1).transpose(1, 2).contiguous()  # (S, U, m + n), non-decreasing
    query = a.transpose(1, 2).contiguous() - LN2  # (S, U, n)
    i = torch.searchsorted(seq, query)  # (S, U, n): entries of seq below the query
    t = torch.arange(f.shape[1])  # (n,)
    k = t - i + 1 + m  # (S, U, n): the last entry below is step i - 1 - m
    censored = i == 0
    return torch.where(censored, t + m, k), censored


class _Tally:
    """Per unit: a histogram of half-lives (1..CAP), censored count, gate sum, and the moments of raw c
    against the steps since the stream began (for drift_r)."""

    def __init__(self, width: int):
        self.width = width
        self.counts = torch.zeros(width * (CAP + 1), dtype=torch.int64)
        self.censored = np.zeros(width, np.int64)
        self.gate_sum = np.zeros(width)
        self.n = 0
        self.moments = np.zeros((5, width))  # sum t, t^2, c, c^2, c*t

    def add(self, k: torch.Tensor, censored: torch.Tensor, f: torch.Tensor) -> None:
        """k, censored (S, U, n); f (S, n, U)."""
        offsets = torch.arange(self.width).view(1, -1, 1) * (CAP + 1)
        self.counts += torch.bincount((k.clamp(max=CAP) + offsets).flatten(), minlength=self.counts.numel())
        self.censored += censored.sum((0, 2)).numpy()
        self.gate_sum += f.double().sum((0, 1)).numpy()
        self.n += f.shape[0] * f.shape[1]

    def add_c(self, c: np.ndarray, steps: np.ndarray) -> None:
        """c (n, U) raw cell values at `steps` (n,) since their streams began."""
        t = steps.astype(np.float64)[:, None]
        c = c.astype(np.float64)
        self.moments += np.stack([np.broadcast_to(t, c.shape).sum(0), np.broadcast_to(t * t, c.shape).sum(0),
                                  c.sum(0), (c * c).sum(0), (c * t).sum(0)])

    def quantiles(self, q: float) -> np.ndarray:
        counts = self.counts.view(self.width, CAP + 1).numpy()
        cum = np.cumsum(counts, axis=1)
        return np.argmax(cum >= np.ceil(q * cum[:, -1:]).clip(min=1), axis=1).astype(np.int64)

    def drift_r(self) -> np.ndarray:
        st, stt, sc, scc, sct = self.moments / max(self.n, 1)
        cov, vt, vc = sct - st * sc, stt - st * st, scc - sc * sc
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where((vt > 0) & (vc > 1e-12), cov / np.sqrt(vt * vc), 0.0)


def stream_slices(rec, max_rows: int = CHUNK_ROWS):
    """(first, rows, count, offset, long) over the recording: `count` streams of `rows` rows from
    text position `first` (whole streams, batched), or (long) one slice of a stream longer than
    max_rows that begins `offset` steps into it. Every row of the text is in exactly one."""
    for p in rec.parts:
        L = p.segment
        if L <= max_rows:
            per = max(1, max_rows // L)
            for s in range(0, p.full_streams, per):
                yield p.start + s * L, L, min(per, p.full_streams - s), 0, False
            first = p.start + p.full_streams * L
            if p.last_rows:
                yield first, p.last_rows, 1, 0, False
            continue
        for s in range(p.streams):
            a, b = p.start + s * L, min(p.stop, p.start + (s + 1) * L)
            for x in range(a, b, max_rows):
                yield x, min(max_rows, b - x), 1, x - a, True


def _scan(rec, layer: int, kind: str, units, tally: _Tally | None = None, keep: bool = False):
    """Half-lives of `units` (None: all) of (layer, kind) over the whole text; the tally, and with
    `keep`, (k, censored) per position ((n_chars, U) arrays in text order)."""
    gate = decay_gate(rec.meta["cell"], kind)
    width = rec.width(layer, kind) if units is None else len(units)
    tally = tally or _Tally(width)
    k_all = np.zeros((rec.n_chars, width), np.int32) if keep else None
    cens_all = np.zeros((rec.n_chars, width), bool) if keep else None
    ctx = None
    for first, rows, count, offset, long in stream_slices(rec):
        stop = first + rows * count
        f = torch.from_numpy(read_gate(rec, layer, gate, units, first, stop)).view(count, rows, width)  # (S, n, U)
        if offset == 0:
            ctx = torch.zeros(count, 1, width, dtype=torch.float64)  # (S, 1, U): the stream's start
        k, censored = spans(f, ctx)  # (S, U, n)
        if long:  # the stream goes on in the next slice: its last CAP sums are that slice's context
            a = torch.cumsum(-torch.log(f.double()), dim=1).add_(ctx[:, -1:])
            ctx = torch.cat([ctx, a], dim=1)[:, -CAP:]
        tally.add(k, censored, f)
        if kind == "c":
            steps = np.tile(np.arange(offset, offset + rows), count)
            tally.add_c(rec.activations(layer, "c", units, first, stop), steps)
        if keep:
            k_all[first:stop] = k.transpose(1, 2).reshape(-1, width).numpy()
            cens_all[first:stop] = censored.transpose(1, 2).reshape(-1, width).numpy()
    return tally, k_all, cens_all


def classify(kind: str, half_life: np.ndarray, mean_gate: np.ndarray, c_abs_max: np.ndarray) -> np.ndarray:
    """The class of each unit (see the module docstring)."""
    cls = np.where(half_life > LONG, "long", np.where(half_life > SHORT, "medium", "short")).astype(object)
    if kind == "c":
        cls[(mean_gate >= INTEGRATOR_GATE) & (c_abs_max >= INTEGRATOR_C)] = "integrator"
    return cls


def memory_spans(rec, kinds=None, layers=None) -> pd.DataFrame:
    """One row per unit of every (layer, kind) in `kinds` (default: the cell's decayed kinds, c for an
    LSTM, h for a GRU): layer, kind, unit, half_life (median over positions), half_life_p90, class,
    mean_gate, censored (share of positions whose half-life is a lower bound), c_abs_max and drift_r
    (raw c only; NaN otherwise)."""
    cell = rec.meta["cell"]
    kinds = list(kinds) if kinds else default_kinds(cell)
    for kind in kinds:
        decay_gate(cell, kind)
    frames = []
    for layer in range(rec.layers) if layers is None else layers:
        for kind in kinds:
            tally, _, _ = _scan(rec, layer, kind, None)
            median, p90 = tally.quantiles(0.5), tally.quantiles(0.9)
            mean_gate = tally.gate_sum / max(tally.n, 1)
            if kind == "c":
                lo, hi = rec.unit_range(layer, "c")
                c_abs_max, drift = np.maximum(np.abs(lo), np.abs(hi)).astype(np.float64), tally.drift_r()
            else:
                c_abs_max = drift = np.full(tally.width, np.nan)
            frames.append(pd.DataFrame({
                "layer": layer, "kind": kind, "unit": np.arange(tally.width), "half_life": median,
                "half_life_p90": p90, "class": classify(kind, median, mean_gate, c_abs_max),
                "mean_gate": mean_gate, "censored": tally.censored / max(tally.n, 1),
                "c_abs_max": c_abs_max, "drift_r": drift}))
    return pd.concat(frames, ignore_index=True)[COLUMNS] if frames else pd.DataFrame(columns=COLUMNS)


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
    start = max(rec.stream_start(pos), pos + 1 - CAP)
    f = torch.from_numpy(read_gate(rec, unit.layer, gate, [unit.index], start, pos + 1))[None]  # (1, n, 1)
    k, censored = spans(f, torch.zeros(1, 1, 1, dtype=torch.float64))
    return int(k[0, 0, -1]), bool(censored[0, 0, -1])
