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

import torch
from _common import adam_step_seconds, matmul_rate, step_flops

from mgdlcore.device import describe_device, resolve_device
from mgdlcore.models import build_grade, build_network
from mgdlcore.structures import get_structure


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--points", type=int, default=65_536)
    p.add_argument("--device", default="auto")
    p.add_argument("--seconds", type=float, default=5.0, help="time spent on each measurement")
    a = p.parse_args(argv)
    dev = resolve_device(a.device)
    n = a.points
    print(f"device: {describe_device(dev)}  torch {torch.__version__}  threads {torch.get_num_threads()}  N = {n}")

    peak_sq = matmul_rate(2048, 2048, 2048, dev, a.seconds)
    peak_layer = matmul_rate(n, 128, 128, dev, a.seconds)
    g = torch.Generator().manual_seed(0)
    print(f"matmul float32: 2048^3 {peak_sq / 1e9:8.1f} GFLOP/s | ({n}x128)@(128x128) {peak_layer / 1e9:8.1f} GFLOP/s")

    x = torch.rand(n, 2, generator=g).to(dev)
    y = torch.rand(n, 1, generator=g).to(dev)
    sgdl = build_network(get_structure("28")).to(dev)
    t = adam_step_seconds(sgdl, x, y, dev, a.seconds)
    f = step_flops(get_structure("28").widths, n)
    print(f"SGDL (28)        : {1 / t:8.2f} epochs/s  {t * 1e3:8.2f} ms/epoch  {f / t / 1e9:8.1f} GFLOP/s  "
          f"= {f / t / peak_sq:5.1%} of square-matmul, {f / t / peak_layer:5.1%} of layer-matmul throughput")

    s32 = get_structure("32")
    grade = build_grade(s32, 2).to(dev)
    feats = torch.relu(torch.randn(n, 128, generator=g)).to(dev)
    t = adam_step_seconds(grade, feats, y, dev, a.seconds)
    f = step_flops(s32.grade_widths(2), n)
    print(f"MGDL (32) grade 2: {1 / t:8.2f} epochs/s  {t * 1e3:8.2f} ms/epoch  {f / t / 1e9:8.1f} GFLOP/s  "
          f"= {f / t / peak_sq:5.1%} of square-matmul, {f / t / peak_layer:5.1%} of layer-matmul throughput")


if __name__ == "__main__":
    main()
