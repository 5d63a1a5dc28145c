"""Synthetic regression data of eq. (5) (Secs. 5-7): ``g(x) = sum_j sin(2 pi kappa_j x + phi_j)`` on [0, 1].

Setting 1: ``kappa = (1, 5.5, 10)`` (the authors' ``np.linspace(1, 10, 3)``; the paper's text prints
"[1, 5, 5, 10]", a typesetting slip for 1, 5.5, 10). Setting 2: ``kappa = (1, 8.25, 15.5, 22.75, 30)``.
Phases ``phi_j ~ U(0, 2 pi)`` are drawn from ``numpy.random.default_rng(phase_seed)``, or given explicitly
(``phases``, e.g. the values the authors' ``jax.random.uniform(PRNGKey(0), ...)`` produced, which numpy cannot draw);
they are recorded with every run. Training: 1024 equally spaced points on [0, 1], both ends included (``x = 0`` is a training point).
Validation: 1000 points drawn uniformly from [0, 1] with ``default_rng(val_seed)``. Inputs and targets are
column tensors of shape (N, 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

KAPPAS: dict[int, tuple[float, ...]] = {
    1: (1.0, 5.5, 10.0),
    2: (1.0, 8.25, 15.5, 22.75, 30.0),
}
N_TRAIN = 1024
N_VAL = 1000


@dataclass
class SyntheticData:
    """Training and validation sets of eq. (5) on a device, with the frequencies and phases that made them."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    kappa: tuple[float, ...]
    phases: tuple[float, ...]

    def target(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """``g(x)`` of eq. (5) in float64 at any points (for dense plots of the target)."""
        xs = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float64)
        return target_function(xs, self.kappa, self.phases)


def target_function(x: np.ndarray, kappa, phases) -> np.ndarray:
    """``g(x) = sum_j sin(2 pi kappa_j x + phi_j)``, eq. (5), elementwise in float64."""
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros_like(x)
    for k, p in zip(kappa, phases):
        out += np.sin(2.0 * np.pi * k * x + p)
    return out


def phases_for(setting: int, phase_seed: int = 0) -> tuple[float, ...]:
    """The phases ``phi_j ~ U(0, 2 pi)`` of ``setting``, from ``numpy.random.default_rng(phase_seed)``."""
    kappa = _kappa(setting)
    rng = np.random.default_rng(phase_seed)
    return tuple(float(p) for p in rng.uniform(0.0, 2.0 * np.pi, size=len(kappa)))


def _kappa(setting: int) -> tuple[float, ...]:
    if setting not in KAPPAS:
        raise ValueError(f"unknown synthetic setting {setting!r}; accepted: {', '.join(map(str, KAPPAS))}")
    return KAPPAS[setting]


def check_phases(setting: int, phases) -> tuple[float, ...]:
    """``phases`` as a tuple of floats, one per frequency of ``setting``; a one-line ValueError otherwise."""
    kappa = _kappa(setting)
    try:
        out = tuple(float(p) for p in phases)
    except (TypeError, ValueError):
        raise ValueError(f"phases must be a sequence of numbers, got {phases!r}") from None
    if len(out) != len(kappa) or not all(np.isfinite(out)):
        raise ValueError(f"setting {setting} needs {len(kappa)} finite phases, got {phases!r}")
    return out


def synthetic_data(setting: int, *, phase_seed: int = 0, phases=None, val_seed: int = 1,
                   device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> SyntheticData:
    """Training (1024 equispaced points on [0, 1]) and validation (1000 uniform points) sets of eq. (5).

    ``phases`` (one per frequency) replaces the phases drawn with ``phase_seed``.
    """
    kappa = _kappa(setting)
    phases = phases_for(setting, phase_seed) if phases is None else check_phases(setting, phases)
    x_train = np.linspace(0.0, 1.0, N_TRAIN)
    x_val = np.random.default_rng(val_seed).uniform(0.0, 1.0, size=N_VAL)

    def col(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(a[:, None], dtype=dtype, device=device)

    return SyntheticData(
        x_train=col(x_train), y_train=col(target_function(x_train, kappa, phases)),
        x_val=col(x_val), y_val=col(target_function(x_val, kappa, phases)),
        kappa=kappa, phases=phases,
    )
