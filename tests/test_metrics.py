import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio

from mgdlcore.metrics import psnr, psnr_torch


def test_psnr_matches_skimage_on_odd_shape():
    rng = np.random.default_rng(0)
    ref = rng.random((37, 31))
    est = np.clip(ref + 0.05 * rng.standard_normal(ref.shape), 0, 1)
    expected = peak_signal_noise_ratio(ref, est, data_range=1.0)
    assert psnr(ref, est) == pytest.approx(expected, abs=1e-10)
    assert float(psnr_torch(torch.tensor(ref), torch.tensor(est))) == pytest.approx(expected, abs=1e-10)


def test_psnr_is_eq34_on_255_scale():
    rng = np.random.default_rng(1)
    v = rng.random((9, 14))
    vh = v + 0.01 * rng.standard_normal(v.shape)
    n = v.size
    eq34 = 10 * np.log10(n * 255**2 / np.sum((255 * v - 255 * vh) ** 2))
    assert psnr(v, vh) == pytest.approx(eq34, abs=1e-10)
    assert psnr(255 * v, 255 * vh, data_range=255) == pytest.approx(eq34, abs=1e-10)


def test_psnr_edge_cases():
    a = np.zeros((3, 4))
    assert psnr(a, a) == float("inf")
    with pytest.raises(ValueError, match="same shape"):
        psnr(a, np.zeros((4, 3)))
    # no clipping: an estimate outside [0, 1] is penalised as is
    assert psnr(a, a + 2.0) == pytest.approx(-10 * np.log10(4.0))
