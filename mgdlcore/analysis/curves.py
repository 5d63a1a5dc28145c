"""Measures of training curves: how much a loss oscillates (Secs. 5-7, Figures 1, 2, 25-27)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def oscillation(curves: Sequence[Sequence[float | None]]) -> dict[str, float | None]:
    """How much loss curves go up, each curve taken on its own (one per SGDL model or per MGDL grade).

    ``frac_increases``: the fraction of consecutive kept values where the loss rose (about 0 for a smooth decay);
    ``max_jump``: the largest one-step ratio ``loss[k+1] / loss[k]``. Non-finite values (a diverged tail) are
    dropped. Both None when no curve has two finite values.
    """
    ups = total = 0
    jump = None
    for curve in curves:
        v = np.array([np.nan if x is None else x for x in curve], dtype=np.float64)
        v = v[np.isfinite(v)]
        if v.size < 2:
            continue
        ups += int(np.sum(v[1:] > v[:-1]))
        total += v.size - 1
        j = float(np.max(v[1:] / np.maximum(v[:-1], 1e-300)))
        jump = j if jump is None else max(jump, j)
    return {"frac_increases": ups / total if total else None, "max_jump": jump}
