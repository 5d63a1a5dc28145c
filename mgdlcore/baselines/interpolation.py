"""Classical reference for image regression: interpolate the training grid (every other pixel) to all pixels."""

from __future__ import annotations

import numpy as np
from scipy.interpolate import RectBivariateSpline

METHODS = {"bilinear": 1, "bicubic": 3}  # spline degree per axis


def interpolate_training_grid(image: np.ndarray, method: str = "bicubic") -> np.ndarray:
    """Reconstruct ``image`` from its pixels at even rows and even columns (the training set of Sec. 4).

    Bilinear = tensor-product linear, bicubic = tensor-product cubic spline interpolation
    (``scipy.interpolate.RectBivariateSpline`` with ``s=0``); beyond the last training row/column
    (images of even size) the value of the edge is held. Only training pixels are used.
    """
    if method not in METHODS:
        raise ValueError(f"unknown interpolation {method!r}; accepted: {', '.join(METHODS)}")
    h, w = image.shape
    rows, cols = np.arange(0, h, 2) / h, np.arange(0, w, 2) / w
    samples = image[::2, ::2]
    k = METHODS[method]
    spline = RectBivariateSpline(rows, cols, samples, kx=min(k, len(rows) - 1), ky=min(k, len(cols) - 1), s=0)
    return spline(np.arange(h) / h, np.arange(w) / w, grid=True)
