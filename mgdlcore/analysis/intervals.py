"""Learning-rate intervals of a sweep (Sec. 5, Figures 1, 15 and 28): pure functions of lists of runs.

A *run* is anything with ``run["learning_rate"]``, ``run.get("diverged")`` and ``run.get(key)`` for the value in
question: an ``experiments.records.Record`` (metrics, then config fields) or a plain dict. A diverged run and a
missing value count as NaN, which never passes a threshold (the NaN points of Figure 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def final_values(runs: Sequence, key: str = "final_train_loss") -> tuple[np.ndarray, np.ndarray]:
    """``(learning_rates, values)`` sorted by learning rate; diverged runs and missing values are NaN."""
    pairs = sorted((float(r["learning_rate"]),
                    np.nan if r.get("diverged") or r.get(key) is None else float(r.get(key))) for r in runs)
    return np.array([p[0] for p in pairs], float), np.array([p[1] for p in pairs], float)


def lr_intervals(learning_rates, values, threshold: float, *, below: bool = True) -> list[tuple[float, float]]:
    """All maximal runs of consecutive grid learning rates whose value is below (or, ``below=False``, above)
    ``threshold``, as ``(lowest, highest)`` learning rate of each run. NaN never passes."""
    lrs = np.asarray(learning_rates, float)
    vals = np.asarray(values, float)
    if lrs.shape != vals.shape:
        raise ValueError(f"learning_rates and values differ in shape: {lrs.shape} vs {vals.shape}")
    order = np.argsort(lrs)
    lrs, vals = lrs[order], vals[order]
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(vals) & ((vals < threshold) if below else (vals > threshold))
    runs, start = [], None
    for i, good in enumerate(ok):
        if good and start is None:
            start = i
        if not good and start is not None:
            runs.append((float(lrs[start]), float(lrs[i - 1])))
            start = None
    if start is not None:
        runs.append((float(lrs[start]), float(lrs[-1])))
    return runs


def lr_interval(learning_rates, values, threshold: float, *, below: bool = True) -> tuple[float, float] | None:
    """The widest of :func:`lr_intervals` (in ``log(high / low)``, then in grid points); None if none passes."""
    lrs = np.sort(np.asarray(learning_rates, float))
    runs = lr_intervals(learning_rates, values, threshold, below=below)
    if not runs:
        return None

    def width(run):
        lo, hi = run
        return (math.log(hi / lo), int(np.sum((lrs >= lo) & (lrs <= hi))))

    return max(runs, key=width)


def largest_stable_lr(runs: Sequence) -> float | None:
    """The largest grid learning rate below which (and at which) no run diverged; None if the smallest diverged."""
    best = None
    for r in sorted(runs, key=lambda r: r["learning_rate"]):
        if r.get("diverged"):
            break
        best = float(r["learning_rate"])
    return best


def first_diverged_lr(runs: Sequence) -> float | None:
    """The smallest grid learning rate whose run diverged; None if none did."""
    return next((float(r["learning_rate"]) for r in sorted(runs, key=lambda r: r["learning_rate"])
                 if r.get("diverged")), None)


def best_run(runs: Sequence, key: str = "final_train_loss", *, lowest: bool = True):
    """The run with the lowest (or highest) finite ``key``; None if no run has one."""
    ok = [r for r in runs if not r.get("diverged") and r.get(key) is not None and math.isfinite(r.get(key))]
    if not ok:
        return None
    return (min if lowest else max)(ok, key=lambda r: r.get(key))


def format_interval(interval: tuple[float, float] | None) -> str:
    """``[lo, hi]`` or ``none``."""
    return "none" if interval is None else f"[{interval[0]:g}, {interval[1]:g}]"
