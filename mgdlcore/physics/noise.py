"""The corrupted observation of Appendix C, ``f_obs = A f + noise``: the one implementation of noise in the package."""

from __future__ import annotations

import numpy as np
import torch

from .operators import LinearOperator


def degrade(clean: np.ndarray, A: LinearOperator, noise_level: float, *, noise_seed: int = 0) -> np.ndarray:  # noqa: N803
    r"""``f_obs = A f + eps`` with i.i.d. ``eps_ij ~ N(0, (noise_level/255)^2)`` from ``default_rng(noise_seed)``.

    .. math:: \hat{\mathbf f} = \mathbf A \mathbf f + \boldsymbol\epsilon

    ``clean`` is an image on [0, 1] of shape ``(H, W)``; ``noise_level`` is the standard deviation on the 0-255
    scale (Sec. 4). Computed in float64, no clipping, as in the authors' code (their noise comes from JAX
    ``PRNGKey(0)``, which numpy cannot reproduce: the realisation differs, its law does not).
    """
    if not (isinstance(noise_level, (int, float)) and np.isfinite(noise_level) and noise_level >= 0):
        raise ValueError(f"noise_level must be a finite number >= 0 (0-255 scale), got {noise_level!r}")
    clean = np.asarray(clean, dtype=np.float64)
    if clean.ndim != 2:
        raise ValueError(f"degrade takes a 2-D image, got shape {clean.shape}")
    blurred = A.A(torch.as_tensor(clean)).numpy()
    noise = np.random.default_rng(noise_seed).standard_normal(clean.shape) * (noise_level / 255.0)
    return blurred + noise
