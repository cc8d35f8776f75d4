"""Integrated gradients by adaptive Gauss-Legendre quadrature along the straight path from a baseline.

    from charnn.attribution.integrated import integrated_gradients
    attr, f_x, f_b, error = integrated_gradients(F, emb, baseline)   # attr (T,): one term per position

IG credits position s with (e_s - b_s) . integral over alpha in [0, 1] of dF/de_s at b + alpha (e - b),
and the terms add up to F(e) - F(b) (completeness). On a trained recurrent model F along that path is
smooth but not gentle: 100 or more steps of the recurrence amplify a small change of every input at
once, and the unit's value can swing within a thousandth of the path (a gate tipping over). A Riemann
sum or a fixed Gauss-Legendre rule then misses the swing at any affordable number of steps, and adding
steps everywhere spends them where nothing happens. So the path is cut into intervals, each integrated
by NODES-point Gauss-Legendre, and each interval is checked on its own: the integral of the directional
derivative over [a, a'] is exactly F(a') - F(a), a forward pass. The intervals that miss their share
of the tolerance are halved, until the misses together are within TOLERANCE of |F(e) - F(b)| (then
completeness holds, without terms of opposite sign cancelling by chance) or MAX_POINTS gradients are
spent.
"""

from __future__ import annotations

import numpy as np
import torch

NODES, FIRST = 4, 8  # Gauss-Legendre nodes per interval; intervals to begin with
MAX_POINTS = 2048  # gradient evaluations at most per path
BATCH = 64  # path points per pass
TOLERANCE = 0.01  # completeness, relative to |F(e) - F(b)|


def gradient(F, points: torch.Tensor) -> torch.Tensor:
    """dF/de at each of the points (P, T, E): (P, T, E), in passes of BATCH points."""
    grads = []
    for a in range(0, points.shape[0], BATCH):
        p = points[a:a + BATCH].clone().requires_grad_(True)
        grads.append(torch.autograd.grad(F(p).sum(), p)[0])
    return torch.cat(grads)


def _legendre(dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """NODES Gauss-Legendre nodes on [0, 1] and their weights (summing to 1)."""
    x, w = np.polynomial.legendre.leggauss(NODES)
    return torch.tensor((x + 1) / 2, dtype=dtype), torch.tensor(w / 2, dtype=dtype)


class _Path:
    """The straight path b + alpha (e - b) and F's values and gradients along it."""

    def __init__(self, F, emb: torch.Tensor, baseline: torch.Tensor):
        self.F, self.base, self.diff = F, baseline, emb - baseline  # (T, E) each
        self.nodes, self.weights = _legendre(emb.dtype)
        self.points = 0  # gradient evaluations spent

    def at(self, alphas: torch.Tensor) -> torch.Tensor:
        return self.base[None] + alphas[:, None, None] * self.diff[None]  # (P, T, E)

    def values(self, alphas: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([self.F(self.at(alphas[a:a + 256])) for a in range(0, len(alphas), 256)])  # (P,)

    def pieces(self, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
        """Each interval [lo_j, hi_j]'s integral, per position: (m, T)."""
        alphas = (lo[:, None] + (hi - lo)[:, None] * self.nodes[None]).reshape(-1)  # (m * NODES,)
        self.points += len(alphas)
        terms = (gradient(self.F, self.at(alphas)) * self.diff[None]).sum(-1)  # (m * NODES, T)
        terms = terms.view(len(lo), len(self.nodes), -1)  # (m, NODES, T)
        return (terms * self.weights[None, :, None]).sum(1) * (hi - lo)[:, None]


def _worst(miss: torch.Tensor, allowed: float) -> torch.Tensor:
    """(m,) bool: the fewest intervals, largest misses first, without which the rest miss at most `allowed`."""
    order = torch.argsort(miss, descending=True)
    left = miss.sum() - torch.cumsum(miss[order], 0)  # (m,): the misses left after splitting the first j + 1
    count = int((left > allowed).sum()) + 1
    split = torch.zeros_like(miss, dtype=torch.bool)
    split[order[:count]] = True
    return split


def integrated_gradients(F, emb: torch.Tensor, baseline: torch.Tensor,
                         max_points: int = MAX_POINTS) -> tuple[torch.Tensor, float, float, float]:
    """emb, baseline (T, E) -> (attributions (T,), F(emb), F(baseline), relative completeness error)."""
    path = _Path(F, emb, baseline)
    edges = torch.linspace(0, 1, FIRST + 1, dtype=emb.dtype)  # (m + 1,)
    f = path.values(edges)  # (m + 1,)
    f_b, f_x = float(f[0]), float(f[-1])
    scale = max(abs(f_x - f_b), 1e-6)
    lo, hi, f_lo, f_hi = edges[:-1], edges[1:], f[:-1], f[1:]
    parts = path.pieces(lo, hi)  # (m, T)
    while True:
        miss = (parts.sum(1) - (f_hi - f_lo)).abs()  # (m,): each interval against its exact integral
        if float(miss.sum()) <= TOLERANCE * scale or path.points >= max_points:
            break
        split = _worst(miss, TOLERANCE * scale / 2)
        mid = (lo[split] + hi[split]) / 2
        f_mid = path.values(mid)
        keep, kept = ~split, int((~split).sum())
        lo = torch.cat([lo[keep], lo[split], mid])
        hi = torch.cat([hi[keep], mid, hi[split]])
        f_lo = torch.cat([f_lo[keep], f_lo[split], f_mid])
        f_hi = torch.cat([f_hi[keep], f_mid, f_hi[split]])
        parts = torch.cat([parts[keep], path.pieces(lo[kept:], hi[kept:])])
    attr = parts.sum(0)  # (T,)
    return attr, f_x, f_b, abs(float(attr.sum()) - (f_x - f_b)) / scale
