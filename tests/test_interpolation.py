import numpy as np
import pytest

from mgdlcore.baselines.interpolation import interpolate_training_grid


def test_bilinear_reproduces_affine_image():
    r, c = np.meshgrid(np.arange(37) / 37, np.arange(31) / 31, indexing="ij")
    image = 0.2 + 0.3 * r - 0.1 * c
    np.testing.assert_allclose(interpolate_training_grid(image, "bilinear"), image, atol=1e-12)


@pytest.mark.parametrize("method", ["bilinear", "bicubic"])
def test_uses_training_pixels_only(odd_image, method):
    noisy = odd_image.copy()
    noisy[1::2, :] = 0.0   # change every pixel outside the training grid
    noisy[:, 1::2] = 0.0
    noisy[::2, ::2] = odd_image[::2, ::2]
    np.testing.assert_array_equal(interpolate_training_grid(noisy, method), interpolate_training_grid(odd_image, method))
    # both interpolate: the training pixels come back (cubic splines up to solver round-off)
    np.testing.assert_allclose(interpolate_training_grid(odd_image, method)[::2, ::2], odd_image[::2, ::2], atol=1e-6)


def test_bicubic_beats_bilinear_on_smooth_image(odd_image):
    err = {m: np.abs(interpolate_training_grid(odd_image, m) - odd_image)[:-2, :-2].max() for m in ("bilinear", "bicubic")}
    assert err["bicubic"] < err["bilinear"]


def test_unknown_method():
    with pytest.raises(ValueError, match="accepted: bilinear, bicubic"):
        interpolate_training_grid(np.zeros((4, 4)), "nearest")
