"""Sparse probe: how many units does it take to read a concept out of the network?

    from charnn.search import probe
    res = probe(rec, regex=r'"[^"]*"')
    print(res.path)    # C, n_units, train/test accuracy, balanced accuracy: accuracy vs sparsity
    print(res.units)   # the units (and weights) of the sparsest probe near the best accuracy

L1-regularised logistic regression over all units (the method that found the sentiment neuron,
Radford et al. 2017), across regularisation strengths from strong (few units) to weak. Rows are
subsampled to `max_rows` (seeded), units standardised with the training rows' mean and std. The
split is contiguous: the first (1 - test_frac) of the text trains, the rest tests, so a probe
cannot score by remembering neighbouring characters. Classes are weighted to balance (a rare
target would otherwise be fitted by a probe that always says "no", whose plain accuracy is
`majority`), and the chosen probe is the sparsest one whose test balanced accuracy (mean recall
of both classes) reaches `keep` (95%) of the best.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd

from ..recording.reader import scan_blocks
from ..text import make_target

DEFAULT_CS = tuple(np.logspace(-3, 0, 7))  # inverse regularisation strength, sparse to dense


@dataclass
class ProbeResult:
    path: pd.DataFrame  # one row per C: C, n_units, train_acc, test_acc, test_balanced_acc
    units: pd.DataFrame  # the chosen probe's units: layer, kind, unit, weight (by |weight|)
    chosen_C: float
    majority: float  # test accuracy of always predicting the more common class
    n_train: int
    n_test: int


def sample_rows(n: int, max_rows: int, test_frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted row indices (train, test): a contiguous split, each side subsampled without replacement."""
    cut = int(round(n * (1 - test_frac)))
    if not 0 < cut < n:
        raise ValueError(f"test_frac={test_frac} leaves no training or no test characters of {n}")
    rng = np.random.default_rng(seed)
    n_train = min(cut, int(max_rows * (1 - test_frac)))
    n_test = min(n - cut, max_rows - n_train)
    return (np.sort(rng.choice(cut, n_train, replace=False)),
            np.sort(cut + rng.choice(n - cut, n_test, replace=False)))


def gather_rows(rec, rows: np.ndarray, kinds=None) -> tuple[np.ndarray, pd.DataFrame]:
    """(X (len(rows), U_total) float32, units DataFrame) for the given sorted character positions."""
    blocks = scan_blocks(rec, kinds)
    parts = []
    for start, stop, arrays in rec.iter_chunks(blocks=blocks):
        sel = rows[(rows >= start) & (rows < stop)] - start
        if sel.size:
            parts.append(np.concatenate([arrays[b][sel] for b in blocks], 1))  # (m, U_total)
    width = getattr(rec, "width", lambda layer, kind: rec.hidden)  # an added kind has its own width
    units = pd.DataFrame([(layer, kind, u) for layer, kind in blocks for u in range(width(layer, kind))],
                         columns=["layer", "kind", "unit"])
    return np.concatenate(parts, 0), units


def _l1_model(C: float):
    import sklearn  # imported here: scikit-learn is needed by the probe only
    from sklearn.linear_model import LogisticRegression
    if tuple(int(v) for v in sklearn.__version__.split(".")[:2]) >= (1, 8):  # `penalty` is deprecated
        return LogisticRegression(l1_ratio=1.0, solver="liblinear", C=C, tol=1e-3, max_iter=200,
                                  class_weight="balanced")
    return LogisticRegression(penalty="l1", solver="liblinear", C=C, tol=1e-3, max_iter=200, class_weight="balanced")


def balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean of the recall on positives and on negatives; NaN if the test part has one class."""
    if y.all() or not y.any():
        return float("nan")
    return float((pred[y].mean() + (~pred[~y]).mean()) / 2)


def probe(rec, regex: str | None = None, concept: str | None = None, target: str = "inside",
          kinds: Iterable[str] | None = None, *, max_rows: int = 20_000, Cs: Iterable[float] = DEFAULT_CS,
          test_frac: float = 0.2, keep: float = 0.95, max_units: int = 256, seed: int = 0,
          timeout: float | None = None) -> ProbeResult:
    """Fit L1 logistic probes from sparse to dense; stop once a probe uses more than max_units."""
    y_all, binary, label = make_target(rec.string, regex, concept, target, timeout)
    if not binary:
        raise ValueError(f"{label} is continuous: a probe needs a binary target (a regex or a binary concept)")
    train, test = sample_rows(rec.n_chars, max_rows, test_frac, seed)
    X, units = gather_rows(rec, np.concatenate([train, test]), kinds)
    y = y_all[np.concatenate([train, test])] > 0.5
    Xtr, Xte, ytr, yte = X[:len(train)], X[len(train):], y[:len(train)], y[len(train):]
    if ytr.all() or not ytr.any():
        raise ValueError(f"{label}: the training part of the text has only one class; use a longer recording")
    mean, std = Xtr.mean(0), Xtr.std(0)
    std[std == 0] = 1.0
    Xtr, Xte = (Xtr - mean) / std, (Xte - mean) / std
    from sklearn.exceptions import ConvergenceWarning
    rows, models = [], []
    for C in sorted(Cs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = _l1_model(C).fit(Xtr, ytr)
        pred = model.predict(Xte)
        rows.append({"C": C, "n_units": int(np.count_nonzero(model.coef_)), "train_acc": model.score(Xtr, ytr),
                     "test_acc": float((pred == yte).mean()),
                     "test_balanced_acc": balanced_accuracy(yte, pred)})
        models.append(model)
        if rows[-1]["n_units"] > max_units:
            break
    path = pd.DataFrame(rows)
    score = path["test_balanced_acc"].fillna(path["test_acc"]).to_numpy()
    best = int(np.flatnonzero(score >= keep * score.max())[0])
    w = models[best].coef_[0] / std  # weight per unit in activation units
    nz = np.flatnonzero(models[best].coef_[0])
    chosen = units.iloc[nz].assign(weight=w[nz])
    chosen = chosen.iloc[np.argsort(-np.abs(chosen["weight"].to_numpy()), kind="stable")].reset_index(drop=True)
    return ProbeResult(path=path, units=chosen, chosen_C=float(path["C"][best]),
                       majority=float(max(yte.mean(), 1 - yte.mean())), n_train=len(train), n_test=len(test))
