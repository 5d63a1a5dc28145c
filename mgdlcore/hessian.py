"""Hessian of a training loss in a network's trainable parameters, and the eigenvalues of ``I - eta H`` (Sec. 6).

GD (2) is the iteration ``W^{k+1} = W^k - eta grad F(W^k)``; near ``W^k`` it acts like the linear map
``A = I - eta H_F(W^k)`` (eq. (6)). An eigenvalue of ``A`` at or below -1 is a direction in which GD overshoots
and flips sign every step (Theorem 1: on a quadratic, GD diverges exactly when ``eta > 2 / lambda_max(H)``).

* ``loss_hessian``: the dense Hessian by automatic differentiation (``torch.func``: a vmapped
  forward-over-reverse Hessian-vector product over the identity, in chunks). No loops over samples.
* ``hvp_function``: one Hessian-vector product, for ``extreme_eigenvalues`` (Lanczos, ``scipy.sparse.linalg.eigsh``),
  for networks whose dense Hessian does not fit.
* ``eigen_callback``: a ``training.train`` callback that records the ``k`` smallest and largest eigenvalues of
  ``I - eta H`` at the parameters *before* the update of that epoch (as the authors do).

Parameter order. The flat parameter vector is ``net.named_parameters()`` order restricted to trainable
parameters: layer by layer from the input, each layer's weight then its bias, i.e. ``W_1, b_1, W_2, b_2, ...,
W_D, b_D`` of Sec. 2. A weight is flattened row-major in torch's ``(out, in)`` layout (the transpose of the
paper's ``W_j``); eigenvalues do not depend on this order.

The loss is given as ``loss_of_net(model)``, a function of a callable ``model(x) -> prediction`` that closes over
its data (training inputs, MGDL features, targets or residuals). The derivative at the ReLU kink is whatever the
network's activation says: ``models.relu_right`` gives ReLU'(0) = 1 (the authors' choice), ``torch.relu`` gives 0.
Both have second derivative 0 away from and at the kink.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse.linalg
import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, jvp, vmap

LossOfNet = Callable[[Callable[[Tensor], Tensor]], Tensor]


def trainable(net: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The trainable parameters of ``net`` in the flat order (``named_parameters`` order)."""
    return [(n, p) for n, p in net.named_parameters() if p.requires_grad]


def n_trainable(net: nn.Module) -> int:
    return sum(p.numel() for _, p in trainable(net))


def flat_parameters(net: nn.Module) -> Tensor:
    """The trainable parameters as one detached 1-D tensor, in the flat order."""
    return torch.cat([p.detach().reshape(-1) for _, p in trainable(net)])


def flat_loss(net: nn.Module, loss_of_net: LossOfNet) -> Callable[[Tensor], Tensor]:
    """``theta -> loss_of_net(net with trainable parameters theta)``: the loss as a function of a flat vector."""
    named = trainable(net)
    if not named:
        raise ValueError("the network has no trainable parameters")
    names = [n for n, _ in named]
    shapes = [p.shape for _, p in named]
    sizes = [p.numel() for _, p in named]

    def f(theta: Tensor) -> Tensor:
        parts = torch.split(theta, sizes)
        params = {n: t.reshape(s) for n, t, s in zip(names, parts, shapes)}
        return loss_of_net(lambda x: functional_call(net, params, (x,)))

    return f


def loss_hessian(net: nn.Module, loss_of_net: LossOfNet, *, chunk_size: int | None = 512,
                 dtype: torch.dtype | None = None) -> Tensor:
    """The dense Hessian ``d^2 loss / d theta^2`` (P x P, symmetrised) at the current parameters.

    Computed as ``vmap`` of the forward-over-reverse Hessian-vector product over the columns of the identity,
    ``chunk_size`` columns at a time (bounds the memory at about ``chunk_size`` x the activations).
    ``dtype`` (e.g. ``torch.float64``) evaluates in that precision on a copy of the parameters; the data
    closed over by ``loss_of_net`` stay in their dtype unless the loss casts them.
    """
    f = flat_loss(net, loss_of_net)
    theta = flat_parameters(net)
    if dtype is not None:
        theta = theta.to(dtype)
    g = grad(f)

    def hvp(v: Tensor) -> Tensor:
        return jvp(g, (theta,), (v,))[1]

    eye = torch.eye(theta.numel(), dtype=theta.dtype, device=theta.device)
    h = vmap(hvp, chunk_size=chunk_size)(eye)
    return 0.5 * (h + h.T)


def hvp_function(net: nn.Module, loss_of_net: LossOfNet) -> Callable[[np.ndarray], np.ndarray]:
    """``v -> H v`` at the current parameters, on numpy vectors (what ``extreme_eigenvalues`` needs).

    Computed in the parameters' dtype on their device; the input may be a vector or an (P, m) block.
    """
    f = flat_loss(net, loss_of_net)
    theta = flat_parameters(net)
    g = grad(f)

    def one(v: Tensor) -> Tensor:
        return jvp(g, (theta,), (v,))[1]

    many = vmap(one)

    def hvp(v: np.ndarray) -> np.ndarray:
        t = torch.as_tensor(np.asarray(v), dtype=theta.dtype, device=theta.device)
        if t.ndim == 1:
            out = one(t)
        else:
            out = many(t.reshape(t.shape[0], -1).T).T
        return out.detach().cpu().double().numpy().reshape(np.shape(v))

    return hvp


@dataclass(frozen=True)
class IterationEigenvalues:
    """Extreme eigenvalues of ``A = I - eta H``.

    ``smallest[j]``: the (j+1)-th smallest eigenvalue of ``A`` (``smallest[0]`` is the minimum, the paper's
    "index 0"); ``largest[j]``: the (j+1)-th largest. ``n_le_minus1``: how many eigenvalues of ``A`` are <= -1
    (exact on the dense path, among the ``k`` computed on the Lanczos path); ``n_near_minus1``: how many are
    <= -0.95 (the authors stop an MGDL grade when the minimum falls below -0.95).
    """

    smallest: tuple[float, ...]
    largest: tuple[float, ...]
    n_le_minus1: int
    n_near_minus1: int
    n: int
    exact_counts: bool = True

    def to_metrics(self) -> dict[str, float]:
        out = {f"eig_min_{j}": v for j, v in enumerate(self.smallest)}
        out.update({f"eig_max_{j}": v for j, v in enumerate(self.largest)})
        out["n_le_minus1"] = float(self.n_le_minus1)
        out["n_near_minus1"] = float(self.n_near_minus1)
        return out


def _from_hessian_eigenvalues(lam_small: np.ndarray, lam_large: np.ndarray, lr: float, n: int,
                              exact: bool) -> IterationEigenvalues:
    """``lam_large`` (largest eigenvalues of H) give the smallest of A; ``lam_small`` give the largest of A."""
    a_small = np.sort(1.0 - lr * np.asarray(lam_large, dtype=np.float64))
    a_large = np.sort(1.0 - lr * np.asarray(lam_small, dtype=np.float64))[::-1]
    return IterationEigenvalues(
        smallest=tuple(float(v) for v in a_small), largest=tuple(float(v) for v in a_large),
        n_le_minus1=int(np.sum(a_small <= -1.0)), n_near_minus1=int(np.sum(a_small <= -0.95)), n=n,
        exact_counts=exact)


def iteration_eigenvalues(H: Tensor | np.ndarray, lr: float, k: int = 10) -> IterationEigenvalues:
    """The ``k`` smallest and largest eigenvalues of ``I - lr * H`` and the exact count at or below -1.

    All eigenvalues of the symmetric ``H`` are computed in float64 (LAPACK ``eigvalsh``): counts of repeated
    eigenvalues are exact here, unlike on the Lanczos path. A non-finite ``H`` gives NaNs and counts of -1.
    """
    h = H.detach().cpu().double().numpy() if isinstance(H, Tensor) else np.asarray(H, dtype=np.float64)
    n = h.shape[0]
    if h.ndim != 2 or h.shape[1] != n:
        raise ValueError(f"H must be square, got shape {h.shape}")
    k = min(k, n)
    if not np.all(np.isfinite(h)):
        nan = tuple([float("nan")] * k)
        return IterationEigenvalues(nan, nan, -1, -1, n)
    lam = scipy.linalg.eigvalsh(h, overwrite_a=True, check_finite=False, driver="evd")
    a = 1.0 - lr * lam                      # ascending lam -> descending a
    return IterationEigenvalues(
        smallest=tuple(float(v) for v in a[::-1][:k]), largest=tuple(float(v) for v in a[:k]),
        n_le_minus1=int(np.sum(a <= -1.0)), n_near_minus1=int(np.sum(a <= -0.95)), n=n)


def extreme_eigenvalues(hvp: Callable[[np.ndarray], np.ndarray], n: int, k: int, which: str = "LA", *,
                        tol: float = 1e-6, maxiter: int | None = None, ncv: int | None = None,
                        seed: int = 0) -> np.ndarray:
    """The ``k`` algebraically largest (``which="LA"``) or smallest (``"SA"``) eigenvalues of the symmetric
    operator ``v -> hvp(v)`` of size ``n``, by implicitly restarted Lanczos (``scipy.sparse.linalg.eigsh``).

    Returned in ascending order. Lanczos finds one copy of a cluster of repeated eigenvalues, so use the
    dense path (``iteration_eigenvalues``) where multiplicities matter.
    """
    if which not in ("LA", "SA"):
        raise ValueError(f"which must be 'LA' or 'SA', got {which!r}")
    if not 0 < k < n:
        raise ValueError(f"need 0 < k < n, got k={k}, n={n}")
    op = scipy.sparse.linalg.LinearOperator((n, n), matvec=lambda v: hvp(np.ravel(v)),
                                            matmat=lambda m: hvp(np.asarray(m)), dtype=np.float64)
    v0 = np.random.default_rng(seed).standard_normal(n)
    ncv = ncv if ncv is not None else min(n, max(2 * k + 1, 20))
    try:
        vals = scipy.sparse.linalg.eigsh(op, k=k, which=which, tol=tol, maxiter=maxiter, ncv=ncv, v0=v0,
                                         return_eigenvectors=False)
    except scipy.sparse.linalg.ArpackNoConvergence as err:   # keep the converged ones, NaN for the rest
        vals = np.concatenate([np.asarray(err.eigenvalues, dtype=np.float64), np.full(k - len(err.eigenvalues), np.nan)])
    return np.sort(vals)


def lanczos_iteration_eigenvalues(hvp: Callable[[np.ndarray], np.ndarray], n: int, lr: float, k: int = 10,
                                  **kwargs) -> IterationEigenvalues:
    """``iteration_eigenvalues`` by Lanczos: the ``k`` extreme eigenvalues of ``I - lr H`` without forming ``H``.

    The count at or below -1 is taken among the ``k`` smallest found (``exact_counts=False``).
    """
    lam_large = extreme_eigenvalues(hvp, n, k, "LA", **kwargs)
    lam_small = extreme_eigenvalues(hvp, n, k, "SA", **kwargs)
    return _from_hessian_eigenvalues(lam_small, lam_large, lr, n, exact=False)


def eigen_callback(net: nn.Module, loss_of_net: LossOfNet, lr: float, k: int = 10, method: str = "dense",
                   **kwargs) -> Callable[[int], dict[str, float]]:
    """A ``training.train`` callback giving ``{"eig_min_0", ..., "eig_max_{k-1}", "n_le_minus1",
    "n_near_minus1"}`` for ``I - lr H`` at the current parameters (before that epoch's update).

    ``method="dense"``: ``loss_hessian`` + ``iteration_eigenvalues`` (exact counts); ``"lanczos"``:
    ``hvp_function`` + ``lanczos_iteration_eigenvalues``. ``kwargs`` go to the chosen path.
    """
    if method not in ("dense", "lanczos"):
        raise ValueError(f"method must be 'dense' or 'lanczos', got {method!r}")

    def cb(epoch: int) -> dict[str, float]:
        if method == "dense":
            res = iteration_eigenvalues(loss_hessian(net, loss_of_net, **kwargs), lr, k)
        else:
            res = lanczos_iteration_eigenvalues(hvp_function(net, loss_of_net), n_trainable(net), lr, k, **kwargs)
        return res.to_metrics()

    return cb
