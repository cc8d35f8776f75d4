"""Boolean compositions of 0/1 features (AND, OR, AND NOT; left to right), by beam search per unit.

    best = beam(Bs, Xs, depth=3, width=5)    # Bs (n, q) 0/1 sample of the binary features, Xs (n, U) units
    best[d][u]                               # unit u's best chain of d + 1 features: (cols, ops, |r| on the sample)

Each step extends every chain of the beam by every feature with each operator and keeps the
`width` best by |r| on the sample. All of a step's scores come from two matrix products: for a
chain's mask P and features B, B^T P counts P AND f and B^T (P * x) sums x over it; OR and AND
NOT follow (|P OR f| = |P| + |f| - |P AND f|; |P AND NOT f| = |P| - |P AND f|), so a step costs
two (q x n) @ (n x U * width) products, whatever the number of operators. The sample is a part
of the fitting text; the winners are scored exactly, on every character, by the caller.
"""

from __future__ import annotations

import numpy as np
import torch

from ..text.grammar import OPS  # the order of the three scores _extend stacks

UNITS_PER_BLOCK = 256  # units whose chains are scored in one product (memory: n x units x width floats)
MIN_SUPPORT = 16  # a chain must mark at least this many sample characters (fewer fit a spike, not a rule)


def _r(k: torch.Tensor, s: torch.Tensor, n: int, mx: torch.Tensor, ssx: torch.Tensor) -> torch.Tensor:
    """Pearson r of a 0/1 mask (k ones, x summing to s over them) with x (mean mx, n * variance ssx)."""
    var_m = k - k * k / n
    ok = (k >= MIN_SUPPORT) & (n - k >= MIN_SUPPORT) & (ssx > 0)
    return torch.where(ok, (s - k * mx) / torch.sqrt(torch.where(ok, var_m * ssx, 1.0)), 0.0)


def beam(Bs: np.ndarray, Xs: np.ndarray, depth: int, width: int = 5, cancel=None, run=None) -> list[list]:
    """Per depth d (chains of d + 1 features, d >= 1) and unit: (cols, ops, r) of the best chain, or None.

    The list's entry 0 holds the best single features (for reference; the caller has them exactly).
    run(fn, items): how to map over blocks of units (default in order; the engine's worker threads)."""
    B = torch.from_numpy(np.ascontiguousarray(Bs, np.float32))  # (n, q)
    X = torch.from_numpy(np.ascontiguousarray(Xs, np.float32))  # (n, U)
    n, q = B.shape
    U = X.shape[1]
    X64 = X.double()
    mx = X64.mean(0)  # (U,)
    ssx = ((X64 - mx) ** 2).sum(0)  # (U,)
    kf = B.double().sum(0)  # (q,)
    sf = (B.T @ X).double()  # (q, U)
    r1 = _r(kf[:, None], sf, n, mx[None, :], ssx[None, :])  # (q, U)
    best = [[None] * U for _ in range(depth)]
    top = torch.topk(r1.abs(), min(width, q), dim=0)  # (W, U)
    for u in range(U):
        best[0][u] = ((int(top.indices[0, u]),), (), float(r1[top.indices[0, u], u]))
    # the beam: per unit, W chains (cols, ops) and their masks
    chains = [[((int(j),), ()) for j in top.indices[:, u].tolist()] for u in range(U)]
    run = run or (lambda fn, items: [fn(i) for i in items])
    BT = B.T.contiguous()  # (q, n): a feature's sample is one contiguous row
    for d in range(1, depth):
        if cancel is not None and cancel():
            return best
        run(lambda lo: _extend(B, BT, X, kf, sf, mx, ssx, chains, best, d, lo, min(U, lo + UNITS_PER_BLOCK), width),
            range(0, U, UNITS_PER_BLOCK))
    return best


def chain_mask(BT: torch.Tensor, cols, ops) -> torch.Tensor:
    """(n,) float32 0/1 mask of a chain over the sample's features BT (q, n)."""
    m = BT[cols[0]].clone()
    for op, j in zip(ops, cols[1:]):
        f = BT[j]
        m = m * f if op == "AND" else torch.maximum(m, f) if op == "OR" else m * (1 - f)
    return m


def _extend(B, BT, X, kf, sf, mx, ssx, chains, best, d: int, lo: int, hi: int, width: int) -> None:
    """One beam step for units lo..hi (they own chains[lo:hi], best[d][lo:hi]): score every extension of
    every chain, keep the best `width`."""
    n, q = B.shape
    owners = [(u, c) for u in range(lo, hi) for c in chains[u]]
    if not owners:
        return
    P = torch.stack([chain_mask(BT, cols, ops) for _, (cols, ops) in owners], 1)  # (n, M) one column per chain
    unit = torch.tensor([u for u, _ in owners])  # (M,)
    PX = P * X[:, unit]  # (n, M) x over each chain's mask
    k_and = (B.T @ P).double()  # (q, M)
    s_and = (B.T @ PX).double()  # (q, M)
    kP, sP = P.double().sum(0), PX.double().sum(0)  # (M,)
    k = torch.stack([k_and, kf[:, None] + kP - k_and, kP - k_and])  # (3, q, M) AND, OR, AND NOT
    s = torch.stack([s_and, sf[:, unit] + sP - s_and, sP - s_and])
    r = _r(k, s, n, mx[unit], ssx[unit])  # (3, q, M)
    used = torch.zeros(q, len(owners), dtype=torch.bool)
    for m, (_, (cols, _)) in enumerate(owners):
        used[list(cols), m] = True
    score = torch.where(used[None] | (k == kP[None, None, :]) | (r == 0), -1.0, r.abs()).numpy()
    k, s, r = k.numpy(), s.numpy(), r.numpy()
    owner = unit.numpy()
    for u in range(lo, hi):
        cols_m = np.flatnonzero(owner == u)
        if not cols_m.size:
            continue
        sc = score[:, :, cols_m].reshape(-1)  # (3 * q * W)
        order = np.argsort(-sc, kind="stable")[:width * 8]
        seen, kept = set(), []
        for idx in order.tolist():
            if sc[idx] < 0 or len(kept) == width:
                break
            op, j, m = idx // (q * cols_m.size), (idx // cols_m.size) % q, int(cols_m[idx % cols_m.size])
            key = (k[op, j, m], round(float(s[op, j, m]), 6))  # the same mask reached twice
            if key in seen:
                continue
            seen.add(key)
            cols, ops = owners[m][1]
            kept.append(((*cols, int(j)), (*ops, OPS[op]), float(r[op, j, m])))
        chains[u] = [(c, o) for c, o, _ in kept]
        if kept:
            best[d][u] = kept[0]
