"""Image quality: PSNR, eq. (34)."""

from __future__ import annotations

import numpy as np
import torch


def psnr(reference, estimate, *, data_range: float = 1.0) -> float:
    r"""Peak signal-to-noise ratio in dB, eq. (34).

    .. math:: \mathrm{PSNR} = 10 \log_{10} \frac{n \, R^2}{\| v - \hat v \|_F^2}

    with ``R = data_range`` (1 for images on [0, 1], which is eq. (34) with 255 on [0, 255]) and ``n``
    the number of pixels. Takes numpy arrays or torch tensors of equal shape; no clipping is applied.
    Returns ``inf`` for identical inputs.
    """
    if isinstance(reference, torch.Tensor):
        reference = reference.detach().to("cpu", torch.float64).numpy()
    if isinstance(estimate, torch.Tensor):
        estimate = estimate.detach().to("cpu", torch.float64).numpy()
    ref = np.asarray(reference, dtype=np.float64)
    est = np.asarray(estimate, dtype=np.float64)
    if ref.shape != est.shape:
        raise ValueError(f"psnr needs arrays of the same shape, got {ref.shape} and {est.shape}")
    mse = np.mean((ref - est) ** 2)
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / mse))


def psnr_torch(reference: torch.Tensor, estimate: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """eq. (34) as a tensor on the inputs' device (no host synchronisation); for use inside training loops."""
    mse = torch.mean((reference.double() - estimate.double()) ** 2)
    return 10.0 * torch.log10(data_range**2 / mse)


def loss_to_psnr(loss: float | None, *, data_range: float = 1.0) -> float | None:
    """PSNR (34) from the loss (1)/(3), ``1/(2N) sum (y - N(x))^2``: ``mse = 2 * loss``. None if not positive/finite."""
    if loss is None or not np.isfinite(loss) or loss <= 0:
        return None
    return float(10.0 * np.log10(data_range**2 / (2.0 * loss)))


def tail_range(values, fraction: float = 0.05) -> tuple[float | None, float | None]:
    """``(min, max)`` of the finite values in the last ``fraction`` of a series (at least the last value)."""
    vals = [v for v in values if v is not None and np.isfinite(v)]
    if not vals:
        return None, None
    n = max(1, int(np.ceil(fraction * len(vals))))
    tail = vals[-n:]
    return float(min(tail)), float(max(tail))
