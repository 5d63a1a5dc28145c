"""physics.noise.degrade: f_obs = A f + N(0, (sigma/255)^2), seeded, float64, no clipping."""

import numpy as np
import pytest
import torch

from mgdlcore.physics.noise import degrade
from mgdlcore.physics.operators import GaussianBlur, Identity


def test_noise_law_and_seed():
    clean = np.full((64, 48), 0.5)
    a = degrade(clean, Identity(), 30, noise_seed=3)
    np.testing.assert_array_equal(a, degrade(clean, Identity(), 30, noise_seed=3))
    assert not np.array_equal(a, degrade(clean, Identity(), 30, noise_seed=4))
    # 3072 samples: the sample std is within 5% of sigma with overwhelming probability
    assert np.std(a - clean) == pytest.approx(30 / 255, rel=0.05)
    assert abs(np.mean(a - clean)) < 4 * (30 / 255) / np.sqrt(a.size)
    # the realisation is numpy's default_rng(seed).standard_normal, scaled
    np.testing.assert_allclose(a - clean, np.random.default_rng(3).standard_normal((64, 48)) * 30 / 255,
                               rtol=0, atol=1e-15)


def test_blur_first_then_noise_without_clipping():
    img = np.random.default_rng(0).random((40, 33))
    A = GaussianBlur(2)  # noqa: N806
    blurred = A.A(torch.as_tensor(img)).numpy()
    np.testing.assert_array_equal(degrade(img, A, 0), blurred)
    obs = degrade(img, A, 60, noise_seed=0)
    assert obs.dtype == np.float64
    assert obs.min() < 0 or obs.max() > 1          # 60/255 noise on [0, 1]: clipping would hide this
    assert np.std(obs - blurred) == pytest.approx(60 / 255, rel=0.1)


@pytest.mark.parametrize("level", [-1.0, float("nan"), float("inf"), "30"])
def test_bad_noise_level_is_a_one_line_error(level):
    with pytest.raises(ValueError, match="noise_level") as err:
        degrade(np.zeros((8, 8)), Identity(), level)
    assert "\n" not in str(err.value)


def test_needs_a_2d_image():
    with pytest.raises(ValueError, match="2-D"):
        degrade(np.zeros((2, 8, 8)), Identity(), 10)
