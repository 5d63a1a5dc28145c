r"""Fitting SGDL and MGDL to a corrupted image with the penalised ROF objective of Appendix C, scheme (20)-(21).

A network evaluated on every pixel of ``[0, 1)^2`` gives the image ``N_Theta``. Per epoch, ``u`` is updated by the
prox step (20) at the current (pre-update) parameters, then one optimiser step on ``Theta`` minimises
:func:`~mgdlcore.training.objectives.rof_objective` with ``u`` fixed (21); one network forward serves both.

MGDL (Appendix C.2): grade ``l`` has the image ``g_l = eps_l N_l(frozen features) + g_{l-1}`` with ``eps_1 = 1`` and
``eps_l`` the root-mean-square of ``g_{l-1} - f_obs`` (the authors' ``NewscaleFactor``); every grade minimises (24) on
its total image; ``u`` carries over from grade to grade. The grade loop differs from :func:`~mgdlcore.training.grades.fit_mgdl`
(loss (3) on residuals) in its objective, the scale ``eps_l`` and the shared ``u``, so it lives here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from ..data.grid import pixel_grid
from ..metrics import psnr_torch
from ..models import build_grade, build_network
from ..physics.operators import ForwardDifference, LinearOperator
from ..structures import MGDLStructure, SGDLStructure
from .loop import Callback, History, TrainConfig, train
from .objectives import prox_step, rof_objective


@dataclass
class RestorationFit:
    """One SGDL model or all MGDL grades fitted by (20)-(21)."""

    images: dict[str, np.ndarray]          # "SGDL" or "grade 1".."grade L": the image after training (float64)
    histories: list[History]               # one per model / grade; metrics["psnr"] every eval_every epochs
    scales: list[float]                    # eps_l per grade (SGDL: [1.0])
    u: Tensor                              # the auxiliary variable at the end, shape (2H, W)


def fit_rof(image_fn: Callable[[], Tensor], params: Sequence[torch.nn.Parameter], f_obs: Tensor, A: LinearOperator,  # noqa: N803
            B: LinearOperator, u: Tensor, config: TrainConfig, *, alpha: float, beta: float, lam: float,  # noqa: N803
            clean: Tensor | None = None,
            callbacks: Callable[[Callable[[], Tensor]], Sequence[Callback]] | None = None) -> tuple[History, Tensor]:
    """Run (20)-(21) on ``params`` from ``u``; returns the history and the final ``u``.

    ``image_fn()`` is the current image ``(H, W)`` as a differentiable function of ``params``. With ``clean``,
    the PSNR (34) against it is recorded every ``config.eval_every`` epochs (``History.metrics["psnr"]``).
    ``callbacks(current_u)`` may add ``training.train`` callbacks (e.g. Hessian eigenvalues); ``current_u()``
    returns ``u`` as the last epoch's prox step (20) left it.
    """
    state = {"u": u}

    def loss_fn() -> Tensor:
        img = image_fn()
        bn = B.A(img)
        with torch.no_grad():
            state["u"] = prox_step(state["u"], bn, alpha=alpha, beta=beta, lam=lam)
        return rof_objective(img, state["u"], f_obs, A, B, beta=beta, lam=lam, bn=bn)

    def psnr_cb(epoch: int) -> dict:
        with torch.no_grad():
            return {"psnr": float(psnr_torch(clean, image_fn()))}

    extra = list(callbacks(lambda: state["u"])) if callbacks is not None else []
    hist = train(loss_fn, params, config, callbacks=([psnr_cb] if clean is not None else []) + extra, state=state)
    return hist, state["u"]


def fit_restoration(structure: SGDLStructure | MGDLStructure, f_obs: np.ndarray, A: LinearOperator,  # noqa: N803
                    config: TrainConfig, *, alpha: float, beta: float, lam: float, seed: int = 0,
                    init: str = "glorot_normal", relu_prime_at_zero: int = 0, n_grades: int | None = None,
                    clean: np.ndarray | None = None, device: torch.device | str = "cpu",
                    dtype: torch.dtype = torch.float32, scale_grades: bool = True,
                    callbacks: Callable[..., Sequence[Callback]] | None = None) -> RestorationFit:
    """Fit an SGDL network (Appendix C.1) or the grades of an MGDL structure (C.2) to ``f_obs``.

    ``scale_grades=False`` keeps ``eps_l = 1`` for every grade (the authors' eigenvalue scripts).
    ``callbacks(grade, net, inputs, to_image, current_u)`` (grade None for SGDL) may add ``training.train``
    callbacks per model or grade: ``inputs`` is the network's input (pixel grid or frozen features), ``to_image(o)``
    maps its output ``o = net(inputs)`` to the image being fitted, ``current_u()``: see :func:`fit_rof`.

    The network input is the pixel grid of ``data.grid.pixel_grid`` (row-major), in ``dtype`` on ``device``.
    An MGDL grade that diverges ends the fit: later grades are not trained.
    """
    dev = torch.device(device)
    h, w = f_obs.shape
    x = torch.as_tensor(pixel_grid((h, w)).reshape(-1, 2), dtype=dtype, device=dev)
    y = torch.as_tensor(f_obs, dtype=dtype, device=dev)
    ref = torch.as_tensor(clean, dtype=dtype, device=dev) if clean is not None else None
    B = ForwardDifference()  # noqa: N806
    u = torch.zeros((2 * h, w), dtype=dtype, device=dev)
    kw = dict(alpha=alpha, beta=beta, lam=lam, clean=ref)
    net_kw = dict(seed=seed, init=init, relu_prime_at_zero=relu_prime_at_zero)
    if isinstance(structure, SGDLStructure):
        net = build_network(structure, **net_kw).to(device=dev, dtype=dtype)

        def image_fn() -> Tensor:
            return net(x).reshape(h, w)

        cbs = None if callbacks is None else (
            lambda cur, net=net: callbacks(None, net, x, lambda o: o.reshape(h, w), cur))
        hist, u = fit_rof(image_fn, list(net.parameters()), y, A, B, u, config, callbacks=cbs, **kw)
        with torch.no_grad():
            img = image_fn().double().cpu().numpy()
        return RestorationFit({"SGDL": img}, [hist], [1.0], u)
    if not isinstance(structure, MGDLStructure):
        raise TypeError(f"fit_restoration takes an SGDL or MGDL structure, got {type(structure).__name__}")
    feats = x
    acc = torch.zeros((h, w), dtype=dtype, device=dev)
    eps = 1.0
    images, hists, scales = {}, [], []
    for grade in range(1, (n_grades or structure.n_grades) + 1):
        net = build_grade(structure, grade, **net_kw).to(device=dev, dtype=dtype)

        def image_fn(net=net, feats=feats, acc=acc, eps=eps) -> Tensor:
            return eps * net(feats).reshape(h, w) + acc

        cfg = replace(config, description=f"{config.description} grade {grade}".strip())
        cbs = None if callbacks is None else (
            lambda cur, g=grade, net=net, feats=feats, acc=acc, eps=eps: callbacks(
                g, net, feats, lambda o: eps * o.reshape(h, w) + acc, cur))
        hist, u = fit_rof(image_fn, list(net.parameters()), y, A, B, u, cfg, callbacks=cbs, **kw)
        with torch.no_grad():
            out, feats = net.forward_with_features(feats)
            acc = eps * out.reshape(h, w) + acc
        net.requires_grad_(False)
        images[f"grade {grade}"] = acc.double().cpu().numpy()
        hists.append(hist)
        scales.append(eps)
        if hist.diverged:
            break
        eps = float(torch.sqrt(torch.mean((acc.double() - y.double()) ** 2))) if scale_grades else 1.0
    return RestorationFit(images, hists, scales, u)
