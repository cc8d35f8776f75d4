"""What the unit details view computes from one unit's activations over a whole recording
(pure numpy; tested in tests/dashboard/test_pure.py).

    hist = histograms(values, mask)             # density inside / outside the matches
    top = top_positions(values, 20, sign=+1)    # strongest activations, at least min_gap apart
    picks = quantile_samples(values)             # [(quantile bin, position), ...]
    prof = position_profile(values, mask)        # mean activation by offset from match start / end
    at = next_strong(norm, pos, strong_threshold(norm))   # where the next strong activation begins
"""

from __future__ import annotations

import numpy as np


def histograms(values: np.ndarray, mask: np.ndarray | None = None, bins: int = 60) -> dict:
    """Bin edges and probability densities of all values, and of those inside/outside mask."""
    lo, hi = float(np.min(values)), float(np.max(values))
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    out = {"edges": edges, "all": np.histogram(values, edges, density=True)[0]}
    if mask is not None and mask.any() and (~mask).any():
        out["inside"] = np.histogram(values[mask], edges, density=True)[0]
        out["outside"] = np.histogram(values[~mask], edges, density=True)[0]
    return out


def top_positions(values: np.ndarray, k: int, sign: int = 1, min_gap: int = 20) -> list[int]:
    """Positions of the k largest (sign +1) or smallest (-1) values, no two within min_gap."""
    v = np.asarray(values, np.float32) * sign
    m = min(len(v), max(k * 50, 1000))
    candidates = np.argpartition(-v, m - 1)[:m] if m < len(v) else np.arange(len(v))
    candidates = candidates[np.argsort(-v[candidates], kind="stable")]
    picked: list[int] = []
    for p in candidates:
        if all(abs(int(p) - q) >= min_gap for q in picked):
            picked.append(int(p))
            if len(picked) == k:
                break
    return picked


def quantile_samples(values: np.ndarray, n_bins: int = 10, per_bin: int = 2, seed: int = 0) -> list[tuple[int, int]]:
    """(bin, position) pairs: per_bin random positions from each of n_bins equal-count bins."""
    rng = np.random.default_rng(seed)
    order = np.argsort(values, kind="stable")
    out = []
    for b, chunk in enumerate(np.array_split(order, n_bins)):
        if len(chunk):
            out += [(b, int(p)) for p in rng.choice(chunk, size=min(per_bin, len(chunk)), replace=False)]
    return out


def position_profile(values: np.ndarray, mask: np.ndarray, before: int = 5, max_len: int = 60,
                     max_matches: int = 20000, seed: int = 0) -> dict:
    """Mean activation at each offset from the start and from the end of the matches (runs of mask).

    Offsets -before..max_len-1 from the first character, and -(max_len)..before-1 from the
    last one (0 = the last character); only offsets inside the match or its margin count.
    """
    runs = np.asarray(mask_runs(mask), np.int64).reshape(-1, 2)  # (m, 2)
    if len(runs) > max_matches:
        runs = runs[np.sort(np.random.default_rng(seed).choice(len(runs), max_matches, replace=False))]
    n = len(values)
    out = {"matches": int(np.count_nonzero(np.diff(np.asarray(mask).astype(np.int8), prepend=0) == 1)), "used": len(runs)}
    starts, stops = runs[:, :1], runs[:, 1:]  # (m, 1)
    for name, offsets, anchor, inside in (
        ("start", np.arange(-before, max_len), starts, lambda o: (o < 0) | (o < stops - starts)),
        ("end", np.arange(-max_len + 1, before + 1), stops - 1, lambda o: (o > 0) | (-o < stops - starts)),
    ):
        idx = anchor + offsets[None, :]  # (m, k)
        ok = inside(offsets[None, :]) & (idx >= 0) & (idx < n)
        vals = np.where(ok, values[np.clip(idx, 0, n - 1)], 0.0)
        count = ok.sum(0)
        out[name] = {"offset": offsets, "mean": vals.sum(0) / np.maximum(count, 1), "count": count}
    return out


def strong_threshold(norm: np.ndarray, quantile: float = 0.99, floor: float = 0.5) -> float:
    """What counts as a strong activation of a unit: its `quantile` of |norm|, at least `floor`."""
    if norm.size == 0:
        return floor
    return float(max(floor, np.quantile(np.abs(norm), quantile)))


def next_strong(norm: np.ndarray, after: int, threshold: float) -> int | None:
    """First position > after where a run of |norm| >= threshold begins (wraps around); None if none."""
    strong = np.abs(norm) >= threshold  # (n,)
    starts = np.flatnonzero(strong & ~np.concatenate([[False], strong[:-1]]))  # (m,) run starts
    if starts.size == 0:
        return None
    later = starts[starts > after]
    return int(later[0] if later.size else starts[0])


def mask_runs(mask: np.ndarray) -> list[list[int]]:
    """(n,) bool -> [[start, stop), ...] of its runs of True."""
    edges = np.diff(np.concatenate([[0], np.asarray(mask).astype(np.int8), [0]]))
    return np.stack([np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)], axis=1).tolist()


def span_units(norm: np.ndarray, inside: slice, threshold: float = 0.3, top: int = 20) -> list[dict]:
    """Units that are on inside a span and off around it (LSTMVis's selection), best first.

    norm: (n, U) normalized activations over the span plus its margins; inside: the span's rows.
    A unit is "on" at a character when sign * norm > threshold; each unit is scored for both
    signs as (fraction on inside) - (fraction on around), and its better sign is kept.
    """
    n = len(norm)
    around = np.ones(n, bool)
    around[inside] = False
    rows = []
    for sign in (1, -1):
        on = sign * norm > threshold  # (n, U)
        frac_in = on[inside].mean(0)
        frac_out = on[around].mean(0) if around.any() else np.zeros(norm.shape[1])
        rows.append((frac_in - frac_out, frac_in, frac_out))
    best = np.argmax(np.stack([rows[0][0], rows[1][0]]), axis=0)  # (U,) 0: positive, 1: negative
    score = np.where(best == 0, rows[0][0], rows[1][0])
    order = np.argsort(-score, kind="stable")[:top]
    return [{"index": int(u), "sign": "+" if best[u] == 0 else "−", "score": float(score[u]),
             "inside": float(rows[best[u]][1][u]), "around": float(rows[best[u]][2][u])} for u in order]
