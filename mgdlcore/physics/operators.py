"""Linear operators of the image-reconstruction model of Appendix C: ``A`` (identity or Gaussian blur) and ``B``.

Each operator is a small class that defines only ``A`` (the forward map) and ``A_adjoint`` (its transpose), in
the style of deepinv's ``physics``; the base class adds ``__call__``, an operator-norm estimate by the power
method and an adjointness check ``<A x, y> = <x, A^T y>``. Images are tensors whose last two axes are
(rows, columns); leading axes are carried through.

The authors' code (``mgdlmodel.py``) uses the same three operators: ``jnp.pad(..., mode='symmetric')`` followed by a
``VALID`` convolution with a ``(6 s + 1)``-tap Gaussian for the blur, and ``np.diff(..., append=last)`` for ``B``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


class LinearOperator:
    """A linear map between image spaces; subclasses define ``A`` and ``A_adjoint``."""

    def A(self, x: Tensor) -> Tensor:  # noqa: N802 (the paper's name)
        raise NotImplementedError

    def A_adjoint(self, y: Tensor) -> Tensor:  # noqa: N802
        raise NotImplementedError

    def __call__(self, x: Tensor) -> Tensor:
        return self.A(x)

    def adjointness_gap(self, x: Tensor, y: Tensor) -> float:
        """``|<A x, y> - <x, A^T y>| / max(|<A x, y>|, 1e-30)`` (0 up to rounding for a correct adjoint)."""
        lhs = float(torch.sum(self.A(x) * y))
        rhs = float(torch.sum(x * self.A_adjoint(y)))
        return abs(lhs - rhs) / max(abs(lhs), 1e-30)

    def norm(self, shape: tuple[int, ...], *, iterations: int = 100, generator: torch.Generator | None = None,
             dtype: torch.dtype = torch.float64) -> float:
        """Spectral norm ``||A||_2`` on images of ``shape``, by the power method on ``A^T A``."""
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        x = torch.randn(shape, generator=gen, dtype=dtype)
        x = x / x.norm()
        lam = 0.0
        for _ in range(iterations):
            z = self.A_adjoint(self.A(x))
            lam = float(z.norm())
            if lam == 0:
                return 0.0
            x = z / lam
        return lam**0.5


class Identity(LinearOperator):
    """``A = I``: the denoising problem (Sec. 4)."""

    def A(self, x: Tensor) -> Tensor:  # noqa: N802
        return x

    def A_adjoint(self, y: Tensor) -> Tensor:  # noqa: N802
        return y


def kernel_taps(sigma: float) -> int:
    """Taps of the authors' Gaussian blur kernel: ``6 sigma + 1`` for integer ``sigma`` (``2 ceil(3 sigma) + 1``)."""
    if not sigma > 0:
        raise ValueError(f"blur sigma must be > 0, got {sigma}")
    return 2 * int(np.ceil(3 * sigma - 1e-9)) + 1


def gaussian_kernel(sigma: float, size: int | None = None) -> np.ndarray:
    r"""The normalised 2-D Gaussian of the authors' blur, ``size = 6 sigma + 1`` taps by default (odd: ``2 ceil(3 sigma) + 1``).

    .. math:: K_{ij} \propto \exp\!\big(-(i^2 + j^2) / (2\sigma^2)\big),\quad i, j = -\lfloor size/2 \rfloor..,
              \quad \textstyle\sum_{ij} K_{ij} = 1

    (``ax = arange(-size//2 + 1, size//2 + 1)`` in their code, which for odd ``size`` is symmetric).
    """
    if size is None:
        size = kernel_taps(sigma)
    elif not sigma > 0:
        raise ValueError(f"blur sigma must be > 0, got {sigma}")
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be a positive odd integer, got {size}")
    ax = np.arange(-(size // 2), size // 2 + 1, dtype=np.float64)
    xx, yy = np.meshgrid(ax, ax, indexing="ij")
    k = np.exp(-(xx**2 + yy**2) / (2.0 * sigma**2))
    return k / k.sum()


def symmetric_indices(n: int, pad: int) -> np.ndarray:
    """Indices that pad ``arange(n)`` by ``pad`` on both sides with half-sample symmetry (numpy ``'symmetric'``)."""
    return np.pad(np.arange(n), pad, mode="symmetric")


class GaussianBlur(LinearOperator):
    """``A f = K * f``: Gaussian blur with standard deviation ``sigma`` (pixels), ``6 sigma + 1`` taps.

    The image is extended by half-sample symmetry (numpy ``'symmetric'``, ``scipy.ndimage`` ``'reflect'``:
    ``d c b a | a b c d | d c b a``) and then correlated with the kernel on the valid region, so the output has
    the input's shape. As the kernel is symmetric, correlation and convolution coincide. The Gaussian is separable
    (``K = k k^T`` with the normalised 1-D kernel ``k``), so ``A`` is applied as a column pass then a row pass, each
    with the same boundary rule; this equals the 2-D valid correlation of the symmetrically padded image. The
    adjoint is each pass's transposed valid correlation followed by folding the padded border back onto the
    pixels it copied.
    """

    def __init__(self, sigma: float, size: int | None = None):
        self.sigma = float(sigma)
        self.kernel = gaussian_kernel(self.sigma, size)
        self.pad = self.kernel.shape[0] // 2
        k1 = np.exp(-np.arange(-self.pad, self.pad + 1, dtype=np.float64) ** 2 / (2.0 * self.sigma**2))
        self.kernel1d = k1 / k1.sum()

    def check_image_shape(self, shape: tuple[int, ...]) -> None:
        """One-line ``ValueError`` when an image side is shorter than the kernel (the experiments' rule: the
        symmetric extension would reflect more than once, and FFT-based references cannot apply the kernel)."""
        taps = self.kernel.shape[0]
        if min(shape[-2:]) < taps:
            raise ValueError(f"blur sigma {self.sigma:g} needs a {taps}-tap kernel, larger than the image side "
                             f"{min(shape[-2:])}; use a larger image size or a smaller blur")

    def _k(self, ref: Tensor, axis: int) -> Tensor:
        k = torch.as_tensor(self.kernel1d, dtype=ref.dtype, device=ref.device)
        return k.reshape(1, 1, -1, 1) if axis == -2 else k.reshape(1, 1, 1, -1)

    def _index(self, n: int, device) -> Tensor:
        return torch.as_tensor(symmetric_indices(n, self.pad), device=device)

    def A(self, x: Tensor) -> Tensor:  # noqa: N802
        h, w = x.shape[-2:]
        z = x.reshape(-1, 1, h, w)
        z = torch.nn.functional.conv2d(z.index_select(-2, self._index(h, x.device)), self._k(x, -2))
        z = torch.nn.functional.conv2d(z.index_select(-1, self._index(w, x.device)), self._k(x, -1))
        return z.reshape(x.shape)

    def A_adjoint(self, y: Tensor) -> Tensor:  # noqa: N802
        h, w = y.shape[-2:]
        z = y.reshape(-1, 1, h, w)
        zp = torch.nn.functional.conv_transpose2d(z, self._k(y, -1))            # (.., h, w + 2p)
        z = torch.zeros_like(z).index_add_(-1, self._index(w, y.device), zp)
        zp = torch.nn.functional.conv_transpose2d(z, self._k(y, -2))            # (.., h + 2p, w)
        z = torch.zeros_like(z).index_add_(-2, self._index(h, y.device), zp)
        return z.reshape(y.shape)


class ForwardDifference(LinearOperator):
    r"""``B``: first-order forward differences, vertical then horizontal, stacked along the rows (Appendix C).

    .. math:: (B f) = \begin{bmatrix} D_v f \\ D_h f \end{bmatrix} \in \mathbb{R}^{2H \times W},\quad
              (D_v f)_{ij} = f_{i+1,j} - f_{ij},\ (D_h f)_{ij} = f_{i,j+1} - f_{ij},

    with zero difference at the last row (``D_v``) and the last column (``D_h``), as ``np.diff(f, axis,
    append=last)`` in the authors' ``tv_matrix_form``. ``||B f||_{1,1}`` is the anisotropic total variation.
    """

    def A(self, x: Tensor) -> Tensor:  # noqa: N802
        dv = torch.diff(x, dim=-2, append=x[..., -1:, :])
        dh = torch.diff(x, dim=-1, append=x[..., :, -1:])
        return torch.cat([dv, dh], dim=-2)

    def A_adjoint(self, y: Tensor) -> Tensor:  # noqa: N802
        h = y.shape[-2] // 2
        if y.shape[-2] != 2 * h:
            raise ValueError(f"B^T takes a (2H, W) array, got {tuple(y.shape[-2:])}")
        pv, ph = y[..., :h, :], y[..., h:, :]
        # D^T p for forward differences with p[last] ignored: (D^T p)_i = p_{i-1} - p_i (p_{-1} = 0, p_{n-1} := 0)
        pv = torch.cat([pv[..., :-1, :], torch.zeros_like(pv[..., -1:, :])], dim=-2)
        ph = torch.cat([ph[..., :, :-1], torch.zeros_like(ph[..., :, -1:])], dim=-1)
        zr = torch.zeros_like(pv[..., :1, :])
        zc = torch.zeros_like(ph[..., :, :1])
        out_v = torch.cat([zr, pv[..., :-1, :]], dim=-2) - pv
        out_h = torch.cat([zc, ph[..., :, :-1]], dim=-1) - ph
        return out_v + out_h


OPERATORS = {"identity": Identity, "gaussian_blur": GaussianBlur, "forward_difference": ForwardDifference}
