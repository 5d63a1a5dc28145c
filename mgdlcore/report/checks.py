"""Check cells: compare our numbers with a reference within a stated tolerance; the list of violations."""

from __future__ import annotations

import math


def compare(values: dict[str, float], reference: dict[str, float], tolerance: float) -> list[str]:
    """One line per reference entry that is missing from ``values`` or differs by more than ``tolerance``."""
    problems = []
    for key, ref in sorted(reference.items()):
        got = values.get(key)
        if got is None or not math.isfinite(got):
            problems.append(f"{key}: no value (reference {ref:.3f})")
        elif abs(got - ref) > tolerance:
            problems.append(f"{key}: {got:.3f} vs reference {ref:.3f} (|diff| {abs(got - ref):.3f} > {tolerance})")
    return problems
