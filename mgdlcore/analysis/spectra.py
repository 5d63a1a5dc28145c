"""Eigenvalues of ``I - eta H_F(W^k)`` tracked during gradient descent (Sec. 6, eq. (6), Theorem 5).

The one implementation of eigenvalue tracking: :func:`spectrum` evaluates the ``k`` smallest and largest eigenvalues
of the iteration matrix at the current parameters (dense Hessian and ``eigvalsh``, exact counts; or Lanczos on
Hessian-vector products, the ``k`` extremes only), and :class:`EigenTracker` is a ``training.train`` callback that
records them at the parameters *before* the update of each recorded epoch, for one SGDL model or one MGDL grade,
in one shape (:class:`Track`). ``H`` is the Hessian of the loss the optimiser minimises, in the trainable
parameters of the network being trained (for MGDL: the current grade's loss in that grade's parameters).

Stopping rule. The authors' MGDL image script ends a grade at the first recorded epoch after the start whose
smallest eigenvalue falls below -0.95 (``stop_below``). :class:`EigenTracker` applies such a rule by freezing the
network from that epoch on: a gradient hook zeroes every gradient, so each later plain-GD step leaves the
parameters unchanged, which is the state the authors' ``break`` leaves (GD has no optimiser state). The track
records ``stopped_epoch``; later eigenvalues are not computed, and the loss after it is constant.
"""

from __future__ import annotations

import dataclasses

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from .hessian import (
    IterationEigenvalues,
    LossOfNet,
    hvp_function,
    iteration_eigenvalues,
    lanczos_iteration_eigenvalues,
    loss_hessian,
    n_trainable,
)

EIG_METHODS = ("dense", "lanczos")


def spectrum(net: nn.Module, loss_of_net: LossOfNet, lr: float, k: int = 10, method: str = "dense", *,
             preconditioner: torch.Tensor | None = None, **kwargs) -> IterationEigenvalues:
    """The ``k`` smallest and largest eigenvalues of ``I - lr H`` at the current trainable parameters of ``net``
    (of ``I - lr P H`` with ``P = diag(preconditioner)``, positive, in the flat order: Adam's iteration matrix, see
    :mod:`~mgdlcore.analysis.preconditioned`).

    ``method="dense"``: ``hessian.loss_hessian`` and ``iteration_eigenvalues`` (exact counts at or below -1);
    ``"lanczos"``: ``hvp_function`` and ``lanczos_iteration_eigenvalues`` (counts among the ``k`` found).
    ``kwargs`` go to the chosen path (e.g. ``tol`` for Lanczos). With a preconditioner both paths work on the
    symmetric ``D H D``, ``D = P^(1/2)``, which has the eigenvalues of ``P H``.
    """
    if method not in EIG_METHODS:
        raise ValueError(f"method must be 'dense' or 'lanczos', got {method!r}")
    d = None
    if preconditioner is not None:
        if preconditioner.shape != (n_trainable(net),) or not bool((preconditioner > 0).all()):
            raise ValueError(f"preconditioner must be a positive vector of length {n_trainable(net)}")
        d = preconditioner.detach().double().sqrt()
    if method == "dense":
        h = loss_hessian(net, loss_of_net, **kwargs)
        if d is not None:
            dd = d.to(h.dtype).to(h.device)
            h = dd[:, None] * h * dd[None, :]
        return iteration_eigenvalues(h, lr, k)
    hvp = hvp_function(net, loss_of_net)
    if d is not None:
        dn, plain = d.cpu().numpy(), hvp

        def hvp(v: np.ndarray) -> np.ndarray:
            v = np.asarray(v)
            s = dn if v.ndim == 1 else dn[:, None]
            return s * plain(s * v)

    return lanczos_iteration_eigenvalues(hvp, n_trainable(net), lr, k, **kwargs)


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


@dataclass
class Track:
    """The eigenvalues of ``I - eta H`` of one SGDL model or one MGDL grade at the recorded epochs.

    ``smallest[i]``: the ``k`` smallest eigenvalues at ``epochs[i]``, ascending (``smallest[i][0]`` is the minimum,
    the paper's "index 0"); ``largest[i]``: the ``k`` largest, descending. ``n_le_minus1`` / ``n_near_minus1``:
    how many are <= -1 / <= -0.95 (exact for ``method="dense"``, among the ``k`` smallest for Lanczos).
    ``stopped_epoch``: the epoch at which a stopping rule froze the network (None: trained to the end).
    """

    grade: int | None
    method: str
    n_parameters: int
    learning_rate: float
    epochs: list[int] = field(default_factory=list)
    smallest: list[list[float | None]] = field(default_factory=list)
    largest: list[list[float | None]] = field(default_factory=list)
    n_le_minus1: list[int | None] = field(default_factory=list)
    n_near_minus1: list[int | None] = field(default_factory=list)
    stopped_epoch: int | None = None

    @property
    def exact_counts(self) -> bool:
        return self.method == "dense"

    def add(self, epoch: int, res: IterationEigenvalues) -> None:
        ok = res.n_le_minus1 >= 0
        self.epochs.append(int(epoch))
        self.smallest.append([_finite(float(v)) for v in res.smallest])
        self.largest.append([_finite(float(v)) for v in res.largest])
        self.n_le_minus1.append(int(res.n_le_minus1) if ok else None)
        self.n_near_minus1.append(int(res.n_near_minus1) if ok else None)

    def minimum(self) -> float | None:
        """The smallest eigenvalue of ``I - eta H`` at any recorded epoch (None if none is finite)."""
        vals = [row[0] for row in self.smallest if row and row[0] is not None]
        return min(vals) if vals else None

    def to_dict(self) -> dict:
        return {**asdict(self), "exact_counts": self.exact_counts}


class EigenTracker:
    """A ``training.train`` callback recording :func:`spectrum` into a :class:`Track` at every callback epoch.

    ``stop_below`` (e.g. -0.95, the authors' MGDL image rule): at the first callback epoch after 0 whose smallest
    eigenvalue is below it, freeze ``net`` (see the module docstring) and record no further eigenvalues.
    Returns nothing to ``History.metrics``: the track is ``self.track``.
    """

    def __init__(self, net: nn.Module, loss_of_net: LossOfNet, lr: float, *, k: int = 10, method: str = "dense",
                 grade: int | None = None, stop_below: float | None = None, **kwargs):
        if method not in EIG_METHODS:
            raise ValueError(f"method must be 'dense' or 'lanczos', got {method!r}")
        self.net, self.loss_of_net, self.lr, self.k, self.method, self.kwargs = net, loss_of_net, lr, k, method, kwargs
        self.stop_below = stop_below
        self.track = Track(grade=grade, method=method, n_parameters=n_trainable(net), learning_rate=float(lr))
        self._hooks: list = []

    def __call__(self, epoch: int) -> dict:
        if self.track.stopped_epoch is not None:
            return {}
        res = spectrum(self.net, self.loss_of_net, self.lr, self.k, self.method, **self.kwargs)
        self.track.add(epoch, res)
        low = self.track.smallest[-1][0]
        if self.stop_below is not None and epoch > 0 and low is not None and low < self.stop_below:
            self.freeze(epoch)
        return {}

    def state_dict(self) -> dict:
        """The track so far (plain data), for checkpoints inside a run."""
        return dataclasses.asdict(self.track)

    def load_state_dict(self, state: dict) -> None:
        """Restore the track of a checkpoint; a network frozen then is frozen again."""
        self.track = Track(**state)
        self.release()
        if self.track.stopped_epoch is not None:
            self.freeze(self.track.stopped_epoch)

    def freeze(self, epoch: int) -> None:
        """Zero every later gradient of the tracked network: plain-GD steps from here on change nothing."""
        self.track.stopped_epoch = int(epoch)
        self._hooks = [p.register_hook(torch.zeros_like) for p in self.net.parameters() if p.requires_grad]

    def release(self) -> None:
        """Remove the freezing hooks (call after training, before the network is used further)."""
        for h in self._hooks:
            h.remove()
        self._hooks = []
