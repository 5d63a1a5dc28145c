"""Speed of the paper's computations as ratios against this machine's own float32 matrix-multiply rate, in one run.

Cases (network structures of Appendix D; FLOPs counted as in ``_common.step_flops``):

* ``gemm_peak``, ``gemm_layer``: GFLOP/s of ``torch.mm`` on 2048^3 and on (16384 x 128) @ (128 x 128), on the
  device; ``gemm_peak_1t``: 2048^3 on the CPU with one thread (the reference of the synthetic sweep).
* ``sgdl28_step`` (+ ``sgdl28_ms_per_epoch``): one Adam step of SGDL (28) on 16,384 points (the training set of the
  256 x 256 Cameraman); ``mgdl32_grade_step``: one Adam step of grade 2 of MGDL (32) on 16,384 cached frozen
  features; ``sgdl29_denoise_step``: one step of SGDL (29) on the penalised ROF objective (Appendix C) on every
  pixel of a 512 x 512 grid (``--quick``: 256 x 256). Achieved GFLOP/s, ratio to ``gemm_peak``.
* ``synthetic_step_26``, ``synthetic_step_30_grade2`` (+ ``_fused``): microseconds per full-batch GD epoch (lr 0.01) of
  SGDL (26) and of grade 2 of MGDL (30) on the 1,024 points of eq. (5), CPU, one thread, by autograd and by the
  fused epoch of ``training.fused`` (ratio fused / autograd).
* ``synthetic_sweep``: setting 1, SGDL (26) and the grades of MGDL (30) over a learning-rate grid by plain GD, on
  2 CPU processes of one thread each; aggregate GFLOP/s, ratio = value / (2 x ``gemm_peak_1t``).
* ``stacked_*``: the 19 learning rates of the paper profile's Sec. 5 sweep stacked into one model, as
  ``mgdl-campaign --batch`` trains them (fused epoch; CUDA graphs on a GPU), against a stack of one.
* ``graph_*`` (GPU only): SGDL (26) by GD, eager against CUDA graphs (ms per epoch, bitwise equality), and the 14
  learning rates of Sec. 5 as concurrent runs in threads, one CUDA stream each.
* ``hessian_dense_26``: seconds for the dense Hessian of (26) at 1,024 points and all its eigenvalues.
* ``lanczos_28_<N>``, ``lanczos_32_<N>``: seconds for the 10 smallest and 10 largest Hessian eigenvalues by Lanczos
  (``both_ends``, one run, as the book computes them) of SGDL (28) and grade 1 of MGDL (32) at the N training
  pixels of Cameraman (Table 1's split of 256 x 256: 16,384 points; ``--quick``: of 128 x 128, 4,096 points);
  ``lanczos_*_two_runs_<N>``: the same by two runs, one per end (the path before), the reference of the ratio.
* ``denoise_step_allocator_default`` / ``_tuned``: ms per (29) denoising step on the CPU in a subprocess with
  ``MGDL_ALLOCATOR=default`` (glibc defaults) and with the package default (``mgdlcore.allocator``); ratio
  tuned / default.

    python benchmarks/run.py [--quick] [--json FILE] [--device auto|cpu|cuda] [--threads N] [--only CASE ...]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from _common import (adam_step_seconds, denoise_step_seconds, lanczos, matmul_rate, num_threads, step_flops,
                     sync, synthetic_net, time_it, timed)

from mgdlcore.allocator import allocator_state
from mgdlcore.analysis.hessian import OutputLoss, iteration_eigenvalues, loss_hessian
from mgdlcore.data.grid import regression_data
from mgdlcore.data.images import ImageError, load_image
from mgdlcore.device import describe_device, resolve_device
from mgdlcore.experiments.gd_dynamics import subsample
from mgdlcore.models import build_grade, build_network
from mgdlcore.structures import get_structure
from mgdlcore.training.grades import fit_mgdl, fit_network
from mgdlcore.training.batched import StackedMLP, train_gd_batched
from mgdlcore.training.fused import fused_epoch
from mgdlcore.training.loop import TrainConfig, half_mse, train

HERE = Path(__file__).resolve().parent
N_IMAGE = 16_384                 # training points of a 256 x 256 image (every other row and column)
CPU = torch.device("cpu")


@dataclass
class Ctx:
    """What the cases share: device, mode, seconds per measurement, and the rows measured so far."""

    device: torch.device
    quick: bool
    seconds: float
    rows: list[dict] = field(default_factory=list)

    def value(self, case: str) -> float:
        return next(r["value"] for r in self.rows if r["case"] == case)

    def add(self, case: str, value: float, unit: str, reference: str | None = None, scale: float = 1.0) -> None:
        """Record and print a row; ``ratio = value / (scale * value of reference)``."""
        ratio = value / (scale * self.value(reference)) if reference else None
        row = dict(case=case, value=float(value), unit=unit, reference=reference, ratio=ratio)
        self.rows.append(row)
        print(f"{case:<32} {value:>11.4g}  {unit:<36} {reference or '-':<30} "
              f"{'-' if ratio is None else f'{ratio:.3f}'}", flush=True)


# ------------------------------------------------------------------------------------------------ cases
def gemm(ctx: Ctx) -> None:
    """float32 ``torch.mm`` throughput: the references of every ratio."""
    ctx.add("gemm_peak", matmul_rate(2048, 2048, 2048, ctx.device, ctx.seconds) / 1e9, "GFLOP/s, 2048^3")
    ctx.add("gemm_layer", matmul_rate(N_IMAGE, 128, 128, ctx.device, ctx.seconds) / 1e9,
            f"GFLOP/s, ({N_IMAGE}x128)@(128x128)")
    if ctx.device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            ctx.add("gemm_peak_tf32", matmul_rate(2048, 2048, 2048, ctx.device, ctx.seconds) / 1e9,
                    "GFLOP/s, 2048^3, TF32 matmuls", "gemm_peak")
        finally:
            torch.backends.cuda.matmul.allow_tf32 = False
    with num_threads(1):
        ctx.add("gemm_peak_1t", matmul_rate(2048, 2048, 2048, CPU, ctx.seconds) / 1e9, "GFLOP/s, 2048^3, cpu 1 thread")


def sgdl28_step(ctx: Ctx) -> None:
    """One Adam step of SGDL (28) [2] -> [128] x 8 -> [1] on 16,384 points."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(N_IMAGE, 2, generator=g).to(ctx.device), torch.rand(N_IMAGE, 1, generator=g).to(ctx.device)
    s = get_structure("28")
    t = adam_step_seconds(build_network(s).to(ctx.device), x, y, ctx.device, ctx.seconds)
    ctx.add("sgdl28_step", step_flops(s.widths, N_IMAGE) / t / 1e9, f"GFLOP/s, N={N_IMAGE}", "gemm_peak")
    ctx.add("sgdl28_ms_per_epoch", t * 1e3, f"ms/epoch, N={N_IMAGE}")


def mgdl32_grade_step(ctx: Ctx) -> None:
    """One Adam step of grade 2 of MGDL (32), [128]_F -> [128] x 2 -> [1], on cached frozen features."""
    g = torch.Generator().manual_seed(0)
    feats = torch.relu(torch.randn(N_IMAGE, 128, generator=g)).to(ctx.device)
    y = torch.rand(N_IMAGE, 1, generator=g).to(ctx.device)
    s = get_structure("32")
    t = adam_step_seconds(build_grade(s, 2).to(ctx.device), feats, y, ctx.device, ctx.seconds)
    ctx.add("mgdl32_grade_step", step_flops(s.grade_widths(2), N_IMAGE) / t / 1e9, f"GFLOP/s, N={N_IMAGE}",
            "gemm_peak")


def denoise_side(ctx: Ctx) -> int:
    return 256 if ctx.quick else 512


def sgdl29_denoise_step(ctx: Ctx) -> None:
    """One step of SGDL (29) [2] -> [128] x 12 -> [1] on the ROF objective, every pixel of the grid."""
    side = denoise_side(ctx)
    t = denoise_step_seconds(side, ctx.device, ctx.seconds)
    ctx.add("sgdl29_denoise_step", step_flops(get_structure("29").widths, side**2) / t / 1e9,
            f"GFLOP/s, N={side**2} ({side}x{side})", "gemm_peak")


def synthetic_step_26(ctx: Ctx) -> None:
    """One full-batch GD epoch on the 1,024 points of eq. (5), one thread: SGDL (26) [1] -> [32] x 4 -> [1] and grade
    2 of MGDL (30) [32]_F -> [32] -> [1], by autograd and ``torch.optim.SGD`` and by the fused epoch that
    ``training.train`` runs on the CPU (``training.fused``, bitwise the same); ratio = fused / autograd time."""
    net, d = synthetic_net("26")
    grade1 = build_grade(get_structure("30"), 1, seed=0, init="he_normal", relu_prime_at_zero=1)
    with torch.no_grad():
        out, feats = grade1.forward_with_features(d.x_train)
    cases = {"26": (net, d.x_train, d.y_train),
             "30_grade2": (build_grade(get_structure("30"), 2, seed=0, init="he_normal", relu_prime_at_zero=1),
                           feats, d.y_train - out)}
    for name, (model, x, y) in cases.items():
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        cfg = TrainConfig(epochs=1, learning_rate=0.01, optimizer="gd")
        fast, slot = fused_epoch(model, x, y, cfg), torch.empty((), dtype=torch.float64)

        def step(model=model, opt=opt, x=x, y=y):
            opt.zero_grad(set_to_none=True)
            half_mse(y, model(x)).backward()
            opt.step()

        with num_threads(1):
            t = time_it(step, CPU, ctx.seconds, warmup=10)
            tf = time_it(lambda fast=fast, slot=slot: fast(slot), CPU, ctx.seconds, warmup=10)
        ctx.add(f"synthetic_step_{name}", t * 1e6, "us/epoch, N=1024, cpu 1 thread, autograd")
        ctx.add(f"synthetic_step_{name}_fused", tf * 1e6, "us/epoch, N=1024, cpu 1 thread, fused",
                f"synthetic_step_{name}")


def _sweep_init() -> None:
    torch.set_num_threads(1)


def sweep_run(method: str, lr: float, epochs: int) -> tuple[float, float, float]:
    """One GD run of eq. (5), setting 1: SGDL (26), or the four grades of MGDL (30) ([32]_F -> [32] -> [1]) on
    cached features; ``(FLOPs done, start, end)`` (diverged runs count the epochs they ran)."""
    start = time.time()
    cfg = TrainConfig(epochs=epochs, learning_rate=lr, optimizer="gd", eval_every=epochs, progress=False)
    _, d = synthetic_net("26")
    kw = dict(seed=0, init="he_normal", relu_prime_at_zero=1)
    n = d.x_train.shape[0]
    if method == "SGDL":
        s = get_structure("26")
        _, hist = fit_network(s, d.x_train, d.y_train, cfg, **kw)
        flops = hist.epochs_run * step_flops(s.widths, n)
    else:
        s = get_structure("30")
        _, results = fit_mgdl(s, d.x_train, d.y_train, cfg, **kw)
        flops = sum(r.history.epochs_run * step_flops(s.grade_widths(r.grade), n) for r in results)
    return flops, start, time.time()


def synthetic_sweep(ctx: Ctx) -> None:
    """SGDL (26) and MGDL (30) over a learning-rate grid, 2 spawned processes x 1 thread; aggregate GFLOP/s
    from the first run's start to the last run's end (process start-up and imports excluded)."""
    lrs, epochs = ((0.003, 0.03, 0.3), 2_000) if ctx.quick else ((0.001, 0.003, 0.01, 0.03, 0.1, 0.3), 10_000)
    runs = [(m, lr) for lr in lrs for m in ("SGDL", "MGDL")]
    with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"), initializer=_sweep_init) as pool:
        list(pool.map(sweep_run, ["SGDL", "MGDL"], [0.01, 0.01], [20, 20]))            # start both, warm up
        out = list(pool.map(sweep_run, *zip(*runs), [epochs] * len(runs)))
    flops = sum(f for f, _, _ in out)
    wall = max(e for _, _, e in out) - min(s for _, s, _ in out)
    ctx.add("synthetic_sweep", flops / wall / 1e9, f"GFLOP/s, {len(runs)} runs x {epochs} ep, 2 procs",
            "gemm_peak_1t", scale=2.0)


SWEEP_LRS = (0.001, 0.003, 0.005, 0.006, 0.008, 0.01, 0.03, 0.05, 0.08, 0.1, 0.2, 0.3, 0.4, 0.5)


def synthetic_sweep_batched(ctx: Ctx) -> None:
    """Setting 1, SGDL (26) at the 14 learning rates of Sec. 5 on the device: one run after another (``_serial``,
    ms per epoch of the whole sweep) and all 14 stacked into one batched model (``_batched``); ratio = serial /
    batched time (``_speedup``)."""
    epochs = 500 if ctx.quick else 2_000
    _, d = synthetic_net("26")
    x, y = d.x_train.to(ctx.device), d.y_train.to(ctx.device)
    cfg = TrainConfig(epochs=epochs, learning_rate=0.01, optimizer="gd", eval_every=epochs, progress=False)
    s = get_structure("26")
    nets = [build_network(s, seed=0, init="he_normal", relu_prime_at_zero=1).to(ctx.device) for _ in SWEEP_LRS]

    def serial(c=cfg):
        for lr, net in zip(SWEEP_LRS, nets):
            train(lambda net=net: half_mse(y, net(x)), list(net.parameters()), replace(c, learning_rate=lr))

    def batched(c=cfg):
        train_gd_batched(StackedMLP(nets), x, y, SWEEP_LRS, c)

    warm = replace(cfg, epochs=20, eval_every=20)
    for fn in (serial, batched):                                   # warm-up (kernels, allocator)
        fn(warm)
    _, t_serial = timed(lambda: (serial(), sync(ctx.device)), 1)
    _, t_batched = timed(lambda: (batched(), sync(ctx.device)), 1)
    ctx.add("synthetic_sweep_serial", t_serial / epochs * 1e3, f"ms/epoch of 14 runs, {describe_device(ctx.device)}")
    ctx.add("synthetic_sweep_batched", t_batched / epochs * 1e3, "ms/epoch of 14 runs stacked", "synthetic_sweep_serial")
    ctx.add("synthetic_sweep_speedup", t_serial / t_batched, "x, serial time / batched time")


def synthetic_sweep_stacked(ctx: Ctx) -> None:
    """The paper-profile sweep of Sec. 5 as ``mgdl-campaign --batch`` trains it: the 19 learning rates of
    ``gd_dynamics.PROFILE_SETTINGS["paper"]`` stacked into one model (fused epoch, CUDA graphs on a GPU), SGDL (26)
    and grade 2 of MGDL (30) on eq. (5), setting 1. ``stacked_<net>_1`` / ``_19``: ms per epoch of a stack of 1 and
    of 19 members (eval every 1,000 epochs; GPU 2,000 / 5,000 epochs with ``--quick`` / without, CPU 200 / 1,000); ``stacked_<net>_gain``: 19 x the one-member time / the 19-member time
    (runs per unit of time against one run at a time). GPU: ``stacked_26_eager`` (the same 19 members without
    graphs) and ``stacked_graph_equal`` (1: graphed and eager losses and validation losses equal)."""
    from mgdlcore.data.synthetic import synthetic_data
    from mgdlcore.experiments.gd_dynamics import PROFILE_SETTINGS
    from mgdlcore.training import graphs

    lrs = list(PROFILE_SETTINGS["paper"]["synthetic_lrs"])
    gpu = ctx.device.type == "cuda"
    epochs = (2_000 if ctx.quick else 5_000) if gpu else (200 if ctx.quick else 1_000)
    warm = 1_000 if gpu else 20                                     # a GPU's warm-up includes the graph capture
    d = synthetic_data(1, device=ctx.device)
    feats = torch.rand(d.x_train.shape[0], 32, generator=torch.Generator().manual_seed(0)).to(ctx.device)
    nets = {"26": (lambda: build_network(get_structure("26"), seed=0, init="he_normal", relu_prime_at_zero=1),
                   d.x_train, d.x_val),
            "30": (lambda: build_grade(get_structure("30"), 2, seed=0, init="he_normal", relu_prime_at_zero=1),
                   feats, feats[:d.x_val.shape[0]])}

    def sweep(name: str, k: int, n: int):
        make, x, xv = nets[name]
        model = StackedMLP([make().to(ctx.device)] * k)
        cfg = TrainConfig(epochs=n, learning_rate=1.0, optimizer="gd", eval_every=1000, loss_every=1000,
                          progress=False)
        out = train_gd_batched(model, x, d.y_train, lrs[:k], cfg, eval_sets={"val": (xv, d.y_val)})
        sync(ctx.device)
        return out

    for name in nets:
        t = {}
        for k in (1, len(lrs)):
            sweep(name, k, warm)                                      # warm-up: kernels, capture
            _, t[k] = timed(lambda name=name, k=k: sweep(name, k, epochs))
        ctx.add(f"stacked_{name}_1", t[1] / epochs * 1e3, f"ms/epoch, 1 member, {describe_device(ctx.device)}")
        ctx.add(f"stacked_{name}_{len(lrs)}", t[len(lrs)] / epochs * 1e3, f"ms/epoch, {len(lrs)} members stacked",
                f"stacked_{name}_1")
        ctx.add(f"stacked_{name}_gain", len(lrs) * t[1] / t[len(lrs)], "x, runs per unit time against one at a time")
    if ctx.device.type == "cuda":
        os.environ[graphs.ENV] = "0"
        eager, t_eager = timed(lambda: sweep("26", len(lrs), epochs))
        os.environ[graphs.ENV] = "1"
        graphed = sweep("26", len(lrs), epochs)
        same = all(a.loss == b.loss and a.metrics == b.metrics for a, b in zip(eager, graphed))
        ctx.add("stacked_26_eager", t_eager / epochs * 1e3, f"ms/epoch, {len(lrs)} members, eager",
                f"stacked_26_{len(lrs)}")
        ctx.add("stacked_graph_equal", float(same), "1: graphed losses == eager losses")


def synthetic_graphs(ctx: Ctx) -> None:
    """CUDA graphs (``mgdlcore.training.graphs``) for Sec. 5: SGDL (26), setting 1, lr 0.01, GD with eval_every
    1000. ``graph_eager_ms``/``graph_ms``: ms per epoch of one run, eager and replayed, ``graph_speedup`` their
    ratio; ``graph_bitwise``: 1 when the graphed run's losses and parameters equal the eager run's bit for bit;
    ``graph_threads_ms``: ms per epoch of all 14 learning rates of Sec. 5 as 14 runs in threads, one CUDA stream
    each, ratio to one run alone. GPU only."""
    if ctx.device.type != "cuda":
        print("synthetic_graphs: GPU only, skipped", flush=True)
        return
    import threading

    from mgdlcore.training import graphs

    epochs = 2_000 if ctx.quick else 20_000
    _, d = synthetic_net("26")
    x, y = d.x_train.to(ctx.device), d.y_train.to(ctx.device)
    s = get_structure("26")

    def one(lr: float, mode: str, n: int = epochs):
        os.environ[graphs.ENV] = mode
        net = build_network(s, seed=0, init="he_normal", relu_prime_at_zero=1).to(ctx.device)
        cfg = TrainConfig(epochs=n, learning_rate=lr, optimizer="gd", eval_every=1000, progress=False)
        hist = train(lambda: half_mse(y, net(x)), list(net.parameters()), cfg)
        return hist, [p.detach().cpu() for p in net.parameters()]

    one(0.01, "1", 1_000), one(0.01, "0", 200)                      # warm-up: kernels, capture, allocator
    (h_eager, p_eager), t_eager = timed(lambda: one(0.01, "0"))
    (h_graph, p_graph), t_graph = timed(lambda: one(0.01, "1"))
    same = h_eager.loss == h_graph.loss and all(torch.equal(a, b) for a, b in zip(p_eager, p_graph))
    ctx.add("graph_eager_ms", t_eager / epochs * 1e3, f"ms/epoch, eager, {describe_device(ctx.device)}")
    ctx.add("graph_ms", t_graph / epochs * 1e3, "ms/epoch, CUDA graph of 250 epochs", "graph_eager_ms")
    ctx.add("graph_speedup", t_eager / t_graph, "x, eager time / graphed time")
    ctx.add("graph_bitwise", float(same), "1: graphed run == eager run, bit for bit")

    errors = []

    def threaded(lr: float) -> None:
        try:
            with torch.cuda.stream(torch.cuda.Stream(ctx.device)):
                one(lr, "1")
        except Exception as exc:  # reported as a row below
            errors.append(f"{type(exc).__name__}: {exc}")

    def sweep():
        workers = [threading.Thread(target=threaded, args=(lr,)) for lr in SWEEP_LRS]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        sync(ctx.device)

    _, t_threads = timed(sweep)
    ctx.add("graph_threads_ms", t_threads / epochs * 1e3, f"ms/epoch of {len(SWEEP_LRS)} runs in threads",
            "graph_ms")
    ctx.add("graph_thread_errors", float(len(errors)), "runs that raised" + (f": {errors[0]}" if errors else ""))
    os.environ[graphs.ENV] = "1"


def synthetic_graphs_procs(ctx: Ctx) -> None:
    """``graph_procs_ms``: ms per epoch of 8 graphed SGDL (26) runs in 8 processes at once (with the CUDA MPS
    daemon running, their kernels can overlap; without it the GPU time-slices between processes). GPU only."""
    if ctx.device.type != "cuda":
        print("synthetic_graphs_procs: GPU only, skipped", flush=True)
        return
    epochs = 5_000 if ctx.quick else 20_000
    procs = 8
    mps = "MPS on" if os.environ.get("CUDA_MPS_PIPE_DIRECTORY") or Path("/tmp/nvidia-mps").exists() else "no MPS"
    with cf.ProcessPoolExecutor(procs, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(graph_process_run, [0.01] * procs, [500] * procs))            # CUDA set-up in each
        out = list(pool.map(graph_process_run, SWEEP_LRS[:procs], [epochs] * procs))
    wall = max(e for _, e, _ in out) - min(s for s, _, _ in out)
    ctx.add("graph_procs_ms", wall / epochs * 1e3, f"ms/epoch of {procs} runs in processes, {mps}")
    ctx.add("graph_proc_fallbacks", float(sum(f for _, _, f in out)), "processes whose capture failed")


def graph_process_run(lr: float, epochs: int) -> tuple[float, float, int]:
    """One graphed GD run of SGDL (26) in a process of its own: ``(start, end, 1 if the capture failed)``."""
    import warnings

    torch.set_num_threads(1)
    device = torch.device("cuda")
    _, d = synthetic_net("26")
    x, y = d.x_train.to(device), d.y_train.to(device)
    net = build_network(get_structure("26"), seed=0, init="he_normal", relu_prime_at_zero=1).to(device)
    cfg = TrainConfig(epochs=epochs, learning_rate=lr, optimizer="gd", eval_every=1000, progress=False)
    torch.cuda.synchronize()
    start = time.time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(lambda: half_mse(y, net(x)), list(net.parameters()), cfg)
    torch.cuda.synchronize()
    return start, time.time(), int(any("capture failed" in str(w.message) for w in caught))


def hessian_dense_26(ctx: Ctx) -> None:
    """Dense Hessian of the loss of SGDL (26) at the 1,024 points of eq. (5) (closed form, float32) and all its
    eigenvalues (float64, as in the records)."""
    net, d = synthetic_net("26")
    net = net.to(ctx.device)
    y = d.y_train.to(ctx.device)
    loss = OutputLoss(d.x_train.to(ctx.device), lambda o: half_mse(y, o))
    loss_hessian(net, loss)                                                   # warm-up (first torch.func use)
    _, t = timed(lambda: iteration_eigenvalues(loss_hessian(net, loss), 0.08), 2)
    ctx.add("hessian_dense_26", t, "s, 3265 parameters, N=1024")


def cameraman_image(side: int) -> tuple[np.ndarray, str]:
    """Cameraman (256 x 256) subsampled to ``side``; a random image where it cannot be loaded."""
    try:
        return subsample(load_image("cameraman"), side), "Cameraman"
    except (ImageError, OSError) as err:
        print(f"# cameraman not available ({err}); a random image is used", file=sys.stderr)
        return np.random.default_rng(0).random((side, side)), "random image"


def lanczos_cases(ctx: Ctx) -> None:
    """The 10 smallest and 10 largest Hessian eigenvalues by Lanczos at the training pixels of Cameraman (Table 1's
    split): SGDL (28) and grade 1 of MGDL (32), [2] -> [128] x 2 -> [1]; the book's one run for both ends against
    two runs, one per end (the path before it)."""
    img, label = cameraman_image(128 if ctx.quick else 256)
    data = regression_data(img, ctx.device)
    x, y = data.x["train"], data.y["train"]
    n = x.shape[0]
    kw = dict(seed=0, init="he_normal", relu_prime_at_zero=1)
    nets = {"28": build_network(get_structure("28"), **kw), "32": build_grade(get_structure("32"), 1, **kw)}
    for name, net in nets.items():
        r = lanczos(net.to(ctx.device), x, y, two_runs=True)
        ctx.add(f"lanczos_{name}_two_runs_{n}", r["two_runs_s"],
                f"s, N={n} {label} training pixels, {r['two_runs_hvp_calls']} HVPs")
        ctx.add(f"lanczos_{name}_{n}", r["lanczos_s"], f"s, N={n} {label} training pixels, {r['hvp_calls']} HVPs",
                f"lanczos_{name}_two_runs_{n}")


def allocator_child_seconds(side: int, seconds: float, allocator: str | None) -> tuple[float, str]:
    """Seconds per CPU denoising step in a fresh interpreter, ``MGDL_ALLOCATOR`` set to ``allocator`` (None: unset)."""
    env = {k: v for k, v in os.environ.items() if k != "MGDL_ALLOCATOR"}
    env["OMP_NUM_THREADS"] = str(torch.get_num_threads())
    if allocator is not None:
        env["MGDL_ALLOCATOR"] = allocator
    code = (f"import sys, torch; sys.path.insert(0, {str(HERE)!r}); torch.set_num_threads({torch.get_num_threads()}); "
            f"import _common; _common.denoise_child({side}, {seconds})")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=HERE.parent, capture_output=True, text=True,
                         check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return res["seconds"], res["allocator"]


def allocator(ctx: Ctx) -> None:
    """The (29) denoising step on the CPU with glibc's default allocator settings and with ``mgdlcore``'s tuning."""
    side = denoise_side(ctx)
    for case, env in (("denoise_step_allocator_default", "default"), ("denoise_step_allocator_tuned", None)):
        t, state = allocator_child_seconds(side, ctx.seconds, env)
        ctx.add(case, t * 1e3, f"ms/step, N={side**2}, cpu, {state}",
                "denoise_step_allocator_default" if env is None else None)


CASES = (gemm, sgdl28_step, mgdl32_grade_step, sgdl29_denoise_step, synthetic_step_26, synthetic_sweep,
         synthetic_sweep_batched, synthetic_sweep_stacked, synthetic_graphs, synthetic_graphs_procs, hessian_dense_26,
         lanczos_cases, allocator)


# ------------------------------------------------------------------------------------------------ main
def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def header(ctx: Ctx) -> str:
    date = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    machine = f"{platform.platform()}, {cpu_name()} ({os.cpu_count()} cpus)"
    return (f"# {date} | {machine} | torch {torch.__version__} | threads {torch.get_num_threads()} | "
            f"device {describe_device(ctx.device)} | allocator {allocator_state()} | commit {git_commit()} | "
            f"{'quick' if ctx.quick else 'full'}")


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller problems, no full-size Lanczos (< 4 min on 2 cores)")
    p.add_argument("--json", type=Path, help="write the rows as a JSON list to this file")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (synthetic and allocator cases: cpu)")
    p.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's, e.g. $OMP_NUM_THREADS)")
    p.add_argument("--only", action="append", default=[], metavar="CASE", choices=[c.__name__ for c in CASES],
                   help="run only this group of cases (repeatable; gemm always runs, as every ratio's reference)")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    try:
        device = resolve_device(a.device)
    except ValueError as err:
        p.error(str(err))
    ctx = Ctx(device, a.quick, 1.0 if a.quick else 3.0)
    print(header(ctx), flush=True)
    print(f"{'case':<32} {'value':>11}  {'unit':<36} {'reference':<30} ratio", flush=True)
    t0 = time.perf_counter()
    for case in CASES:
        if not a.only or case is gemm or case.__name__ in a.only:
            case(ctx)
    print(f"# {time.perf_counter() - t0:.0f} s", flush=True)
    if a.json:
        a.json.write_text(json.dumps(ctx.rows, indent=1) + "\n")
    return ctx.rows


if __name__ == "__main__":
    main()
