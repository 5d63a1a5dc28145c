"""Operators of Appendix C against independent references (scipy.ndimage, numpy, autograd), float64."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from mgdlcore.physics.operators import ForwardDifference, GaussianBlur, Identity, gaussian_kernel, kernel_taps

SHAPE = (37, 31)  # odd, non-square: catches height/width swaps


def _rand(shape, seed):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("name", ["identity", "blur3", "blur5", "blur7", "difference"])
def test_adjointness(name):
    op = {"identity": Identity(), "blur3": GaussianBlur(3), "blur5": GaussianBlur(5), "blur7": GaussianBlur(7),
          "difference": ForwardDifference()}[name]
    x = _rand(SHAPE, 1)
    y = _rand(op.A(x).shape, 2)
    assert op.adjointness_gap(x, y) < 1e-12


@pytest.mark.parametrize("name", ["blur3", "difference"])
def test_adjoint_matches_autograd(name):
    op = {"blur3": GaussianBlur(3), "difference": ForwardDifference()}[name]
    x = _rand(SHAPE, 3).requires_grad_(True)
    y = _rand(op.A(x).shape, 4)
    (g,) = torch.autograd.grad(torch.sum(op.A(x) * y), x)
    torch.testing.assert_close(op.A_adjoint(y), g, rtol=0, atol=1e-12)


def test_kernel_taps_are_six_sigma_plus_one():
    assert [kernel_taps(s) for s in (1, 3, 5, 7)] == [7, 19, 31, 43]
    assert GaussianBlur(7).kernel.shape == (43, 43)
    with pytest.raises(ValueError, match="sigma"):
        kernel_taps(0)


def test_image_smaller_than_the_kernel_is_a_one_line_error():
    GaussianBlur(7).check_image_shape((43, 50))            # as wide as the kernel: accepted
    with pytest.raises(ValueError, match="43-tap kernel, larger than the image side 32") as err:
        GaussianBlur(7).check_image_shape((32, 32))
    assert "\n" not in str(err.value)


def test_kernel_size_and_sum():
    for s in (3, 5, 7):
        k = gaussian_kernel(s)
        assert k.shape == (6 * s + 1, 6 * s + 1)
        assert abs(k.sum() - 1) < 1e-14
        np.testing.assert_allclose(k, k.T, atol=0)
        assert k[3 * s, 3 * s] == k.max()


@pytest.mark.parametrize("sigma", [3, 5, 7])
def test_blur_matches_scipy_reflect(sigma):
    # scipy 'reflect' is half-sample symmetric (numpy 'symmetric'); truncate=3 gives radius 3*sigma, 6*sigma+1 taps,
    # and a product of normalised 1-D Gaussians is the normalised 2-D Gaussian. Shapes larger than the kernel.
    rng = np.random.default_rng(sigma)
    img = rng.random((53, 47))
    ours = GaussianBlur(sigma).A(torch.as_tensor(img)).numpy()
    ref = ndimage.gaussian_filter(img, sigma, mode="reflect", truncate=3.0)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)
    ref2 = ndimage.correlate(img, gaussian_kernel(sigma), mode="reflect")
    np.testing.assert_allclose(ours, ref2, rtol=0, atol=1e-12)


def test_blur_matches_numpy_symmetric_pad_small_image():
    # kernel wider than the image (pad 21 > 16): the extension repeats the symmetric reflection as numpy does
    rng = np.random.default_rng(0)
    img = rng.random((16, 13))
    k = gaussian_kernel(7)
    p = k.shape[0] // 2
    padded = np.pad(img, p, mode="symmetric")
    from numpy.lib.stride_tricks import sliding_window_view

    ref = np.einsum("ijkl,kl->ij", sliding_window_view(padded, k.shape), k)
    ours = GaussianBlur(7).A(torch.as_tensor(img)).numpy()
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)


def test_blur_preserves_constants_and_batches():
    op = GaussianBlur(3)
    c = torch.full(SHAPE, 0.7, dtype=torch.float64)
    torch.testing.assert_close(op.A(c), c, rtol=0, atol=1e-13)
    batch = _rand((2, 3, *SHAPE), 5)
    torch.testing.assert_close(op.A(batch)[1, 2], op.A(batch[1, 2]), rtol=0, atol=1e-13)
    torch.testing.assert_close(op.A_adjoint(batch)[0, 1], op.A_adjoint(batch[0, 1]), rtol=0, atol=1e-13)


def test_forward_difference_matches_numpy_diff():
    rng = np.random.default_rng(1)
    img = rng.random(SHAPE)
    ref = np.vstack([np.diff(img, axis=0, append=img[-1:, :]), np.diff(img, axis=1, append=img[:, -1:])])
    ours = ForwardDifference().A(torch.as_tensor(img)).numpy()
    assert ours.shape == (2 * SHAPE[0], SHAPE[1])
    np.testing.assert_allclose(ours, ref, rtol=0, atol=0)
    assert np.all(ours[SHAPE[0] - 1] == 0) and np.all(ours[SHAPE[0]:, -1] == 0)


def test_operator_norms():
    # ||B||^2 -> 8 for large images (4 per direction); blur has norm 1 (a normalised positive kernel, symmetric ext.)
    assert GaussianBlur(3).norm((24, 20), iterations=200) == pytest.approx(1.0, abs=1e-6)
    nb = ForwardDifference().norm((24, 20), iterations=500)
    assert 2.6 < nb < 8**0.5
    assert Identity().norm(SHAPE) == pytest.approx(1.0)
