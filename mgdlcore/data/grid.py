"""Image regression data (Sec. 4): an image as a function from pixel coordinates on [0, 1)^2 to intensity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def pixel_grid(shape: tuple[int, int]) -> np.ndarray:
    """Coordinates ``(i/H, j/W)`` of every pixel, shape ``(H, W, 2)``, on [0, 1)^2."""
    h, w = shape
    rows, cols = np.meshgrid(np.arange(h) / h, np.arange(w) / w, indexing="ij")
    return np.stack([rows, cols], axis=-1)


def split_masks(shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Boolean masks of the three sets.

    ``train``: every other pixel in both directions (rows and columns 0, 2, 4, ...): 1/4 of the pixels.
    ``val``: the other diagonal quarter (rows and columns 1, 3, 5, ...). ``test``: all pixels.
    """
    h, w = shape
    r, c = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    return {"train": (r % 2 == 0) & (c % 2 == 0), "val": (r % 2 == 1) & (c % 2 == 1), "test": np.ones(shape, bool)}


@dataclass
class RegressionData:
    """Inputs ``x[name]`` (N, 2) and targets ``y[name]`` (N, 1) for ``name`` in train / val / test, on a device."""

    image: np.ndarray
    x: dict[str, torch.Tensor]
    y: dict[str, torch.Tensor]

    @property
    def shape(self) -> tuple[int, int]:
        return self.image.shape

    def n(self, name: str) -> int:
        return self.x[name].shape[0]

    def as_image(self, values_on_test: torch.Tensor) -> np.ndarray:
        """Values predicted on the test set (all pixels, row-major) as an image array."""
        return values_on_test.detach().cpu().double().numpy().reshape(self.shape)


def regression_data(image: np.ndarray, device: torch.device | str = "cpu",
                    dtype: torch.dtype = torch.float32) -> RegressionData:
    """Training / validation / test sets of an image for regression (Sec. 4)."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"regression_data needs a 2-D grayscale image, got shape {image.shape}")
    grid = pixel_grid(image.shape)
    x, y = {}, {}
    for name, mask in split_masks(image.shape).items():
        x[name] = torch.as_tensor(grid[mask], dtype=dtype, device=device)
        y[name] = torch.as_tensor(image[mask][:, None], dtype=dtype, device=device)
    return RegressionData(image=image, x=x, y=y)
