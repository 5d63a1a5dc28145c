r"""Objectives minimised by training: the loss (1)/(3) and the penalised ROF objective of Appendix C with its prox step (20).

The norms of the ROF objective are sums over pixels, as in the authors' code (not means).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..physics.operators import LinearOperator
from .loop import half_mse

__all__ = ["half_mse", "prox_step", "rof_objective", "soft_threshold"]


def soft_threshold(x: Tensor, t: float) -> Tensor:
    r"""``prox_{t ||.||_1}(x) = sign(x) max(|x| - t, 0)``, elementwise."""
    return torch.sign(x) * torch.clamp(torch.abs(x) - t, min=0.0)


def prox_step(u: Tensor, bn: Tensor, *, alpha: float, beta: float, lam: float) -> Tensor:
    r"""The ``u`` update (20): ``prox_{alpha lambda/beta ||.||_{1,1}}(alpha B N + (1 - alpha) u)``."""
    return soft_threshold(alpha * bn + (1.0 - alpha) * u, alpha * lam / beta)


def rof_objective(image: Tensor, u: Tensor, f_obs: Tensor, A: LinearOperator, B: LinearOperator, *,  # noqa: N803
                  beta: float, lam: float, bn: Tensor | None = None) -> Tensor:
    r"""``L(Theta, u) = 1/2 ||f_obs - A N||^2 + beta/2 ||u - B N||^2 + lambda ||u||_1`` with sums (Appendix C).

    ``image`` is ``N_Theta`` (or ``g_l`` for MGDL), shape ``(H, W)``; ``u`` has shape ``(2H, W)``. ``bn`` may pass
    ``B image`` if already computed.
    """
    if bn is None:
        bn = B.A(image)
    return (0.5 * torch.sum((f_obs - A.A(image)) ** 2) + 0.5 * beta * torch.sum((u - bn) ** 2)
            + lam * torch.sum(torch.abs(u)))
