"""Neural fields for image fitting, as modern baselines of Table 1: Fourier-feature MLPs and SIREN.

- :class:`FourierFeatureMLP` (Tancik et al., 2020, *Fourier features let networks learn high frequency functions in
  low dimensional domains*): the coordinates ``v`` are mapped to Gaussian random Fourier features
  ``gamma(v) = [cos(2 pi B v), sin(2 pi B v)]`` with ``B`` (``m x 2``) drawn once from ``N(0, sigma^2)`` and kept
  fixed, followed by a ReLU MLP (Glorot-normal weights, ``N(0, 0.01^2)`` biases: the JAX ``stax`` defaults of their
  code, as the paper's image networks).
- :class:`Siren` (Sitzmann et al., 2020, *Implicit neural representations with periodic activation functions*):
  ``h_{k+1} = sin(omega (W_k h_k + b_k))`` with ``omega_0`` on the first layer and ``hidden_omega_0`` on the others,
  a linear last layer, and their initialisation: first-layer weights ``U(-1/fan_in, 1/fan_in)``, every other
  weight ``U(-sqrt(6/fan_in)/hidden_omega_0, +sqrt(6/fan_in)/hidden_omega_0)``, biases as ``torch.nn.Linear``
  (``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, as their code leaves them). Their coordinates lie on ``[-1, 1]^2``;
  ours (:func:`~mgdlcore.data.grid.pixel_grid`) on ``[0, 1)^2``, so the network maps ``x -> 2x - 1`` first and
  ``omega_0`` means what it means in their paper.

Both are sized to the parameter count of the SGDL network (28), ``[2] -> [128] x 8 -> [1]`` (116,097 parameters):
SIREN with the same widths (the same count exactly), the Fourier-feature MLP with ``m = 128`` frequencies (256
features) and six hidden layers of 128 (115,585 trainable parameters, 0.4% fewer; ``B`` is fixed, not trained).
Every random draw comes from an explicit ``torch.Generator`` seeded by the caller, as in :mod:`mgdlcore.models`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..models import MLP

FOURIER_FREQUENCIES = 128                  # m: rows of B, so 2m = 256 features
FOURIER_HIDDEN = (128,) * 6                # hidden widths after the features: parameter count of (28) within 0.5%
SIREN_HIDDEN = (128,) * 8                  # the widths of (28): the same parameter count exactly
SIREN_HIDDEN_OMEGA = 30.0                  # Sitzmann et al.'s hidden_omega_0 (fixed; omega_0 of layer 1 is chosen)


def fourier_features(x: Tensor, B: Tensor) -> Tensor:
    """``[cos(2 pi x B^T), sin(2 pi x B^T)]``: ``x`` (N, d), ``B`` (m, d) -> (N, 2m)."""
    proj = 2.0 * math.pi * (x @ B.T)
    return torch.cat([torch.cos(proj), torch.sin(proj)], dim=-1)


class FourierFeatureMLP(nn.Module):
    """A ReLU MLP on Gaussian random Fourier features of the input (Tancik et al., 2020).

    ``sigma``: standard deviation of the entries of ``B`` (frequencies in cycles per unit of the coordinates);
    ``n_frequencies``: rows of ``B``; ``hidden``: widths of the ReLU layers after the features.
    """

    def __init__(self, sigma: float, *, in_dim: int = 2, out_dim: int = 1, n_frequencies: int = FOURIER_FREQUENCIES,
                 hidden: Sequence[int] = FOURIER_HIDDEN, generator: torch.Generator | None = None):
        super().__init__()
        if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"sigma must be a finite number > 0, got {sigma!r}")
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        self.sigma = float(sigma)
        B = torch.empty(n_frequencies, in_dim).normal_(0.0, self.sigma, generator=gen)
        self.register_buffer("B", B)       # fixed: a buffer, not a parameter
        self.mlp = MLP((2 * n_frequencies, *hidden, out_dim), generator=gen, init="glorot_normal")

    def forward(self, x: Tensor) -> Tensor:
        return self.mlp(fourier_features(x, self.B))

    def n_parameters(self) -> int:
        """Trainable parameters (``B`` is not one)."""
        return sum(p.numel() for p in self.parameters())


class Siren(nn.Module):
    """A sine-activated MLP with Sitzmann et al.'s initialisation on inputs mapped from ``[0, 1)^d`` to ``[-1, 1)^d``.

    ``omega_0``: the first layer's frequency factor; ``hidden_omega_0``: the other sine layers'.
    """

    def __init__(self, omega_0: float, *, in_dim: int = 2, out_dim: int = 1, hidden: Sequence[int] = SIREN_HIDDEN,
                 hidden_omega_0: float = SIREN_HIDDEN_OMEGA, generator: torch.Generator | None = None):
        super().__init__()
        for name, value in (("omega_0", omega_0), ("hidden_omega_0", hidden_omega_0)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        if len(hidden) < 1:
            raise ValueError("a SIREN needs at least one hidden layer")
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        self.omega_0, self.hidden_omega_0 = float(omega_0), float(hidden_omega_0)
        widths = (in_dim, *hidden, out_dim)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        for i, layer in enumerate(self.layers):
            fan_in = layer.in_features
            bound = 1.0 / fan_in if i == 0 else math.sqrt(6.0 / fan_in) / self.hidden_omega_0
            w = torch.empty(layer.weight.shape).uniform_(-bound, bound, generator=gen)
            b = torch.empty(layer.bias.shape).uniform_(-fan_in**-0.5, fan_in**-0.5, generator=gen)
            with torch.no_grad():
                layer.weight.copy_(w)
                layer.bias.copy_(b)

    def forward(self, x: Tensor) -> Tensor:
        h = 2.0 * x - 1.0
        for i, layer in enumerate(self.layers[:-1]):
            h = torch.sin((self.omega_0 if i == 0 else self.hidden_omega_0) * layer(h))
        return self.layers[-1](h)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def build_field(method: str, value: float, *, seed: int = 0) -> nn.Module:
    """A freshly initialised ``"FFN"`` (``value`` = sigma) or ``"SIREN"`` (``value`` = omega_0) for 2-D images,
    its draws from ``torch.Generator().manual_seed(seed)``."""
    gen = torch.Generator().manual_seed(seed)
    if method == "FFN":
        return FourierFeatureMLP(value, generator=gen)
    if method == "SIREN":
        return Siren(value, generator=gen)
    raise ValueError(f"unknown neural-field method {method!r}; accepted: FFN, SIREN")
