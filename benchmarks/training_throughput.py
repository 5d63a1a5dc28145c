"""Epochs per second of full-batch training, and how close a step runs to this machine's matmul throughput.

Measures, on one device:
  * SGDL (28), [2] -> [128] x 8 -> [1], one Adam step on N training points (default 65,536 = the training set of a
    512 x 512 image);
  * one MGDL grade of (32) (grade 2: [128]_F -> [128] x 2 -> [1]) on the cached frozen features of N points;
  * float32 matrix-multiply throughput, in the same run: square 2048 x 2048 products and the layer-shaped
    product (N x 128) @ (128 x 128).
The FLOPs of a step are counted as 2 * N * sum(fan_in * fan_out) for the forward pass and twice that for the
backward pass (weight and input gradients; the first layer needs no input gradient), so a step is ~3 forward
passes of matmul work; element-wise work (ReLU, Adam) is not counted.

    python benchmarks/training_throughput.py [--points 65536] [--device auto] [--seconds 5]
"""

from __future__ import annotations

import argparse
import time

import torch

from mgdlcore.device import describe_device, resolve_device
from mgdlcore.models import build_grade, build_network
from mgdlcore.structures import get_structure
from mgdlcore.training.loop import half_mse


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_it(fn, device, seconds: float) -> float:
    """Median-free simple timer: warm up, then repeat until ``seconds`` have passed; seconds per call."""
    for _ in range(3):
        fn()
    sync(device)
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        if n % 5 == 0:
            sync(device)
            if time.perf_counter() - t0 > seconds:
                break
    sync(device)
    return (time.perf_counter() - t0) / n


def step_flops(widths, n) -> float:
    layers = list(zip(widths[:-1], widths[1:]))
    fwd = sum(2 * n * a * b for a, b in layers)
    bwd_w = fwd
    bwd_x = sum(2 * n * a * b for a, b in layers[1:])
    return fwd + bwd_w + bwd_x


def bench_step(net, x, y, device, seconds):
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = half_mse(y, net(x))
        loss.backward()
        opt.step()

    return time_it(step, device, seconds)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--points", type=int, default=65_536)
    p.add_argument("--device", default="auto")
    p.add_argument("--seconds", type=float, default=5.0, help="time spent on each measurement")
    a = p.parse_args(argv)
    dev = resolve_device(a.device)
    n = a.points
    print(f"device: {describe_device(dev)}  torch {torch.__version__}  threads {torch.get_num_threads()}  N = {n}")

    g = torch.Generator().manual_seed(0)
    sq = torch.randn(2048, 2048, generator=g).to(dev)
    t_sq = time_it(lambda: sq @ sq, dev, a.seconds)
    peak_sq = 2 * 2048**3 / t_sq
    act = torch.randn(n, 128, generator=g).to(dev)
    w = torch.randn(128, 128, generator=g).to(dev)
    t_layer = time_it(lambda: act @ w, dev, a.seconds)
    peak_layer = 2 * n * 128 * 128 / t_layer
    print(f"matmul float32: 2048^3 {peak_sq / 1e9:8.1f} GFLOP/s | ({n}x128)@(128x128) {peak_layer / 1e9:8.1f} GFLOP/s")

    x = torch.rand(n, 2, generator=g).to(dev)
    y = torch.rand(n, 1, generator=g).to(dev)
    sgdl = build_network(get_structure("28")).to(dev)
    t = bench_step(sgdl, x, y, dev, a.seconds)
    f = step_flops(get_structure("28").widths, n)
    print(f"SGDL (28)        : {1 / t:8.2f} epochs/s  {t * 1e3:8.2f} ms/epoch  {f / t / 1e9:8.1f} GFLOP/s  "
          f"= {f / t / peak_sq:5.1%} of square-matmul, {f / t / peak_layer:5.1%} of layer-matmul throughput")

    s32 = get_structure("32")
    grade = build_grade(s32, 2).to(dev)
    feats = torch.relu(torch.randn(n, 128, generator=g)).to(dev)
    t = bench_step(grade, feats, y, dev, a.seconds)
    f = step_flops(s32.grade_widths(2), n)
    print(f"MGDL (32) grade 2: {1 / t:8.2f} epochs/s  {t * 1e3:8.2f} ms/epoch  {f / t / 1e9:8.1f} GFLOP/s  "
          f"= {f / t / peak_sq:5.1%} of square-matmul, {f / t / peak_layer:5.1%} of layer-matmul throughput")


if __name__ == "__main__":
    main()
