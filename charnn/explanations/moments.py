"""Mergeable sufficient statistics of features against units, and what follows from them.

    m = chunk_moments(F, X)            # F (p, n) float32 features, X (n, U) float32 units: a pure function
    total = m1 + m2                    # exact: counts, sums and products just add
    C, b, vx = total.covariances()     # (p, p), (p, U), (U,): everything a least-squares fit needs

Every linear explanation y = a^T F (a over the features) has cov(y, x) = a^T b and var(y) =
a^T C a, so selecting terms, fitting weights and scoring a fit on another part of the text all
run on p x p and p x U matrices, never on the characters again. Because the moments of a chunk
depend on that chunk alone, parts of a text (or of a recording split across machines) are
summed in any order.

Accuracy: products are float32 within ROWS-row blocks, summed in float64; the caller centres F
(the feature's mean) and X (the middle of the unit's range), so that sums do not cancel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

ROWS = 4096  # rows per float32 product block
VAR_TOL = 1e-9  # a variance below this share of the mean square is zero


@dataclass
class Moments:
    n: int
    sf: np.ndarray  # (p,) sum of F
    ff: np.ndarray  # (p, p) F F^T
    sx: np.ndarray  # (U,) sum of X
    sxx: np.ndarray  # (U,) sum of X^2
    fx: np.ndarray  # (p, U) F X

    @classmethod
    def zeros(cls, p: int, U: int) -> "Moments":
        return cls(0, np.zeros(p), np.zeros((p, p)), np.zeros(U), np.zeros(U), np.zeros((p, U)))

    def __add__(self, other: "Moments") -> "Moments":
        return Moments(self.n + other.n, self.sf + other.sf, self.ff + other.ff, self.sx + other.sx,
                       self.sxx + other.sxx, self.fx + other.fx)

    def covariances(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(C (p, p), b (p, U), vx (U,)): population covariances of the features, of each feature with
        each unit, and each unit's variance (all zero when no row was added)."""
        n = max(self.n, 1)
        mf, mx = self.sf / n, self.sx / n
        C = self.ff / n - np.outer(mf, mf)
        b = self.fx / n - np.outer(mf, mx)
        vx = np.maximum(self.sxx / n - mx ** 2, 0.0)
        # a variance that is rounding noise (a feature or unit constant on this part, away from its
        # centre) is zero, so that nothing is "explained" by or on it
        flat = np.diag(C) <= VAR_TOL * np.diag(self.ff) / n
        C[flat, :], C[:, flat], b[flat, :] = 0.0, 0.0, 0.0
        vx = np.where(vx <= VAR_TOL * self.sxx / n, 0.0, vx)
        return C, b, vx

    def columns(self, units: np.ndarray) -> "Moments":
        """The moments of a subset of units (the features' part is shared)."""
        return Moments(self.n, self.sf, self.ff, self.sx[units], self.sxx[units], self.fx[:, units])


def _blocked(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """a (p, n) @ b (n, U) as float64, float32 products summed over ROWS rows at a time."""
    out = torch.zeros(a.shape[0], b.shape[1], dtype=torch.float64)
    for s in range(0, a.shape[1], ROWS):
        out += torch.mm(a[:, s:s + ROWS], b[s:s + ROWS]).double()
    return out.numpy()


def feature_moments(F: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """(n, sum F (p,), F F^T (p, p)) of a chunk F (p, n): the part shared by every block of units."""
    f = torch.from_numpy(np.ascontiguousarray(F, np.float32))
    return F.shape[1], F.sum(1, dtype=np.float64), _blocked(f, f.T)


def unit_moments(F: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sum X (U,), sum X^2 (U,), F X (p, U)) of a chunk: F (p, n), X (n, U) float32."""
    f = torch.from_numpy(np.ascontiguousarray(F, np.float32))
    x = torch.from_numpy(np.ascontiguousarray(X, np.float32))
    return X.sum(0, dtype=np.float64), np.einsum("nu,nu->u", X, X, dtype=np.float64), _blocked(f, x)


def chunk_moments(F: np.ndarray, X: np.ndarray, shared: tuple | None = None) -> Moments:
    """The moments of one chunk: F (p, n) features, X (n, U) units, both float32 and centred.

    shared: feature_moments(F), when several blocks of units share one F."""
    n, sf, ff = shared if shared is not None else feature_moments(F)
    sx, sxx, fx = unit_moments(F, X)
    return Moments(n, sf, ff, sx, sxx, fx)


def fit_r(C: np.ndarray, b: np.ndarray, vx: np.ndarray, A: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Pearson r of x with y = (A w)^T F for each unit, from one part's covariances.

    A (U, k, p) term vectors per unit, w (U, k) weights; C (p, p), b (p, U), vx (U,). A unit whose
    activation or prediction does not vary on the part gets 0."""
    a = np.einsum("ukp,uk->up", A, w)  # (U, p) the prediction as a vector over the features
    cov = np.einsum("up,pu->u", a, b)
    var = np.einsum("up,pq,uq->u", a, C, a)
    scale = np.einsum("up,p->u", a ** 2, np.diag(C))  # var if the features were uncorrelated
    ok = (var > 1e-9 * scale) & (var > 0) & (vx > 0)
    return np.clip(np.where(ok, cov / np.sqrt(np.where(ok, var * vx, 1.0)), 0.0), -1.0, 1.0)
