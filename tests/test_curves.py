import numpy as np
import pytest

from mgdlcore.analysis.curves import oscillation


def test_smooth_decay_has_no_increase():
    out = oscillation([list(np.geomspace(1, 1e-3, 50))])
    assert out["frac_increases"] == 0.0 and out["max_jump"] < 1.0


def test_alternating_curve_counted_per_curve():
    # 1, 2, 1, 2: two rises out of three steps; the jump between two curves is not a step
    out = oscillation([[1.0, 2.0, 1.0, 2.0], [10.0, 5.0]])
    assert out["frac_increases"] == pytest.approx(2 / 4)
    assert out["max_jump"] == pytest.approx(2.0)


def test_nonfinite_values_dropped_and_empty_gives_none():
    assert oscillation([[None, float("nan")]]) == {"frac_increases": None, "max_jump": None}
    assert oscillation([[1.0, None, 0.5]])["frac_increases"] == 0.0
