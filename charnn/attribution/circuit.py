"""Circuits of units: which units drive a unit's value at a position, with the gates frozen at their
recorded values, pruned as circuit-tracer prunes attribution graphs.

    from charnn.attribution import circuit
    g = circuit(rec, "0:c:37", at=5000)      # or at=None: averaged over the unit's STRONG largest values
    g.nodes, g.edges                          # DataFrames; g.to_dict() is what `charnn circuit --format json` prints

With every sigmoid gate that multiplies a state (LSTM i, f, o; GRU r, z) held at its value, a layer's
step is linear in what feeds it up to its tanh and sigmoid nonlinearities, which are taken at their
local slope: each state splits into first-order direct effects plus one `saturation` term, the part
of the value the nonlinearity holds fixed (all of it for a saturated tanh). For an LSTM's c_t:
f c_{t-1} (its own past) + i tanh'(a_g) (W_hg h_{t-1} + W_ig x_t + b_g) + saturation; h_t = o tanh(c_t):
o tanh'(c_t) c_t from c_t + saturation; a GRU's h_t = z h_{t-1} + (1 - z) tanh'(a_n) (W_in x_t + b_in
+ r (W_hn h_{t-1} + b_hn)) + saturation; a gate: its slope times its pre-activation's terms +
saturation (x_t: the layer below's h_t, or the character's embedding, one node per character). The
terms are the graph's edges (`weight`: signed, in the child's units) and sum exactly to the child's
value, DEPTH steps back from the target; the states one step further back, or at a stream's first
row, are leaves. What a unit would do if a parent changed is a linearisation (frozen gates, local
slopes), as circuit-tracer freezes attention patterns.

Pruning follows circuit-tracer: each row of |edge weights| normalised to sum 1 gives A; a node's
influence on the target sums over every path (A + A^2 + ..., taken block by block in time order);
the nodes that carry NODE_SHARE of the total influence are kept, then the edges among them that carry
EDGE_SHARE of their edges' influence (an edge's: its child's influence times its normalised weight).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from .. import threads
from ..recording import Recording, open_recording
from ..units import Unit
from .gradients import model_of
from .window import check_window

DEPTH = 3  # steps back from the target that are expanded
NODE_SHARE, EDGE_SHARE = 0.8, 0.98
STRONG = 20  # positions averaged over when no position is given: the unit's largest values
BIAS = ("bias",)
SATURATION = ("saturation",)  # the part of a value a saturated tanh or sigmoid holds fixed


@dataclass
class Circuit:
    unit: str
    at: int | None  # None: averaged over `positions`
    positions: list[int]
    nodes: pd.DataFrame  # id, layer, kind, unit, offset (steps before the target), char, influence, value
    edges: pd.DataFrame  # source, target, weight (the signed direct effect), influence

    def to_dict(self) -> dict:
        nodes = self.nodes.astype(object).where(self.nodes.notna(), None)
        return {"unit": self.unit, "at": self.at, "positions": self.positions,
                "nodes": nodes.to_dict(orient="records"), "edges": self.edges.to_dict(orient="records")}


CIRCUIT_CELLS = ("lstm", "gru", "rnn")  # the cells whose equations _split writes out


def _safe(a: torch.Tensor) -> torch.Tensor:
    return torch.where(a.abs() < 1e-6, torch.full_like(a, 1e-6), a)


class _Reader:
    """The values one position's graph reads: states of layers 0..L over rows lo..at, the weights."""

    def __init__(self, rec, unit: Unit, at: int, depth: int):
        self.cell, self.at, self.L = rec.meta["cell"], at, unit.layer
        model, _ = model_of(rec)
        self.w = [tuple(getattr(model.rnn, f"{n}_l{l}").detach().float()
                        for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
                  for l in range(unit.layer + 1)]
        self.first = max(at - depth, rec.stream_start(at) + 1)  # the earliest step expanded (it reads the row before)
        self.lo = min(self.first - 1, at)
        kinds = ("c", "h") if self.cell == "lstm" else ("h",)
        self.states = {(l, k): torch.from_numpy(rec.activations(l, k, None, self.lo, at + 1))  # (n, H)
                       for l in range(unit.layer + 1) for k in kinds}
        self.emb = model.embedding.weight.detach()[torch.from_numpy(rec.ids(self.lo, at + 1).astype(np.int64))]  # (n, E)
        self.chars = rec.string[self.lo:at + 1]

    def state(self, l: int, kind: str, s: int) -> torch.Tensor:
        return self.states[(l, kind)][s - self.lo]  # (H,)

    def x(self, l: int, s: int) -> tuple[tuple, torch.Tensor]:
        """(the input block's key, its value): the character (summed over the embedding) or h below."""
        if l == 0:
            return ("char", self.at - s), self.emb[s - self.lo]
        return ("h", l - 1, self.at - s), self.state(l - 1, "h", s)


def _split(r: _Reader, l: int, s: int, gate: str | None = None) -> dict[tuple, dict[tuple, torch.Tensor]]:
    """{child block: {parent block: (child size, parent size) terms}} of layer l at step s: the states
    (or, with `gate`, that one gate's pre-activation times its gain); each child's terms sum to its value."""
    w_ih, w_hh, b_ih, b_hh = r.w[l]
    H, tau = w_hh.shape[1], r.at - s
    xkey, x = r.x(l, s)
    h_prev = r.state(l, "h", s - 1)
    rows = lambda w, g: w[g * H:(g + 1) * H]  # noqa: E731 - gate block g of a weight or bias
    rec_t = lambda g: rows(w_hh, g) * h_prev[None, :]  # noqa: E731 - (H, H)
    in_t = lambda g: rows(w_ih, g) * x[None, :]  # noqa: E731 - (H, in)
    hkey = ("h", l, tau + 1)

    def parents(slope, g, value, hscale=1.0, bias=None, extra=None):
        """slope * (W_ig x + hscale * W_hg h + b) split by parent, plus (extra) terms already split;
        what the slope leaves of `value` (a saturated nonlinearity's part) goes to SATURATION."""
        b = rows(b_ih, g) + hscale * rows(b_hh, g) if bias is None else bias
        into = {hkey: (slope * hscale)[:, None] * rec_t(g), BIAS: (slope * b)[:, None]}
        xt = slope[:, None] * in_t(g)
        into[xkey] = xt.sum(1, keepdim=True) if xkey[0] == "char" else xt
        for key, terms in (extra or {}).items():
            into[key] = into[key] + terms if key in into else terms
        into[SATURATION] = (value - sum(t.sum(1) for t in into.values()))[:, None]
        return into

    sig_slope = lambda v: v * (1 - v)  # noqa: E731 - sigmoid'(a) from sigmoid(a)
    tanh_slope = lambda v: 1 - v * v  # noqa: E731
    if r.cell == "lstm":
        pre = {k: in_t(g).sum(1) + rec_t(g).sum(1) + rows(b_ih, g) + rows(b_hh, g) for g, k in enumerate("ifgo")}
        act = {k: torch.tanh(p) if k == "g" else torch.sigmoid(p) for k, p in pre.items()}
        if gate:
            slope = tanh_slope(act[gate]) if gate == "g" else sig_slope(act[gate])
            return {("gate", l, gate): parents(slope, "ifgo".index(gate), act[gate])}
        c_prev, c, h = (r.state(l, k, t) for k, t in (("c", s - 1), ("c", s), ("h", s)))
        into_c = parents(act["i"] * tanh_slope(act["g"]), 2, act["f"] * c_prev + act["i"] * act["g"],
                         extra={("c", l, tau + 1): torch.diag(act["f"] * c_prev)})
        h_slope = act["o"] * tanh_slope(torch.tanh(c)) * c  # (H,): h's first-order response to c
        return {("c", l, tau): into_c, ("h", l, tau): {("c", l, tau): torch.diag(h_slope), SATURATION: (h - h_slope)[:, None]}}
    if r.cell == "gru":
        pre = [in_t(g).sum(1) + rows(b_ih, g) + rec_t(g).sum(1) + rows(b_hh, g) for g in (0, 1)]
        rz = [torch.sigmoid(p) for p in pre]
        n = torch.tanh(in_t(2).sum(1) + rows(b_ih, 2) + rz[0] * (rec_t(2).sum(1) + rows(b_hh, 2)))
        if gate in ("r", "z"):
            g = "rz".index(gate)
            return {("gate", l, gate): parents(sig_slope(rz[g]), g, rz[g])}
        keep = 1 if gate else 1 - rz[1]  # n itself, or its share (1 - z) of h
        value = n if gate else rz[1] * h_prev + keep * n
        extra = None if gate else {hkey: torch.diag(rz[1] * h_prev)}
        into = parents(keep * tanh_slope(n), 2, value, hscale=rz[0], bias=rows(b_ih, 2) + rz[0] * rows(b_hh, 2), extra=extra)
        return {("gate", l, gate) if gate else ("h", l, tau): into}
    h = torch.tanh(in_t(0).sum(1) + rec_t(0).sum(1) + b_ih + b_hh)
    return {("h", l, tau): parents(tanh_slope(h), 0, h)}


def _position(rec, unit: Unit, at: int, depth: int):
    """One position's graph: {block: influence (n,)}, {block: value (n,)}, {(child, parent): (terms, scores)}."""
    r = _Reader(rec, unit, at, depth)
    target = _target(unit)
    splits = {}
    if target[0] == "gate":  # the one gate's row of its layer's split
        into = _split(r, unit.layer, at, unit.kind)[target]
        splits[target] = {p: t[unit.index:unit.index + 1] for p, t in into.items()}
    for s in range(at, r.first - 1, -1):
        for l in range(unit.layer, -1, -1):
            splits.update(_split(r, l, s))
    influence = {target: torch.zeros(1 if target[0] == "gate" else rec.hidden, dtype=torch.float64)}
    influence[target][0 if target[0] == "gate" else unit.index] = 1.0
    pairs = {}
    for child in _order(splits, r.at, r.first, unit.layer):
        v = influence.get(child)
        if v is None or child not in splits:
            continue
        into = splits[child]
        total = sum(t.abs().sum(1) for t in into.values()).double()  # (n,)
        for parent, terms in into.items():
            a = terms.abs().double() / torch.where(total > 0, total, torch.ones_like(total))[:, None]
            influence[parent] = influence.get(parent, 0) + v @ a
            pairs[(child, parent)] = (terms.double(), v[:, None] * a)
    values = {b: _values(r, b, splits) for b in influence}
    return influence, values, pairs, r.chars[-depth - 2:]


def _target(unit: Unit) -> tuple:
    return ("gate", unit.layer, unit.kind) if unit.kind not in ("c", "h") else (unit.kind, unit.layer, 0)


def _order(splits, at: int, first: int, top: int) -> list:
    """Children before parents: the gate target, then by step from the target back, each step's layers top down, h before c."""
    order = [b for b in splits if b[0] == "gate"]
    for tau in range(0, at - first + 1):
        for l in range(top, -1, -1):
            order += [("h", l, tau), ("c", l, tau)]
    return order


def _values(r: _Reader, block: tuple, splits: dict) -> torch.Tensor:
    """(n,) values of a block's nodes: a state's recorded value, a gate's (its terms' sum), NaN for a
    character, 1 for the bias."""
    if block[0] in ("h", "c"):
        return r.state(block[1], block[0], r.at - block[2]).double()
    if block[0] == "gate":
        return sum(t.sum(1) for t in splits[block].values()).double()
    return torch.full((1,), 1.0 if block in (BIAS, SATURATION) else float("nan"), dtype=torch.float64)


def strongest(rec, unit: Unit, n: int = STRONG) -> list[int]:
    """The n positions of the unit's largest values (a stream's first row left out: see `circuit`)."""
    values = rec.activations(unit.layer, unit.kind, [unit.index])[:, 0]
    starts = rec.streams()[:, 0]
    values[starts] = -np.inf
    order = np.argsort(-values, kind="stable")[:n]
    return sorted(int(p) for p in order)


def circuit(rec, unit, at: int | None = None, depth: int = DEPTH) -> Circuit:
    """The pruned graph of `unit` at `at`, or (at None) averaged over its STRONG strongest positions."""
    rec = rec if isinstance(rec, Recording) else open_recording(rec)
    if rec.meta["cell"] not in CIRCUIT_CELLS:
        raise ValueError(f"charnn circuit expands the equations of {', '.join(CIRCUIT_CELLS)} layers, not "
                         f"{rec.meta['cell']}: use charnn attribute (its write split is exact for this cell)")
    if at is None:
        unit = Unit.parse(unit)
        rec.check(unit.layer, unit.kind, [unit.index])
        positions = strongest(rec, unit)
    else:
        unit, _ = check_window(rec, unit, at, 1)
        if at == rec.stream_start(at):
            raise ValueError(f"position {at} is the first row of its stream: what feeds it is the burn-in's "
                             f"state, which the recording does not keep; use a later position")
        positions = [at]
    influence, values, pairs, chars = {}, {}, {}, {}
    for pos in positions:
        with threads.per_tile(1):  # small products: torch's own threads would wait at a barrier each
            infl, vals, prs, text = _position(rec, unit, pos, depth)
        for key, v in infl.items():
            influence[key] = influence.get(key, 0) + v / len(positions)
            values[key] = values.get(key, 0) + vals[key] / len(positions)
        for key, (w, sc) in prs.items():
            old = pairs.get(key, (0, 0))
            pairs[key] = (old[0] + w / len(positions), old[1] + sc / len(positions))
        for tau in range(len(text)):
            chars.setdefault(tau, set()).add(text[len(text) - 1 - tau])
    labels = {tau: next(iter(c)) if len(c) == 1 else None for tau, c in chars.items()}
    nodes, edges = _prune(unit, _target(unit), influence, values, pairs, labels)
    return Circuit(str(unit), at, positions, nodes, edges)


def _name(block: tuple, j: int, unit: Unit) -> str:
    if block[0] in ("h", "c"):
        return f"{block[1]}:{block[0]}:{j}@t" + (f"-{block[2]}" if block[2] else "")
    if block[0] == "gate":
        return f"{unit}@t"
    if block in (BIAS, SATURATION):
        return block[0]
    return "char@t" + (f"-{block[1]}" if block[1] else "")


def _prune(unit: Unit, target: tuple, influence: dict, values: dict, pairs: dict, labels: dict):
    """(nodes, edges) DataFrames of the nodes that carry NODE_SHARE of the influence and the edges
    among them that carry EDGE_SHARE of theirs (the target always kept)."""
    rows = [(b, j, float(v[j])) for b, v in influence.items() for j in range(len(v))
            if not (b == target and j == (0 if b[0] == "gate" else unit.index))]
    rows.sort(key=lambda r: -r[2])
    total = sum(r[2] for r in rows) or 1.0
    kept, acc = {(target, 0 if target[0] == "gate" else unit.index)}, 0.0
    for b, j, v in rows:
        if acc >= NODE_SHARE * total or v <= 0:
            break
        kept.add((b, j))
        acc += v
    found = []
    for (child, parent), (w, sc) in pairs.items():
        ci = [j for (b, j) in kept if b == child]
        pj = [j for (b, j) in kept if b == parent]
        for i in ci:
            for j in pj:
                if float(sc[i, j]) > 0:
                    found.append((_name(parent, j, unit), _name(child, i, unit), float(w[i, j]), float(sc[i, j])))
    found.sort(key=lambda e: -e[3])
    scores = np.cumsum([e[3] for e in found])
    keep = int(np.searchsorted(scores, EDGE_SHARE * scores[-1]) + 1) if found else 0
    edges = pd.DataFrame(found[:keep], columns=["source", "target", "weight", "influence"])
    named = set(edges["source"]) | set(edges["target"]) | {_name(target, unit.index, unit)}
    nodes = []
    for b, j in kept:
        name = _name(b, j, unit)
        if name not in named:
            continue
        tau = b[2] if b[0] in ("h", "c") else (0 if b[0] == "gate" else (b[1] if b[0] == "char" else None))
        state = b[0] in ("h", "c", "gate")
        nodes.append({"id": name, "layer": b[1] if state else None, "kind": (b[2] if b[0] == "gate" else b[0]) if state else b[0],
                      "unit": (unit.index if b[0] == "gate" else j) if state else None, "offset": tau,
                      "char": labels.get(tau) if tau is not None else None,
                      "influence": 1.0 if b == target else float(influence[b][j]), "value": float(values[b][j])})
    nodes = pd.DataFrame(nodes, columns=["id", "layer", "kind", "unit", "offset", "char", "influence", "value"])
    nodes = nodes.astype({"layer": "Int64", "unit": "Int64", "offset": "Int64"})
    return nodes.sort_values("influence", ascending=False, ignore_index=True), edges
