"""Classical references: parameter choice by the discrepancy principle and by the (labelled) oracle, TV solvers."""

import numpy as np
import pytest
import torch

from mgdlcore.baselines.classical import classical_reference, select_parameter, tv_deconvolve
from mgdlcore.metrics import psnr
from mgdlcore.physics.noise import degrade
from mgdlcore.physics.operators import ForwardDifference, GaussianBlur, Identity


def _blocks(h=29, w=23):
    img = np.zeros((h, w))
    img[5:20, 4:15] = 0.8
    img[12:26, 10:21] += 0.3
    return img


def test_select_parameter_discrepancy_and_oracle():
    clean = _blocks()
    rng = np.random.default_rng(0)
    sigma = 20.0
    noise = rng.standard_normal(clean.shape)
    observed = clean + sigma / 255 * noise

    def solve(p):  # residual variance is exactly (p * sigma/255)^2 * mean(noise^2)
        return clean + (1 - p) * sigma / 255 * noise

    grid = [0.25, 0.5, 0.9, 1.0 / np.sqrt(np.mean(noise**2)), 1.5]
    u, info = select_parameter(observed, Identity(), solve, grid, noise_level=sigma, clean=clean)
    assert info["parameter"] == grid[3]
    assert info["residual_variance"][3] == pytest.approx(info["target_variance"], rel=1e-10)
    _, info_o = select_parameter(observed, Identity(), solve, grid, noise_level=sigma, clean=clean, oracle=True)
    assert info_o["parameter"] == grid[3] and "oracle" in info_o["rule"]
    with pytest.raises(ValueError, match="clean"):
        select_parameter(observed, Identity(), solve, grid, noise_level=sigma, oracle=True)


def test_tv_deconvolve_limits_and_optimality():
    clean = _blocks()
    A = GaussianBlur(1.5)  # noqa: N806
    obs = degrade(clean, A, 3, noise_seed=1)
    B = ForwardDifference()  # noqa: N806
    lam = 0.02
    u = tv_deconvolve(obs, A, lam, iterations=1500)

    def objective(v):
        t = torch.as_tensor(v)
        return float(0.5 * torch.sum((A.A(t) - torch.as_tensor(obs)) ** 2) + lam * torch.sum(torch.abs(B.A(t))))

    rng = np.random.default_rng(3)
    f0 = objective(u)
    for _ in range(5):  # no random nearby point is better (up to the solver tolerance)
        assert f0 <= objective(u + 1e-3 * rng.standard_normal(u.shape)) + 1e-6
    assert f0 < objective(obs)
    # a huge weight flattens the image to its mean (A preserves constants, TV of a constant is 0)
    flat = tv_deconvolve(obs, Identity(), 10.0, iterations=800)
    assert np.ptp(flat) < 5e-3 and flat.mean() == pytest.approx(obs.mean(), abs=1e-3)


def test_classical_references_improve_on_corrupted_input():
    clean = _blocks(33, 27)
    noisy = degrade(clean, Identity(), 30, noise_seed=0)
    base = psnr(clean, noisy)
    obs, info = classical_reference("observed", noisy, Identity(), noise_level=30)
    np.testing.assert_array_equal(obs, noisy)
    tv, info = classical_reference("tv", noisy, Identity(), noise_level=30, clean=clean)
    tvo, info_o = classical_reference("tv_oracle", noisy, Identity(), noise_level=30, clean=clean)
    assert psnr(clean, tv) > base + 3
    assert psnr(clean, tvo) >= psnr(clean, tv) - 1e-9 and psnr(clean, tvo) == max(info_o["grid_psnr"])
    A = GaussianBlur(2)  # noqa: N806
    blurred = degrade(clean, A, 3, noise_seed=0)
    wi, _ = classical_reference("wiener_oracle", blurred, A, noise_level=3, clean=clean)
    assert psnr(clean, wi) > psnr(clean, blurred)
    with pytest.raises(ValueError, match="blur"):
        classical_reference("wiener", noisy, Identity(), noise_level=30)
    with pytest.raises(ValueError, match="accepted"):
        classical_reference("bm3d", noisy, Identity(), noise_level=30)


def test_wiener_on_an_image_smaller_than_the_kernel_is_a_one_line_error():
    small = _blocks(29, 23)
    A = GaussianBlur(7)  # noqa: N806  (43 taps > 23 pixels)
    with pytest.raises(ValueError, match="43-tap kernel") as err:
        classical_reference("wiener", small, A, noise_level=3, clean=small)
    assert "\n" not in str(err.value)
