"""Hessian of a training loss in a network's trainable parameters, and the eigenvalues of ``I - eta H`` (Sec. 6).

GD (2) is the iteration ``W^{k+1} = W^k - eta grad F(W^k)``; near ``W^k`` it acts like the linear map
``A = I - eta H_F(W^k)`` (eq. (6)). An eigenvalue of ``A`` at or below -1 is a direction in which GD overshoots
and flips sign every step (Theorem 1: on a quadratic, GD diverges exactly when ``eta > 2 / lambda_max(H)``).

* ``loss_hessian``: the dense Hessian. For a loss given as ``OutputLoss(x, phi)`` (``phi`` of the network's
  outputs at ``x``) on an ``MLP`` with ReLU activations, by the closed form of ``mlp_output_loss_hessian``
  (batched GEMMs, about 10x faster); otherwise by automatic differentiation (``torch.func``: a vmapped
  forward-over-reverse Hessian-vector product over the identity, in chunks). No loops over samples.
* ``hvp_function``: one Hessian-vector product, for ``extreme_eigenvalues`` and ``both_ends`` (Lanczos,
  ``scipy.sparse.linalg.eigsh``), for networks whose dense Hessian does not fit. Eager at first; once the products
  of one network structure have taken ``COMPILE_AFTER_SECONDS`` in a process, through ``torch.compile`` (see
  :class:`HvpCompiler`: checked against the eager product at every use, eager wherever compiling fails).
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

import os
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse.linalg
import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap
from torch.func import jvp as _func_jvp

from ..models import MLP, relu_right

_FORWARD_AD = threading.RLock()   # torch's forward-mode AD levels are process-wide: one thread at a time


def jvp(f, primals, tangents):
    """``torch.func.jvp`` under a lock: runs in threads of one process (``mgdl-campaign --runs-per-worker``) that
    take Hessian-vector products at once otherwise fail ("no forward AD level exists")."""
    with _FORWARD_AD:
        return _func_jvp(f, primals, tangents)

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


class OutputLoss:
    """A loss that depends on the network only through its outputs at fixed inputs: ``phi(model(x))``.

    Callable as a ``loss_of_net``; ``loss_hessian`` recognises it and uses the closed form of
    ``mlp_output_loss_hessian`` when the network allows. ``phi`` maps the (N, 1) output to a scalar and may
    close over state that changes between calls (it is evaluated at the time of the call).
    """

    def __init__(self, x: Tensor, phi: Callable[[Tensor], Tensor]):
        self.x, self.phi = x, phi

    def __call__(self, model: Callable[[Tensor], Tensor]) -> Tensor:
        return self.phi(model(self.x))


def _closed_form_applies(net: nn.Module, loss_of_net) -> bool:
    return (isinstance(loss_of_net, OutputLoss) and isinstance(net, MLP) and net.widths[-1] == 1
            and (net.act is relu_right or net.act is torch.relu)
            and all(p.requires_grad for p in net.parameters()) and loss_of_net.x.ndim == 2)


def mlp_output_loss_hessian(net: MLP, x: Tensor, phi: Callable[[Tensor], Tensor], *,
                            dtype: torch.dtype | None = None) -> Tensor:
    """The exact Hessian of ``phi(net(x))`` in all parameters of a ReLU ``MLP`` with one output, in closed form.

    With outputs ``o_n = net(x_n)``, ``g = d phi / d o`` and ``Q = d^2 phi / d o^2``::

        H = J^T Q J + sum_n g_n d^2 o_n / d theta^2,      J = d o / d theta  (N x P).

    ReLU has second derivative 0 (the derivative on the kink is the network's ``relu_prime_at_zero``, as in
    autograd), so ``o_n`` is affine in each layer's ``(W, b)`` and the second term has zero diagonal blocks.
    For layers ``j < i`` (0-based, layer ``i`` reads ``h_i``, ``h_0 = x``) its block is
    ``sum_n g_n delta_i[n, a] (d h_i / d z_j)[n, q, p] hbar_j[n, r]`` for the weight ``W_i[a, q]`` and the weight
    ``W_j[p, r]`` (``hbar_j = [h_j, 1]``, ``r`` = last for the bias ``b_j[p]``; the bias ``b_i`` has no cross
    term), with ``delta_i = d o / d z_i`` the backpropagated signal. Every sum over samples is one GEMM. Computed in
    ``dtype`` (default: the parameters' dtype); no loops over samples. ``Q J`` is taken by Hessian-vector products
    of ``phi`` (forward-over-reverse, vmapped over the P columns of ``J``): O(N P) memory, never an (N, N) matrix.
    """
    layers = [*net.hidden, net.out]
    dt = dtype if dtype is not None else layers[0].weight.dtype
    Ws = [lay.weight.detach().to(dt) for lay in layers]                            # noqa: N806
    bs = [lay.bias.detach().to(dt) for lay in layers]
    x = x.detach().to(dt)
    n = x.shape[0]
    ones = torch.ones(n, 1, dtype=dt, device=x.device)
    hs, ds = [x], []
    h = x
    for W, b in zip(Ws[:-1], bs[:-1]):                                              # noqa: N806
        z = torch.addmm(b, h, W.T)
        d = (z >= 0 if net.relu_prime_at_zero == 1 else z > 0).to(dt)
        h = z * d
        hs.append(h)
        ds.append(d)
    out = torch.addmm(bs[-1], h, Ws[-1].T)                                          # (N, 1)
    gphi = grad(phi)
    g = gphi(out).reshape(n)

    def q_times(cols: Tensor) -> Tensor:             # Q @ cols by Hessian-vector products of phi: no (N, N) matrix
        def one(c: Tensor) -> Tensor:
            return jvp(gphi, (out,), (c.reshape(out.shape),))[1].reshape(n)

        return vmap(one, in_dims=1, out_dims=1)(cols)

    L = len(Ws)                                                                     # noqa: N806
    deltas = [None] * L
    deltas[-1] = ones
    for i in range(L - 2, -1, -1):
        deltas[i] = ds[i] * (deltas[i + 1] @ Ws[i + 1])
    # J in the flat order: per layer W_i row-major (a, q), then b_i
    Js = [torch.cat([(deltas[i][:, :, None] * hs[i][:, None, :]).reshape(n, -1), deltas[i]], 1)  # noqa: N806
          for i in range(L)]
    QJs = [q_times(Ji) for Ji in Js]                                                # noqa: N806
    sizes = [Ji.shape[1] for Ji in Js]
    offs = [0]
    for s in sizes:
        offs.append(offs[-1] + s)
    H = torch.empty(offs[-1], offs[-1], dtype=dt, device=x.device)                 # noqa: N806
    for i in range(L):
        for j in range(i + 1):                  # lower block triangle; J^T Q J is symmetric
            blk = Js[i].T @ QJs[j]
            H[offs[i]:offs[i + 1], offs[j]:offs[j + 1]] = 0.5 * (blk + blk.T) if i == j else blk
    for j in range(L - 1):
        hbar = torch.cat([hs[j], ones], 1)                                          # (N, n_in_j + 1)
        nj_out, nj_in = Ws[j].shape
        M = None                                                                    # noqa: N806  d h_i / d z_j
        for i in range(j + 1, L):
            A = g[:, None] * deltas[i]                                              # noqa: N806  (N, n_out_i)
            ni_out, ni_in = Ws[i].shape
            if i == j + 1:                   # d h_i / d z_j = diag(d_j): S[a, q, p, r] = [q = p] T[a, q, r]
                T = A.T @ (ds[j][:, :, None] * hbar[:, None, :]).reshape(n, -1)     # noqa: N806
                T = T.reshape(ni_out, nj_out, nj_in + 1)                            # noqa: N806
                eye = torch.eye(nj_out, dtype=dt, device=x.device)
                S = T[:, :, None, :] * eye[None, :, :, None]                        # noqa: N806
            else:
                M = (ds[i - 1][:, :, None] * (Ws[i - 1] * ds[j][:, None, :]) if M is None   # noqa: N806
                     else ds[i - 1][:, :, None] * torch.matmul(Ws[i - 1], M))
                if ni_out <= hbar.shape[1]:  # GEMM over samples: (A x M)^T hbar
                    S = (A[:, :, None, None] * M[:, None, :, :]).reshape(n, -1).T @ hbar  # noqa: N806
                else:                        # A^T (M x hbar)
                    S = A.T @ (M[:, :, :, None] * hbar[:, None, None, :]).reshape(n, -1)  # noqa: N806
            S = S.reshape(ni_out * ni_in, nj_out, nj_in + 1)                        # noqa: N806 rows W_i[a, q]
            block = torch.cat([S[:, :, :-1].reshape(ni_out * ni_in, -1), S[:, :, -1]], 1)
            H[offs[i]:offs[i] + ni_out * ni_in, offs[j]:offs[j + 1]] += block
    for i in range(L):                          # mirror the lower block triangle
        for j in range(i):
            H[offs[j]:offs[j + 1], offs[i]:offs[i + 1]] = H[offs[i]:offs[i + 1], offs[j]:offs[j + 1]].T
    return H


def loss_hessian(net: nn.Module, loss_of_net: LossOfNet, *, chunk_size: int | None = 512,
                 dtype: torch.dtype | None = None, closed_form: bool = True) -> Tensor:
    """The dense Hessian ``d^2 loss / d theta^2`` (P x P, symmetrised) at the current parameters.

    If ``loss_of_net`` is an ``OutputLoss`` and ``net`` an ``MLP`` with ReLU activations, one output and all
    parameters trainable (and ``closed_form``), the closed form ``mlp_output_loss_hessian`` is used. Otherwise
    computed as ``vmap`` of the forward-over-reverse Hessian-vector product over the columns of the identity,
    ``chunk_size`` columns at a time (bounds the memory at about ``chunk_size`` x the activations).
    ``dtype`` (e.g. ``torch.float64``) evaluates in that precision on a copy of the parameters; the data
    closed over by ``loss_of_net`` stay in their dtype unless the loss casts them.
    """
    if closed_form and _closed_form_applies(net, loss_of_net):
        return mlp_output_loss_hessian(net, loss_of_net.x, loss_of_net.phi, dtype=dtype)
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


COMPILE_ENV = "MGDL_COMPILE_HVP"   # auto (default) | always | never
COMPILE_MODES = ("auto", "always", "never")
COMPILE_AFTER_SECONDS = 30.0        # eager seconds of one structure's products before compiling (about a compile)
COMPILE_TOLERANCE = 1e-5            # largest |compiled - eager| / |eager| accepted at a check
RECOMPILE_LIMIT = 64                # graphs dynamo keeps per code object (one per structure; torch's default is 8)


def compile_mode() -> str:
    """The Hessian-vector product's compile mode from ``MGDL_COMPILE_HVP``: ``auto`` (the default; compile a
    structure once its eager products have taken ``COMPILE_AFTER_SECONDS``), ``always`` or ``never``."""
    mode = os.environ.get(COMPILE_ENV, "auto").strip().lower() or "auto"
    if mode not in COMPILE_MODES:
        raise ValueError(f"{COMPILE_ENV}={mode!r} is not a compile mode; accepted: {', '.join(COMPILE_MODES)}")
    return mode


class HvpCompiler:
    """When ``hvp_function`` switches a network structure's Hessian-vector products to ``torch.compile``.

    On the CPU an eager product of a small network is thousands of dispatched operations (the deep B-spline MSDL of
    Sec. 7: 206 ms; compiled 8.3 ms, ``benchmarks/compiled_steps.py``), but compiling costs 10-50 s per structure,
    more than a short run spends on products. So a structure (network class, parameter shapes, input shape, dtype,
    device) is compiled once its eager products have taken about what a compile costs (``COMPILE_AFTER_SECONDS``:
    at most twice the best time in hindsight); ``MGDL_COMPILE_HVP=always`` compiles at once, ``never`` stays eager.

    The compiled product is the same function of the same tensors (``torch.func.jvp`` of ``torch.func.grad``); it
    differs from the eager one by float rounding (2e-7 relative on Sec. 7's networks). Each ``hvp_function`` checks
    its first compiled product against the eager one and stays eager above ``COMPILE_TOLERANCE``. A structure whose
    compile fails (inductor needs a C++ compiler on the CPU) stays eager for the process, with one warning.
    Training never goes through here: loss curves do not depend on this choice.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.spent: dict[tuple, float] = {}
        self.refused: dict[tuple, str] = {}
        self.compiled: set[tuple] = set()
        self.unavailable: str | None = None     # why compiling fails in this process (then nothing is compiled)
        self._counts = threading.local()        # products of this thread: a run's provenance says how many compiled

    def counts(self) -> dict[str, int]:
        """``{"compiled": n, "eager": m}``: the vector products taken so far in this thread."""
        c = self._counts
        return {"compiled": getattr(c, "compiled", 0), "eager": getattr(c, "eager", 0)}

    def count(self, compiled: bool) -> None:
        name = "compiled" if compiled else "eager"
        setattr(self._counts, name, getattr(self._counts, name, 0) + 1)

    def due(self, key: tuple, mode: str) -> bool:
        if mode == "never" or self.unavailable is not None or key in self.refused:
            return False
        return mode == "always" or key in self.compiled or self.spent.get(key, 0.0) >= COMPILE_AFTER_SECONDS

    def spend(self, key: tuple, seconds: float) -> None:
        with self._lock:
            self.spent[key] = self.spent.get(key, 0.0) + seconds

    def refuse(self, key: tuple, why: str) -> None:
        with self._lock:
            first = key not in self.refused
            self.refused[key] = why
        if first:
            warnings.warn(f"Hessian-vector products stay eager for this network: {why}", RuntimeWarning, stacklevel=3)

    def compile(self, key: tuple, one: Callable, theta: Tensor, v: Tensor):
        """``torch.compile(one)`` when its product at ``(theta, v)`` matches the eager one, else None (refused)."""
        import torch._dynamo

        try:
            torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT)
            compiled = torch.compile(one, dynamic=False)
            with _FORWARD_AD:
                got, ref = compiled(theta, v), one(theta, v)
        except Exception as exc:  # no C++ compiler, an unsupported operation: eager is always right
            why = f"torch.compile failed ({type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]})"
            self.unavailable = why
            self.refuse(key, why)
            return None
        diff = float((got - ref).norm() / ref.norm().clamp_min(torch.finfo(ref.dtype).tiny))
        if not diff <= COMPILE_TOLERANCE:
            self.refuse(key, f"the compiled product differs from the eager one by {diff:.1e} (relative), above "
                             f"{COMPILE_TOLERANCE:g}")
            return None
        with self._lock:
            self.compiled.add(key)
        return compiled


HVP_COMPILER = HvpCompiler()


def _structure(net: nn.Module, loss_of_net, theta: Tensor) -> tuple:
    """What one compiled product serves: the network's class and parameter shapes, the loss's inputs, dtype, device."""
    shapes = tuple((n, tuple(p.shape)) for n, p in trainable(net))
    x = getattr(loss_of_net, "x", None)
    acts = sorted({getattr(m.act, "__qualname__", type(m.act).__qualname__) for m in net.modules() if hasattr(m, "act")})
    return (type(net).__qualname__, tuple(acts), shapes,
            type(loss_of_net).__qualname__, tuple(x.shape) if isinstance(x, Tensor) else None, theta.dtype,
            str(theta.device))


def hvp_function(net: nn.Module, loss_of_net: LossOfNet) -> Callable[[np.ndarray], np.ndarray]:
    """``v -> H v`` at the current parameters, on numpy vectors (what ``extreme_eigenvalues`` needs).

    Computed in the parameters' dtype on their device; the input may be a vector or an (P, m) block. A vector's
    product is compiled when ``HVP_COMPILER`` says so (``MGDL_COMPILE_HVP``); a block's is always eager.
    """
    mode = compile_mode()
    f = flat_loss(net, loss_of_net)
    theta = flat_parameters(net)
    g = grad(f)

    def one(th: Tensor, v: Tensor) -> Tensor:
        return _func_jvp(g, (th,), (v,))[1]

    many = vmap(lambda v: jvp(g, (theta,), (v,))[1])
    key = _structure(net, loss_of_net, theta)
    compiled = []                                   # [] not yet tried, [None] refused, [fn] in use

    def product(t: Tensor) -> Tensor:
        if not compiled and HVP_COMPILER.due(key, mode):
            compiled.append(HVP_COMPILER.compile(key, one, theta, t))
        if compiled and compiled[0] is not None:
            HVP_COMPILER.count(True)
            with _FORWARD_AD:
                return compiled[0](theta, t)
        start = time.perf_counter()
        with _FORWARD_AD:
            out = one(theta, t)
        HVP_COMPILER.spend(key, time.perf_counter() - start)
        HVP_COMPILER.count(False)
        return out

    def hvp(v: np.ndarray) -> np.ndarray:
        t = torch.as_tensor(np.asarray(v), dtype=theta.dtype, device=theta.device)
        if t.ndim == 1:
            out = product(t)
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


def iteration_eigenvalues(H: Tensor | np.ndarray, lr: float, k: int = 10, *,
                          dtype: torch.dtype = torch.float64) -> IterationEigenvalues:
    """The ``k`` smallest and largest eigenvalues of ``I - lr * H`` and the exact count at or below -1.

    All eigenvalues of the symmetric ``H`` are computed (LAPACK ``syevd`` via ``torch.linalg.eigvalsh``) in
    ``dtype``: counts of repeated eigenvalues are exact here, unlike on the Lanczos path. float64 (the default,
    used for every record) is safe for counts; float32 is about twice as fast, with eigenvalue errors of order
    ``n * eps32 * ||H||`` (measured 2e-5 on (26), i.e. 1e-6 in ``I - lr H``), so a count can differ only for an
    eigenvalue that close to -1. A non-finite ``H`` gives NaNs and counts of -1.
    """
    h = H.detach().cpu() if isinstance(H, Tensor) else torch.from_numpy(np.asarray(H))
    h = h.to(dtype)
    n = h.shape[0]
    if h.ndim != 2 or h.shape[1] != n:
        raise ValueError(f"H must be square, got shape {tuple(h.shape)}")
    k = min(k, n)
    if not bool(torch.isfinite(h).all()):
        nan = tuple([float("nan")] * k)
        return IterationEigenvalues(nan, nan, -1, -1, n)
    lam = torch.linalg.eigvalsh(h).double().numpy()
    a = 1.0 - lr * lam                      # ascending lam -> descending a
    return IterationEigenvalues(
        smallest=tuple(float(v) for v in a[::-1][:k]), largest=tuple(float(v) for v in a[:k]),
        n_le_minus1=int(np.sum(a <= -1.0)), n_near_minus1=int(np.sum(a <= -0.95)), n=n)


def _eigsh(hvp: Callable[[np.ndarray], np.ndarray], n: int, k: int, which: str, *, tol: float,
           maxiter: int | None, ncv: int, seed: int) -> np.ndarray:
    """``scipy.sparse.linalg.eigsh`` of the operator ``v -> hvp(v)`` from a seeded start vector (eigenvalues only)."""
    op = scipy.sparse.linalg.LinearOperator((n, n), matvec=lambda v: hvp(np.ravel(v)),
                                            matmat=lambda m: hvp(np.asarray(m)), dtype=np.float64)
    v0 = np.random.default_rng(seed).standard_normal(n)
    return scipy.sparse.linalg.eigsh(op, k=k, which=which, tol=tol, maxiter=maxiter, ncv=ncv, v0=v0,
                                     return_eigenvectors=False)


def extreme_eigenvalues(hvp: Callable[[np.ndarray], np.ndarray], n: int, k: int, which: str = "LA", *,
                        tol: float = 1e-6, maxiter: int | None = None, ncv: int | None = None,
                        seed: int = 0) -> np.ndarray:
    """The ``k`` algebraically largest (``which="LA"``) or smallest (``"SA"``) eigenvalues of the symmetric
    operator ``v -> hvp(v)`` of size ``n``, by implicitly restarted Lanczos (``scipy.sparse.linalg.eigsh``).

    Returned in ascending order; NaN where ARPACK did not converge or failed. Lanczos finds one copy of a cluster of repeated eigenvalues, so use the
    dense path (``iteration_eigenvalues``) where multiplicities matter.
    """
    if which not in ("LA", "SA"):
        raise ValueError(f"which must be 'LA' or 'SA', got {which!r}")
    if not 0 < k < n:
        raise ValueError(f"need 0 < k < n, got k={k}, n={n}")
    ncv = ncv if ncv is not None else min(n, max(2 * k + 1, 20))
    try:
        vals = _eigsh(hvp, n, k, which, tol=tol, maxiter=maxiter, ncv=ncv, seed=seed)
    except scipy.sparse.linalg.ArpackNoConvergence as err:   # keep the converged ones, NaN for the rest
        vals = np.concatenate([np.asarray(err.eigenvalues, dtype=np.float64), np.full(k - len(err.eigenvalues), np.nan)])
    except scipy.sparse.linalg.ArpackError:                 # e.g. a Krylov breakdown on a low-rank Hessian
        vals = np.full(k, np.nan)
    return np.sort(vals)


def both_ends(hvp: Callable[[np.ndarray], np.ndarray], n: int, k: int, *, tol: float = 1e-6,
              maxiter: int | None = None, ncv: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` smallest and the ``k`` largest eigenvalues of the symmetric operator ``v -> hvp(v)`` (each ascending),
    from one Lanczos run (``eigsh(which="BE")``, ``2k`` eigenvalues, half from each end).

    One Krylov space serves both ends: measured on the Table-1 networks at 1,024 points, 69 Hessian-vector products
    instead of 73 + 80 for two runs ("LA", then "SA") on SGDL (28), and 401 instead of 270 + 781 on grade 1 of MGDL
    (32), with the same eigenvalues to 1e-8. Where ARPACK does not converge, falls back to two runs of
    :func:`extreme_eigenvalues` (which keep the converged values and give NaN for the others).
    """
    if not 0 < 2 * k < n:
        raise ValueError(f"need 0 < 2k < n, got k={k}, n={n}")
    ncv = ncv if ncv is not None else min(n, max(4 * k + 1, 40))
    try:
        vals = np.sort(_eigsh(hvp, n, 2 * k, "BE", tol=tol, maxiter=maxiter, ncv=ncv, seed=seed))
        return vals[:k], vals[k:]
    except (scipy.sparse.linalg.ArpackNoConvergence, scipy.sparse.linalg.ArpackError):
        kw = dict(tol=tol, maxiter=maxiter, seed=seed)
        return extreme_eigenvalues(hvp, n, k, "SA", **kw), extreme_eigenvalues(hvp, n, k, "LA", **kw)


def lanczos_iteration_eigenvalues(hvp: Callable[[np.ndarray], np.ndarray], n: int, lr: float, k: int = 10,
                                  **kwargs) -> IterationEigenvalues:
    """``iteration_eigenvalues`` by Lanczos: the ``k`` extreme eigenvalues of ``I - lr H`` without forming ``H``
    (:func:`both_ends`: one Lanczos run for both ends of the spectrum of ``H``).

    The count at or below -1 is taken among the ``k`` smallest found (``exact_counts=False``).
    """
    lam_small, lam_large = both_ends(hvp, n, k, **kwargs)
    return _from_hessian_eigenvalues(lam_small, lam_large, lr, n, exact=False)


def eigen_callback(net: nn.Module, loss_of_net: LossOfNet, lr: float, k: int = 10, method: str = "dense", *,
                   preconditioner: Callable[[], Tensor | None] | None = None,
                   **kwargs) -> Callable[[int], dict[str, float]]:
    """A ``training.train`` callback giving ``{"eig_min_0", ..., "eig_max_{k-1}", "n_le_minus1",
    "n_near_minus1"}`` for ``I - lr H`` at the current parameters (before that epoch's update).

    ``method="dense"`` (exact counts) or ``"lanczos"``; ``kwargs`` go to the chosen path. The evaluation is
    ``analysis.spectra.spectrum`` (the one implementation); :class:`~mgdlcore.analysis.spectra.EigenTracker` records the same
    values as a ``Track`` instead of ``History.metrics``.

    ``preconditioner``: a function returning the diagonal ``P`` of the iteration matrix ``I - lr P H`` at the time
    of the call (e.g. Adam's, :func:`~mgdlcore.analysis.preconditioned.adam_preconditioner`), or None when it is not
    defined yet; the callback then returns ``{}`` (no eigenvalues at that epoch).
    """
    from .spectra import spectrum     # spectra builds on this module

    if method not in ("dense", "lanczos"):
        raise ValueError(f"method must be 'dense' or 'lanczos', got {method!r}")

    def cb(epoch: int) -> dict[str, float]:
        p = preconditioner() if preconditioner is not None else None
        if preconditioner is not None and p is None:
            return {}
        return spectrum(net, loss_of_net, lr, k, method, preconditioner=p, **kwargs).to_metrics()

    return cb
