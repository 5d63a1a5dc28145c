import numpy as np
import pytest
import torch

from mgdlcore.data.synthetic import KAPPAS, phases_for, synthetic_data, target_function


@pytest.mark.parametrize("setting, kappa", [(1, (1.0, 5.5, 10.0)), (2, (1.0, 8.25, 15.5, 22.75, 30.0))])
def test_settings_match_eq5(setting, kappa):
    d = synthetic_data(setting)
    assert d.kappa == kappa == KAPPAS[setting]
    # the authors' frequencies: np.linspace(1, 10, 3) and np.linspace(1, 30, 5)
    np.testing.assert_allclose(kappa, np.linspace(1, 10, 3) if setting == 1 else np.linspace(1, 30, 5))
    assert len(d.phases) == len(kappa)
    assert all(0.0 <= p < 2 * np.pi for p in d.phases)
    assert d.x_train.shape == d.y_train.shape == (1024, 1)
    assert d.x_val.shape == d.y_val.shape == (1000, 1)
    assert d.x_train.dtype == torch.float32


def test_training_grid_is_equispaced_with_both_ends():
    x = synthetic_data(1).x_train[:, 0].double().numpy()
    assert x[0] == 0.0 and x[-1] == 1.0
    np.testing.assert_allclose(np.diff(x), 1 / 1023, atol=1e-7)  # float32 grid


def test_targets_are_the_sum_of_sines_by_hand():
    d = synthetic_data(2, phase_seed=3)
    x = d.x_val[:7, 0].double().numpy()
    by_hand = [sum(np.sin(2 * np.pi * k * xi + p) for k, p in zip(d.kappa, d.phases)) for xi in x]
    # targets are computed in float64 at the float64 points, then stored as float32; the float32 inputs
    # differ from those points by < 6e-8, and |g'| <= 2 pi * sum(kappa) ~ 490 here
    np.testing.assert_allclose(d.y_val[:7, 0].double().numpy(), by_hand, atol=1e-4)
    np.testing.assert_allclose(d.target(d.x_val[:7, 0]), by_hand, atol=1e-12)
    assert target_function(np.array([0.25]), (1.0,), (0.0,))[0] == pytest.approx(1.0)


def test_seeds_are_recorded_and_reproducible():
    a, b = synthetic_data(1, phase_seed=0, val_seed=1), synthetic_data(1, phase_seed=0, val_seed=1)
    assert a.phases == b.phases == phases_for(1, 0)
    torch.testing.assert_close(a.x_val, b.x_val)
    c = synthetic_data(1, phase_seed=5, val_seed=6)
    assert c.phases != a.phases
    assert not torch.equal(c.x_val, a.x_val)
    v = a.x_val.numpy()
    assert v.min() >= 0.0 and v.max() <= 1.0


def test_unknown_setting_is_one_line_error():
    with pytest.raises(ValueError, match="accepted: 1, 2"):
        synthetic_data(3)


def test_given_phases_replace_the_seeded_ones():
    d = synthetic_data(1, phases=(6.065293, 1.977203, 3.977444))
    assert d.phases == (6.065293, 1.977203, 3.977444) and d.phases != phases_for(1, 0)
    np.testing.assert_allclose(d.y_train[:, 0].double().numpy(),
                               target_function(np.linspace(0, 1, 1024), d.kappa, d.phases), atol=1e-6)
    with pytest.raises(ValueError, match="setting 2 needs 5 finite phases"):
        synthetic_data(2, phases=(0.1, 0.2, 0.3))
    with pytest.raises(ValueError, match="setting 1 needs 3 finite phases"):
        synthetic_data(1, phases=(0.1, float("nan"), 0.3))
