"""Helpers shared by the benchmark scripts: timers, FLOP counts and the measured steps.

Structures are the paper's (Appendix D): SGDL (26) [1] -> [32] x 4 -> [1] on eq. (5), SGDL (28) [2] -> [128] x 8
-> [1] and MGDL (32) (grades of two [128] layers) on images, SGDL (29) [2] -> [128] x 12 -> [1] for denoising.
FLOPs of a training step: 2 * N * sum(fan_in * fan_out) for the forward pass and twice that for the backward pass
(weight and input gradients; the first layer needs no input gradient); element-wise work is not counted.
"""

from __future__ import annotations

import contextlib
import json
import platform
import time

import numpy as np
import torch

from mgdlcore.analysis.hessian import OutputLoss, both_ends, extreme_eigenvalues, hvp_function, n_trainable
from mgdlcore.data.grid import pixel_grid
from mgdlcore.data.synthetic import synthetic_data
from mgdlcore.models import build_network
from mgdlcore.paper.values import SEC4_ROF_ALPHA, SEC4_ROF_BETA, SEC4_ROF_LAMBDA
from mgdlcore.physics.operators import ForwardDifference, Identity
from mgdlcore.structures import get_structure
from mgdlcore.training.objectives import prox_step, rof_objective
from mgdlcore.training.loop import half_mse


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_it(fn, device: torch.device, seconds: float, warmup: int = 2) -> float:
    """Seconds per call of ``fn``: ``warmup`` calls, then batches of doubling size until ``seconds`` have passed."""
    for _ in range(warmup):
        fn()
    sync(device)
    n, batch, t0 = 0, 1, time.perf_counter()
    while True:
        for _ in range(batch):
            fn()
        n += batch
        sync(device)
        elapsed = time.perf_counter() - t0
        if elapsed > seconds:
            return elapsed / n
        batch = min(2 * batch, 64)


def timed(fn, repeat: int = 1):
    """``(result, best seconds)`` of ``repeat`` calls of ``fn``."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return out, best


@contextlib.contextmanager
def num_threads(n: int):
    """Run the block with ``torch.set_num_threads(n)``."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def emit(**kw) -> None:
    """One JSON line with the torch version, thread count and machine added."""
    kw.update(torch=torch.__version__, threads=torch.get_num_threads(), machine=platform.processor() or platform.machine())
    print(json.dumps(kw), flush=True)


def step_flops(widths, n: int) -> float:
    """FLOPs of one training step (forward + backward) of an MLP with ``widths`` on ``n`` points."""
    layers = list(zip(widths[:-1], widths[1:]))
    fwd = sum(2 * n * a * b for a, b in layers)
    bwd_x = sum(2 * n * a * b for a, b in layers[1:])
    return 2 * fwd + bwd_x


def matmul_rate(m: int, k: int, n: int, device: torch.device, seconds: float) -> float:
    """float32 FLOP/s of ``(m x k) @ (k x n)`` with ``torch.mm``."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(m, k, generator=g).to(device)
    b = torch.randn(k, n, generator=g).to(device)
    return 2 * m * k * n / time_it(lambda: torch.mm(a, b), device, seconds)


def adam_step_seconds(net: torch.nn.Module, x, y, device: torch.device, seconds: float, warmup: int = 2) -> float:
    """Seconds per full-batch Adam step of ``net`` on the loss (1) at ``(x, y)``."""
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        half_mse(y, net(x)).backward()
        opt.step()

    return time_it(step, device, seconds, warmup)


def denoise_step_seconds(side: int, device: torch.device, seconds: float, warmup: int = 1) -> float:
    """Seconds per step of SGDL (29) denoising a ``side`` x ``side`` image (Appendix C): one network forward on
    every pixel, the prox step (20) for ``u``, one Adam step on the penalised ROF objective (21)."""
    g = torch.Generator().manual_seed(0)
    x = torch.as_tensor(pixel_grid((side, side)).reshape(-1, 2), dtype=torch.float32, device=device)
    f_obs = torch.rand(side, side, generator=g).to(device)
    net = build_network(get_structure("29")).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    A, B = Identity(), ForwardDifference()  # noqa: N806
    state = {"u": torch.zeros(2 * side, side, device=device)}

    def step():
        opt.zero_grad(set_to_none=True)
        img = net(x).reshape(side, side)
        bn = B.A(img)
        with torch.no_grad():
            state["u"] = prox_step(state["u"], bn, alpha=SEC4_ROF_ALPHA, beta=SEC4_ROF_BETA, lam=SEC4_ROF_LAMBDA)
        rof_objective(img, state["u"], f_obs, A, B, beta=SEC4_ROF_BETA, lam=SEC4_ROF_LAMBDA, bn=bn).backward()
        opt.step()

    return time_it(step, device, seconds, warmup)


def synthetic_net(structure: str = "26"):
    """SGDL (26) and the training data of eq. (5), setting 1, initialised as in the authors' synthetic code."""
    return build_network(get_structure(structure), seed=0, init="he_normal", relu_prime_at_zero=1), synthetic_data(1)


def lanczos(net: torch.nn.Module, x, y, k: int = 10, tol: float = 1e-5, solve: bool = True,
            two_runs: bool = False) -> dict:
    """The ``k`` smallest and ``k`` largest eigenvalues of the Hessian of the loss (1) of ``net`` at ``(x, y)`` by
    Lanczos on Hessian-vector products: seconds per product and (``solve``) for the book's one-run path
    (``both_ends``, what ``lanczos_iteration_eigenvalues`` calls) and (``two_runs``) for two runs of
    ``extreme_eigenvalues`` ("LA", then "SA"), the path before it."""
    hvp = hvp_function(net, OutputLoss(x, lambda o: half_mse(y, o)))
    n = n_trainable(net)
    v = np.random.default_rng(1).standard_normal(n)
    _, t_hvp = timed(lambda: hvp(v), 3)
    out = dict(points=int(x.shape[0]), parameters=n, hvp_s=t_hvp)
    if not solve:
        return out
    calls = [0]

    def counted(u):
        calls[0] += 1 if np.ndim(u) == 1 else np.shape(u)[1]
        return hvp(u)

    (small, large), t = timed(lambda: both_ends(counted, n, k, tol=tol))
    out.update(lanczos_s=t, hvp_calls=calls[0], lambda_max=float(large[-1]), lambda_min=float(small[0]))
    if two_runs:
        calls[0] = 0
        _, t2 = timed(lambda: (extreme_eigenvalues(counted, n, k, "LA", tol=tol),
                               extreme_eigenvalues(counted, n, k, "SA", tol=tol)))
        out.update(two_runs_s=t2, two_runs_hvp_calls=calls[0])
    return out


def denoise_child(side: int, seconds: float) -> None:
    """Entry point of the allocator subprocesses: one JSON line with the seconds per SGDL (29) denoising step on
    the CPU and the allocator state that ``mgdlcore`` set at import (``MGDL_ALLOCATOR``)."""
    from mgdlcore.allocator import allocator_state

    t = denoise_step_seconds(side, torch.device("cpu"), seconds)
    print(json.dumps({"seconds": t, "allocator": allocator_state(), "threads": torch.get_num_threads()}), flush=True)
