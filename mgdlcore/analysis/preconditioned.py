"""The iteration matrix of Adam, ``I - eta P H`` (beyond the paper; its open question on Adam, Sec. 6).

Adam's step is ``theta <- theta - eta P m_hat`` with the diagonal preconditioner ``P = diag(1 / (sqrt(v_hat) +
eps))`` (``v_hat``: the bias-corrected second moments). With ``P`` and the momentum held fixed, the step linearised
at ``theta`` acts on the gradient like GD's (6) with ``eta H`` replaced by ``eta P H``. ``P H`` is not symmetric, but
it is similar to the symmetric ``D H D`` with ``D = P^(1/2)`` (``P H = D (D H D) D^-1``), so the eigenvalues of
``I - eta P H`` are ``1 - eta mu`` for the (real) eigenvalues ``mu`` of ``D H D``: they are computed with the dense
and Lanczos paths of :mod:`~mgdlcore.analysis.hessian`, with ``D`` applied on both sides.

Momentum moves the stability boundary. For heavy-ball momentum in exponential-average form (Adam's ``beta1``) on
a quadratic with fixed ``P``, the iteration is stable exactly while every eigenvalue ``mu`` of ``P H`` satisfies
``eta mu < (2 + 2 beta1) / (1 - beta1)`` (38 for ``beta1 = 0.9``; Cohen et al., 2022, "Adaptive gradient methods at
the edge of stability"), i.e. while the eigenvalues of ``I - eta P H`` stay above
``1 - (2 + 2 beta1) / (1 - beta1)`` (-37 for ``beta1 = 0.9``), not above -1 as for plain GD.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .hessian import trainable


def adam_preconditioner(optimizer: torch.optim.Optimizer, net: torch.nn.Module) -> Tensor | None:
    """The diagonal of Adam's ``P`` for the trainable parameters of ``net`` in the flat order, from the state of
    ``optimizer`` (a ``torch.optim.Adam``); None before Adam's first step (``v`` is not defined yet)."""
    if not isinstance(optimizer, torch.optim.Adam):
        raise TypeError(f"Adam's preconditioner needs a torch.optim.Adam, got {type(optimizer).__name__}")
    group_of = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    parts = []
    for _, p in trainable(net):
        state = optimizer.state.get(p)
        if not state or "exp_avg_sq" not in state:
            return None
        group = group_of[id(p)]
        if group.get("amsgrad"):
            raise ValueError("AMSGrad's preconditioner is not supported")
        beta2, eps = group["betas"][1], group["eps"]
        step = float(state["step"])
        v_hat = state["exp_avg_sq"].detach() / (1.0 - beta2 ** step)
        parts.append((1.0 / (v_hat.sqrt() + eps)).reshape(-1))
    return torch.cat(parts)


def momentum_stability_bound(beta1: float) -> float:
    """The lowest eigenvalue of ``I - eta P H`` at which Adam with momentum ``beta1`` is still stable on a quadratic
    (fixed ``P``): ``1 - (2 + 2 beta1) / (1 - beta1)``; -1 for ``beta1 = 0`` (plain preconditioned GD)."""
    if not 0.0 <= beta1 < 1.0:
        raise ValueError(f"beta1 must be in [0, 1), got {beta1}")
    return 1.0 - (2.0 + 2.0 * beta1) / (1.0 - beta1)
