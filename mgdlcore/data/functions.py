"""Continuous target functions on [0, 1]^d for the multigrade-approximation study, and their grids.

The 2026 abstract ("Multigrade Neural Network Approximation") states that for *any continuous* target there is a
fixed-width multigrade ReLU scheme whose residuals decrease strictly and converge uniformly to zero. The targets
here probe that statement with what training does:

* 1D on [0, 1]: ``sine`` ``sin(2 pi x)`` (smooth), ``kink`` ``|x - 0.4|`` (continuous, not differentiable at 0.4),
  ``setting2`` the high-frequency sum of eq. (5) with kappa = (1, 8.25, 15.5, 22.75, 30) (the paper's synthetic
  setting 2, :mod:`mgdlcore.data.synthetic`, phases from ``phase_seed``);
* 2D on [0, 1]^2: ``surface`` ``sin(2 pi x1) cos(2 pi x2)`` (smooth), and ``image``: a registry image reduced to a
  small size and read as the bilinear interpolant of its pixel values placed on the nodes
  ``(i / (H - 1), j / (W - 1))`` (a continuous function that equals the pixels on the nodes).

Grids (:func:`grid`) are equispaced with both ends included; in 2D the rows run over ``x1`` (``indexing="ij"``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .synthetic import KAPPAS, phases_for, target_function

TARGETS_1D = ("sine", "kink", "setting2")
TARGETS_2D = ("surface", "image")
TARGETS = TARGETS_1D + TARGETS_2D
KINK_AT = 0.4


def dimension(name: str) -> int:
    """1 or 2: the input dimension of the target ``name``; a one-line error for an unknown name."""
    if name in TARGETS_1D:
        return 1
    if name in TARGETS_2D:
        return 2
    raise ValueError(f"unknown target {name!r}; accepted: {', '.join(TARGETS)}")


def grid(dim: int, n: int) -> np.ndarray:
    """``n`` equispaced points of [0, 1] (both ends included) in 1D, or the ``n x n`` tensor grid of [0, 1]^2 in
    row-major order (``x1`` along rows), as a float64 array of shape ``(n**dim, dim)``."""
    if dim not in (1, 2):
        raise ValueError(f"dim must be 1 or 2, got {dim!r}")
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"a grid needs an integer n >= 2 points per axis, got {n!r}")
    t = np.linspace(0.0, 1.0, n)
    if dim == 1:
        return t[:, None]
    a, b = np.meshgrid(t, t, indexing="ij")
    return np.stack([a.ravel(), b.ravel()], axis=1)


@dataclass(frozen=True)
class Target:
    """A continuous target ``f: [0, 1]^dim -> R`` evaluated in float64 at points of shape ``(N, dim)``."""

    name: str
    dim: int
    fn: Callable[[np.ndarray], np.ndarray]
    nodes: np.ndarray | None = None     # image: the pixel values on the nodes (the training grid)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"target {self.name!r} takes points of shape (N, {self.dim}), got {x.shape}")
        return self.fn(x)


def bilinear(values: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The bilinear interpolant on [0, 1]^2 of ``values[i, j]`` placed at ``(i / (H - 1), j / (W - 1))``."""
    values = np.asarray(values, dtype=np.float64)
    h, w = values.shape
    if h < 2 or w < 2:
        raise ValueError(f"bilinear interpolation needs at least 2 x 2 values, got {values.shape}")

    def fn(x: np.ndarray) -> np.ndarray:
        u = np.clip(x[:, 0], 0.0, 1.0) * (h - 1)
        v = np.clip(x[:, 1], 0.0, 1.0) * (w - 1)
        i = np.minimum(np.floor(u).astype(int), h - 2)
        j = np.minimum(np.floor(v).astype(int), w - 2)
        s, t = u - i, v - j
        return ((1 - s) * (1 - t) * values[i, j] + s * (1 - t) * values[i + 1, j]
                + (1 - s) * t * values[i, j + 1] + s * t * values[i + 1, j + 1])

    return fn


def make_target(name: str, *, phase_seed: int | None = None, image: np.ndarray | None = None) -> Target:
    """The target ``name`` (see the module docstring); ``setting2`` needs ``phase_seed``, ``image`` the reduced
    image array."""
    dim = dimension(name)
    if name == "setting2":
        if phase_seed is None:
            raise ValueError("target 'setting2' needs a phase_seed (phases of eq. (5))")
        kappa, phases = KAPPAS[2], phases_for(2, phase_seed)
        return Target(name, dim, lambda x: target_function(x[:, 0], kappa, phases))
    if name == "image":
        if image is None:
            raise ValueError("target 'image' needs the image array")
        image = np.asarray(image, dtype=np.float64)
        return Target(name, dim, bilinear(image), nodes=image)
    fns = {"sine": lambda x: np.sin(2.0 * np.pi * x[:, 0]),
           "kink": lambda x: np.abs(x[:, 0] - KINK_AT),
           "surface": lambda x: np.sin(2.0 * np.pi * x[:, 0]) * np.cos(2.0 * np.pi * x[:, 1])}
    return Target(name, dim, fns[name])
